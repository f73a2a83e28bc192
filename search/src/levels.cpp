#include "levels.h"

#include <algorithm>
#include <cmath>

namespace effitune::search {
namespace {

double as_double(const Value& v) {
  if (const auto* i = std::get_if<int64_t>(&v)) return static_cast<double>(*i);
  return std::get<double>(v);
}

}  // namespace

std::vector<Value> levels(const Dimension& dim, int resolution) {
  std::vector<Value> out;
  if (dim.kind == DimensionKind::kCategorical) {
    for (const auto& c : dim.choices) out.emplace_back(c);
    return out;
  }
  const bool is_int = dim.kind == DimensionKind::kInteger;
  const double lo = is_int ? static_cast<double>(dim.int_lo) : dim.float_lo;
  const double hi = is_int ? static_cast<double>(dim.int_hi) : dim.float_hi;
  if (is_int && *dim.count() <= static_cast<uint64_t>(resolution)) {
    for (int64_t v = dim.int_lo; v <= dim.int_hi; v += dim.step) out.emplace_back(v);
    return out;
  }
  if (lo == hi) {
    if (is_int) out.emplace_back(dim.int_lo);
    else out.emplace_back(lo);
    return out;
  }
  for (int k = 0; k < resolution; ++k) {
    const double t = resolution == 1 ? 0.5 : static_cast<double>(k) / (resolution - 1);
    double x = dim.log ? std::exp(std::log(lo) + t * (std::log(hi) - std::log(lo))) : lo + t * (hi - lo);
    x = std::clamp(x, lo, hi);
    if (is_int) {
      const int64_t j = std::llround((x - lo) / static_cast<double>(dim.step));
      const int64_t v = std::clamp(dim.int_lo + j * dim.step, dim.int_lo, dim.int_hi);
      if (out.empty() || std::get<int64_t>(out.back()) != v) out.emplace_back(v);
    } else {
      if (k == 0) x = lo;
      if (k == resolution - 1 && resolution > 1) x = hi;
      out.emplace_back(x);
    }
  }
  return out;
}

Bracket bracket(const Dimension& dim, const std::vector<Value>& levels, const Value& v) {
  Bracket b;
  if (dim.kind == DimensionKind::kCategorical) return b;
  const double range = dim.kind == DimensionKind::kInteger ? static_cast<double>(dim.int_hi - dim.int_lo)
                                                           : dim.float_hi - dim.float_lo;
  const double tol = 1e-12 * std::max(range, 1e-300);
  const double x = as_double(v);
  for (const auto& level : levels) {
    const double l = as_double(level);
    if (l < x - tol) b.below = level;
    if (l > x + tol && !b.above) b.above = level;
  }
  return b;
}

}  // namespace effitune::search
