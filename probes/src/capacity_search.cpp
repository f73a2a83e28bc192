// Capacity search: bracket by doubling/halving, then bisect.
#include "effitune/probes/capacity_search.h"

#include <algorithm>
#include <cmath>

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

}  // namespace

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

  // Bisect while there is a passing and a failing load further apart than the tolerance.
  while (hi_failed && lo > 0 && hi - lo > tol && budget_left()) {
    double mid = 0.5 * (lo + hi);
    if (options.integer_load) {
      mid = std::floor(mid);
      if (mid <= lo) break;
    }
    EFFITUNE_ASSIGN_OR_RETURN(bool m, probe(mid));
    (m ? lo : hi) = mid;
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
