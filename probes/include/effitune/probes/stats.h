// Confidence intervals and tests for quality indicators. Every indicator that leaves probes is an
// Estimate, so reports and the objective can always show an interval next to a value.
// All functions are pure and thread-safe; the bootstrap is deterministic for a given seed on every
// platform (std::mt19937_64 is fully specified and the index draw is our own, not a std distribution).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "effitune/common/status.h"

namespace effitune::probes {

// A point value with a two-sided confidence interval; `n` is the number of observations behind it.
struct Estimate {
  double value = 0.0;
  double ci_low = 0.0;
  double ci_high = 0.0;
  size_t n = 0;
};

// Two-sided 95% normal quantile, Phi^-1(0.975).
inline constexpr double kZ95 = 1.959963984540054;
inline constexpr int kMinBootstrapResamples = 1000;

// Wilson score interval for `successes` out of `n` (value = successes / n). With n == 0 there is no
// information: value 0 and interval [0, 1]. Requires successes <= n (checked; aborts otherwise).
Estimate wilson_interval(size_t successes, size_t n, double z = kZ95);

struct BootstrapOptions {
  int resamples = 2000;        // at least kMinBootstrapResamples
  double confidence = 0.95;    // in (0, 1)
  uint64_t seed = 20240601;
};

// Percentile bootstrap for the mean of `values`: value is the sample mean; the interval holds the
// (1-c)/2 and (1+c)/2 quantiles (linear interpolation, numpy's default) of the resampled means.
// Returns kInvalidArgument for no values, a non-finite value, fewer than kMinBootstrapResamples
// resamples or a confidence outside (0, 1).
Result<Estimate> bootstrap_mean(std::span<const double> values, const BootstrapOptions& options = {});

struct PairedComparison {
  Estimate difference;               // mean(candidate[i] - baseline[i]) with its percentile interval
  double prob_greater_than_zero = 0; // share of resamples whose mean difference is > 0
};
// Paired bootstrap over items scored under two configurations: items are resampled jointly, so
// per-item difficulty cancels. Same errors as bootstrap_mean, plus kInvalidArgument if the spans
// differ in length.
Result<PairedComparison> paired_bootstrap(std::span<const double> baseline, std::span<const double> candidate,
                                          const BootstrapOptions& options = {});

struct ZTest {
  double difference = 0.0;  // p2 - p1
  double z = 0.0;           // pooled two-proportion z statistic; 0 when the pooled variance is 0
  double p_value = 1.0;     // two-sided
};
// Two-proportion z-test (pooled variance) of x1/n1 against x2/n2, used to flag drift. Returns
// kInvalidArgument if n1 or n2 is 0 or a count exceeds its total.
Result<ZTest> two_proportion_z_test(size_t x1, size_t n1, size_t x2, size_t n2);

}  // namespace effitune::probes
