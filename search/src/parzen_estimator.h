// A univariate Parzen estimator over one dimension's unit coordinate, as Optuna's TPE builds it:
// one truncated Gaussian (or categorical) kernel per observation plus a prior kernel.
#pragma once

#include <cstddef>
#include <vector>

#include "effitune/search/tpe.h"
#include "rng.h"

namespace effitune::search {

// Optuna's default_weights: equal weights for the 25 most recent observations, a linear ramp from
// 1/n for older ones. `n` observations in trial order.
std::vector<double> tpe_default_weights(size_t n);

class ParzenEstimator {
 public:
  // Numeric: observations (in trial order) within [low, high]; step > 0 makes it discrete on
  // low, low + step, ..., high (Optuna's discrete truncated normal), step == 0 continuous.
  static ParzenEstimator numeric(const std::vector<double>& observations, double low, double high, double step,
                                 const TpeOptions& options);
  // Categorical over n_choices, observations are choice indices.
  static ParzenEstimator categorical(const std::vector<size_t>& observations, size_t n_choices,
                                     const TpeOptions& options);

  // A draw from the mixture: a coordinate (numeric) or a choice index as a double (categorical).
  double sample(Rng& rng) const;
  double log_pdf(double x) const;

 private:
  double kernel_log_pdf(size_t i, double x) const;

  bool categorical_ = false;
  double low_ = 0, high_ = 1, step_ = 0;
  std::vector<double> weights_;               // per kernel, summing to 1
  std::vector<double> mus_, sigmas_;          // numeric kernels
  std::vector<std::vector<double>> probs_;    // categorical kernels: per kernel, per choice
};

}  // namespace effitune::search
