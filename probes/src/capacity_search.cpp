// Capacity search: bracket by doubling/halving, then bisect or interpolate the SLO margin.
#include "effitune/probes/capacity_search.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <string>

#include "effitune/probes/pchip.h"

namespace effitune::probes {
namespace {

Status validate(const CapacityOptions& o) {
  if (!(o.min_load > 0 && std::isfinite(o.min_load))) return invalid_argument("capacity search: min_load must be > 0");
  if (!(o.max_load >= o.min_load && std::isfinite(o.max_load)))
    return invalid_argument("capacity search: max_load must be finite and >= min_load");
  if (!(o.start_load >= o.min_load && o.start_load <= o.max_load))
    return invalid_argument("capacity search: start_load must be within [min_load, max_load]");
  if (!(o.tolerance > 0)) return invalid_argument("capacity search: tolerance must be > 0");
  if (o.max_probes < 2) return invalid_argument("capacity search: max_probes must be >= 2");
  return {};
}

// Margins below this are floored before the log (a run whose percentile is 0 ms).
constexpr double kMinMargin = 1e-9;
// load_test caps the margin here when failures (errors, rejections, timeouts) make the percentile
// infinite: such a point says "fails" but not by how much, so it is not interpolated.
constexpr double kCappedMargin = 1e6;
// ITP's parameters: the usual kappa1 = 0.2 / initial width, kappa2 = 2, and n0 = 1 extra probe at
// most over bisection.
constexpr double kItpKappa1 = 0.2;
constexpr int kItpN0 = 1;

// Where the PCHIP through log(margin) over the bracket [lo, hi] and its nearest outer neighbours
// crosses margin 1; nullopt when the data cannot say (not monotone, the ends do not straddle 1, or an
// end's margin is capped).
std::optional<double> pchip_crossing(const std::vector<CapacityProbe>& probes, double lo, double hi) {
  // log(margin) by load; a load measured twice (integer rounding) keeps the mean of its logs.
  std::map<double, std::pair<double, int>> by_load;
  for (const CapacityProbe& p : probes) {
    if (!std::isfinite(p.margin.value) || p.margin.value >= kCappedMargin) continue;
    auto& [sum, n] = by_load[p.load];
    sum += std::log(std::max(kMinMargin, p.margin.value));
    ++n;
  }
  std::vector<double> x, y;
  for (const auto& [load, acc] : by_load) {
    x.push_back(load);
    y.push_back(acc.first / acc.second);
  }
  const auto ilo = std::find(x.begin(), x.end(), lo) - x.begin();
  const auto ihi = std::find(x.begin(), x.end(), hi) - x.begin();
  if (ihi >= static_cast<long>(x.size()) || ihi != ilo + 1) return std::nullopt;
  if (!(y[ilo] <= 0 && y[ihi] > 0)) return std::nullopt;  // the margins disagree with meets/fails
  std::vector<double> wx, wy;
  if (ilo > 0 && y[ilo - 1] <= y[ilo]) {
    wx.push_back(x[ilo - 1]);
    wy.push_back(y[ilo - 1]);
  }
  wx.insert(wx.end(), {x[ilo], x[ihi]});
  wy.insert(wy.end(), {y[ilo], y[ihi]});
  if (ihi + 1 < static_cast<long>(x.size()) && y[ihi + 1] >= y[ihi]) {
    wx.push_back(x[ihi + 1]);
    wy.push_back(y[ihi + 1]);
  }
  auto fit = Pchip::fit(std::move(wx), std::move(wy));
  if (!fit.ok()) return std::nullopt;
  return fit->solve(0.0);
}

}  // namespace

Result<CapacityInterpolation> parse_capacity_interpolation(std::string_view name) {
  if (name == "bisect") return CapacityInterpolation::kBisect;
  if (name == "pchip") return CapacityInterpolation::kPchip;
  return invalid_argument("capacity search method '" + std::string(name.substr(0, 40)) + "': expected bisect or pchip");
}

Result<CapacityResult> find_capacity(const MeasureLoad& measure, const CapacityOptions& options) {
  EFFITUNE_RETURN_IF_ERROR(validate(options));
  const double tol = options.integer_load ? std::max(1.0, options.tolerance) : options.tolerance;
  CapacityResult out;
  auto probe = [&](double load) -> Result<bool> {
    if (options.integer_load) load = std::round(load);
    EFFITUNE_ASSIGN_OR_RETURN(CapacityProbe p, measure(load));
    p.load = load;
    out.probes.push_back(p);
    return p.meets;
  };
  auto budget_left = [&] { return static_cast<int>(out.probes.size()) < options.max_probes; };

  // Bracket: lo meets (or 0), hi fails (or max_load unexplored).
  double lo = 0, hi = options.max_load;
  bool hi_failed = false;
  double load = options.integer_load ? std::max(1.0, std::round(options.start_load)) : options.start_load;
  EFFITUNE_ASSIGN_OR_RETURN(bool meets, probe(load));
  if (meets) {
    lo = load;
    while (budget_left() && lo < options.max_load) {
      const double next = std::min(options.max_load, lo * 2);
      EFFITUNE_ASSIGN_OR_RETURN(bool m, probe(next));
      if (!m) {
        hi = next;
        hi_failed = true;
        break;
      }
      lo = next;
    }
  } else {
    hi = load;
    hi_failed = true;
    while (budget_left()) {
      const double next = options.integer_load ? std::floor(hi / 2) : hi / 2;
      if (next < options.min_load || next < (options.integer_load ? 1 : 0) || next == hi) break;
      EFFITUNE_ASSIGN_OR_RETURN(bool m, probe(next));
      if (m) {
        lo = next;
        break;
      }
      hi = next;
    }
  }

  // Narrow while there is a passing and a failing load further apart than the tolerance. With PCHIP
  // the probe is placed by ITP (Oliveira & Takahashi 2021) around the interpolated crossing: truncated
  // towards the midpoint by kappa1 * width^kappa2 (so one side cannot creep) and projected into the
  // ball that keeps the probe count within n0 of bisection's.
  const bool pchip = options.interpolation == CapacityInterpolation::kPchip;
  const double width0 = hi - lo;
  const double eps = 0.5 * tol;
  const int n_max = static_cast<int>(std::ceil(std::log2(std::max(1.0, width0 / (2 * eps))))) + kItpN0;
  const double kappa1 = kItpKappa1 / std::max(width0, 1e-300);
  for (int j = 0; hi_failed && lo > 0 && hi - lo > tol && budget_left(); ++j) {
    const double width = hi - lo;
    double next = 0.5 * (lo + hi);
    const std::optional<double> crossing = pchip ? pchip_crossing(out.probes, lo, hi) : std::nullopt;
    if (crossing) {
      const double mid = next;
      const double sigma = mid >= *crossing ? 1.0 : -1.0;
      const double delta = kappa1 * width * width;  // kappa2 = 2
      const double truncated = delta <= std::fabs(mid - *crossing) ? *crossing + sigma * delta : mid;
      const double radius = eps * std::ldexp(1.0, n_max - j) - 0.5 * width;
      next = radius < 0 ? mid : std::fabs(truncated - mid) <= radius ? truncated : mid - sigma * radius;
      const double inset = options.integer_load ? 0.0 : 0.01 * tol;
      next = std::clamp(next, lo + inset, hi - inset);
    }
    if (options.integer_load) {
      next = crossing ? std::clamp(std::round(next), lo + 1, hi - 1) : std::floor(next);
      if (next <= lo || next >= hi) break;
    }
    EFFITUNE_ASSIGN_OR_RETURN(bool m, probe(next));
    (m ? lo : hi) = next;
    if (crossing) ++out.interpolated_probes;
  }

  out.capacity = out.bracket_low = lo;
  out.bracket_high = hi;
  out.bracketed = hi_failed && lo > 0;
  // The interval from the repeated measurements at the boundary.
  out.ci_low = 0;
  out.ci_high = hi_failed ? hi : options.max_load;
  double surely_fails = INFINITY;
  for (const CapacityProbe& p : out.probes) {
    if (p.meets && p.margin.ci_high <= 1.0 && p.load <= lo) out.ci_low = std::max(out.ci_low, p.load);
    if (!p.meets && p.margin.ci_low > 1.0 && p.load >= hi) surely_fails = std::min(surely_fails, p.load);
  }
  if (hi_failed && std::isfinite(surely_fails)) out.ci_high = surely_fails;
  return out;
}

}  // namespace effitune::probes
