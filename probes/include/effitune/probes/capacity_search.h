// Capacity search: the highest load (request rate, or concurrent users) that still meets the SLOs.
// Bracket first (double the load until it fails, or halve it until it passes), then narrow the
// bracket until it is narrower than the tolerance: by bisection, or by interpolating the SLO margin.
// The measurement is a callback, so the search is independent of targets and runs equally on fakes,
// the engine or an HTTP server.
//
// kPchip: a monotone cubic (pchip.h) through log(margin) against load at the bracket's two ends and
// their nearest outer neighbours (dropped when they break monotonicity) predicts where the margin
// crosses 1. Log, because latency near saturation grows like 1 / (1 - utilisation): on the log scale
// the curve stays gentle. The probe is placed by ITP
// (Oliveira & Takahashi, ACM TOMS 2021) around that prediction: moved towards the midpoint by
// 0.2 * width^2 / initial width (so that a biased prediction cannot creep in from one side) and kept
// within the radius that guarantees at most one probe more than bisection. It is the plain midpoint
// when the data cannot predict: margins not monotone in load, ends that do not straddle margin 1
// (a pooled run that failed while its mean margin was below 1), or an end whose margin is capped at
// 1e6 (failures made the percentile infinite: it fails, but by how much is unknown).
#pragma once

#include <functional>
#include <string_view>
#include <vector>

#include "effitune/common/status.h"
#include "effitune/probes/stats.h"

namespace effitune::probes {

// One measured load. `margin` is the SLO margin (observed / threshold, worst SLO; <= 1 meets) with
// its interval over repetitions; `meets` decides the search.
struct CapacityProbe {
  double load = 0;
  bool meets = false;
  Estimate margin;
  Estimate performance;
};

enum class CapacityInterpolation { kBisect, kPchip };

struct CapacityOptions {
  double start_load = 1;
  double min_load = 0.01;    // below this the search gives up: capacity 0
  double max_load = 1e6;     // above this it stops bracketing: capacity >= max_load
  double tolerance = 0.5;    // stop when the bracket is this narrow (absolute, in load units)
  bool integer_load = false; // users: probe whole numbers (tolerance is then at least 1)
  int max_probes = 40;
  CapacityInterpolation interpolation = CapacityInterpolation::kBisect;
};

struct CapacityResult {
  double capacity = 0;        // the highest load that met the SLOs (0 when none did)
  double bracket_low = 0;     // = capacity
  double bracket_high = 0;    // the lowest load that failed (max_load when none did)
  bool bracketed = false;     // a failing load was found above a passing one
  // 95% interval of the capacity from the measurements at the boundary: low is the highest load whose
  // margin interval lies wholly at or below 1 (surely meets), high the lowest load whose margin
  // interval lies wholly above 1 (surely fails; bracket_high when none does).
  double ci_low = 0;
  double ci_high = 0;
  std::vector<CapacityProbe> probes;  // in the order measured
  int interpolated_probes = 0;        // probes placed by the PCHIP prediction (the rest: doubling, halving, midpoints)
};

// "bisect" or "pchip"; kInvalidArgument naming the choices otherwise.
Result<CapacityInterpolation> parse_capacity_interpolation(std::string_view name);

using MeasureLoad = std::function<Result<CapacityProbe>(double load)>;

// kInvalidArgument for bad options (named); the callback's first error otherwise.
Result<CapacityResult> find_capacity(const MeasureLoad& measure, const CapacityOptions& options);

}  // namespace effitune::probes
