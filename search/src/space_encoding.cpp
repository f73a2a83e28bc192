// The unit-hypercube encoding: each dimension maps to [0, 1]. Discrete values own equal cells
// (or equal cells in log space for log integers, padded by 0.5 as Optuna does), so that a uniform
// point decodes to a uniform value and decode(encode(v)) == v.
#include <algorithm>
#include <cmath>
#include <limits>

#include "effitune/search/space.h"

namespace effitune::search {
namespace {

double clamp_unit(double u) {
  if (std::isnan(u)) return 0.5;
  return std::clamp(u, 0.0, 1.0);
}

// Cell index of u among n equal cells.
uint64_t cell_of(double u, uint64_t n) {
  const double x = std::floor(u * static_cast<double>(n));
  if (x <= 0) return 0;
  return std::min(static_cast<uint64_t>(x), n - 1);
}

}  // namespace

Value Space::decode_one(size_t index, double u) const {
  const Dimension& dim = dims_[index];
  u = clamp_unit(u);
  switch (dim.kind) {
    case DimensionKind::kCategorical:
      return dim.choices[cell_of(u, dim.choices.size())];
    case DimensionKind::kInteger: {
      if (dim.log) {
        const double a = std::log(static_cast<double>(dim.int_lo) - 0.5);
        const double b = std::log(static_cast<double>(dim.int_hi) + 0.5);
        const auto v = static_cast<int64_t>(std::llround(std::exp(a + u * (b - a))));
        return std::clamp(v, dim.int_lo, dim.int_hi);
      }
      const uint64_t j = cell_of(u, *dim.count());
      return dim.int_lo + static_cast<int64_t>(j) * dim.step;
    }
    case DimensionKind::kFloat: {
      double v = dim.log ? std::exp(std::log(dim.float_lo) + u * (std::log(dim.float_hi) - std::log(dim.float_lo)))
                         : dim.float_lo + u * (dim.float_hi - dim.float_lo);
      return std::clamp(v, dim.float_lo, dim.float_hi);
    }
  }
  return Value{};
}

double Space::encode_one(size_t index, const Value& value) const {
  const Dimension& dim = dims_[index];
  switch (dim.kind) {
    case DimensionKind::kCategorical: {
      const auto& s = std::get<std::string>(value);
      const auto pos = std::find(dim.choices.begin(), dim.choices.end(), s) - dim.choices.begin();
      return (static_cast<double>(pos) + 0.5) / static_cast<double>(dim.choices.size());
    }
    case DimensionKind::kInteger: {
      const int64_t v = std::get<int64_t>(value);
      if (dim.log) {
        const double a = std::log(static_cast<double>(dim.int_lo) - 0.5);
        const double b = std::log(static_cast<double>(dim.int_hi) + 0.5);
        return std::clamp((std::log(static_cast<double>(v)) - a) / (b - a), 0.0, 1.0);
      }
      const auto n = static_cast<double>(*dim.count());
      return (static_cast<double>((v - dim.int_lo) / dim.step) + 0.5) / n;
    }
    case DimensionKind::kFloat: {
      const double v = std::get<double>(value);
      if (dim.float_lo == dim.float_hi) return 0.5;
      const double u = dim.log ? (std::log(v) - std::log(dim.float_lo)) / (std::log(dim.float_hi) - std::log(dim.float_lo))
                               : (v - dim.float_lo) / (dim.float_hi - dim.float_lo);
      return std::clamp(u, 0.0, 1.0);
    }
  }
  return 0.5;
}

std::vector<double> Space::encode(const Configuration& config) const {
  std::vector<double> unit(dims_.size(), std::numeric_limits<double>::quiet_NaN());
  for (size_t i = 0; i < dims_.size(); ++i) {
    auto it = config.values.find(dims_[i].name);
    if (it != config.values.end()) unit[i] = encode_one(i, it->second);
  }
  return unit;
}

Configuration Space::decode(std::span<const double> unit) const {
  EFFITUNE_CHECK(unit.size() == dims_.size(), "Space::decode: unit vector has the wrong size");
  Configuration config;
  for (size_t i = 0; i < dims_.size(); ++i) {
    if (is_active(i, config)) config.values[dims_[i].name] = decode_one(i, unit[i]);
  }
  return config;
}

Configuration Space::complete(const Configuration& partial, std::span<const double> fallback_unit) const {
  EFFITUNE_CHECK(fallback_unit.size() == dims_.size(), "Space::complete: fallback vector has the wrong size");
  Configuration config;
  for (size_t i = 0; i < dims_.size(); ++i) {
    if (!is_active(i, config)) continue;
    auto it = partial.values.find(dims_[i].name);
    if (it != partial.values.end() && validate_value(dims_[i], it->second).ok()) {
      config.values.insert(*it);
    } else {
      config.values[dims_[i].name] = decode_one(i, fallback_unit[i]);
    }
  }
  return config;
}

}  // namespace effitune::search
