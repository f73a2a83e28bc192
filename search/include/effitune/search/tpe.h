// TPE: the Tree-structured Parzen Estimator (Bergstra et al. 2011), with Optuna's defaults and its
// constrained variant (Optuna's constraints_func): infeasible trials rank below every feasible one,
// by total violation, and failed or pruned trials below those.
//
// After n_startup_trials random trials, the told trials are split into the best
// gamma(n) = min(ceil(gamma_fraction * n), gamma_max) ("below", density l) and the rest ("above",
// density g). Each dimension gets a univariate Parzen estimator (truncated Gaussians in the unit
// encoding, Optuna's bandwidth rule with magic clip and a prior kernel; categorical kernels for
// choices); a conditional dimension uses only the trials where it was active. Each dimension takes,
// of n_ei_candidates samples from l, the one maximising l(x)/g(x) (expected improvement). A proposal
// that was already told is replaced by the best untold of the joint candidates, then a random point.
#pragma once

#include <cstdint>
#include <memory>

#include "effitune/search/space.h"
#include "effitune/search/strategy.h"

namespace effitune::search {

struct TpeOptions {
  int64_t n_startup_trials = 10;
  int64_t n_ei_candidates = 24;
  double gamma_fraction = 0.1;
  int64_t gamma_max = 25;
  double prior_weight = 1.0;
  bool consider_magic_clip = true;
  bool consider_endpoints = false;
  int64_t max_trials = 0;  // ask() returns nullopt after this many trials; 0: no limit
};

// kInvalidArgument for an empty space or an option out of range (named in the message).
Result<std::unique_ptr<Strategy>> make_tpe(const Space& space, const TpeOptions& options, uint64_t seed);

}  // namespace effitune::search
