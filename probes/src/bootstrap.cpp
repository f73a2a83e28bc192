// Percentile and paired bootstrap.
#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "effitune/probes/stats.h"

namespace effitune::probes {
namespace {

// Unbiased index in [0, n) by rejection; std::uniform_int_distribution differs between standard
// libraries, which would make seeded intervals differ between builds.
size_t draw_index(std::mt19937_64& rng, size_t n) {
  const uint64_t range = static_cast<uint64_t>(n);
  const uint64_t limit = std::mt19937_64::max() - std::mt19937_64::max() % range;
  uint64_t r;
  do {
    r = rng();
  } while (r >= limit);
  return static_cast<size_t>(r % range);
}

// numpy.quantile(method="linear") on sorted data.
double quantile_sorted(const std::vector<double>& sorted, double q) {
  const double h = (static_cast<double>(sorted.size()) - 1.0) * q;
  const auto lo = static_cast<size_t>(std::floor(h));
  const size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (h - static_cast<double>(lo)) * (sorted[hi] - sorted[lo]);
}

Status check(std::span<const double> values, const BootstrapOptions& o, const char* what) {
  if (values.empty()) return invalid_argument(std::string(what) + ": no values to resample");
  for (size_t i = 0; i < values.size(); ++i) {
    if (!std::isfinite(values[i])) return invalid_argument(std::string(what) + ": value " + std::to_string(i) + " is not finite");
  }
  if (o.resamples < kMinBootstrapResamples) {
    return invalid_argument(std::string(what) + ": resamples must be >= " + std::to_string(kMinBootstrapResamples) +
                            ", got " + std::to_string(o.resamples));
  }
  if (!(o.confidence > 0.0 && o.confidence < 1.0)) return invalid_argument(std::string(what) + ": confidence must be in (0, 1)");
  return Status::ok_status();
}

double mean(std::span<const double> v) {
  double s = 0.0;
  for (double x : v) s += x;
  return s / static_cast<double>(v.size());
}

// Resampled means of `values`, sorted.
std::vector<double> resampled_means(std::span<const double> values, const BootstrapOptions& o) {
  std::mt19937_64 rng(o.seed);
  std::vector<double> means(static_cast<size_t>(o.resamples));
  for (auto& m : means) {
    double s = 0.0;
    for (size_t i = 0; i < values.size(); ++i) s += values[draw_index(rng, values.size())];
    m = s / static_cast<double>(values.size());
  }
  std::sort(means.begin(), means.end());
  return means;
}

Estimate percentile_estimate(double value, const std::vector<double>& sorted_means, double confidence, size_t n) {
  Estimate e;
  e.value = value;
  e.n = n;
  e.ci_low = quantile_sorted(sorted_means, (1.0 - confidence) / 2.0);
  e.ci_high = quantile_sorted(sorted_means, (1.0 + confidence) / 2.0);
  return e;
}

}  // namespace

Result<Estimate> bootstrap_mean(std::span<const double> values, const BootstrapOptions& options) {
  EFFITUNE_RETURN_IF_ERROR(check(values, options, "bootstrap_mean"));
  return percentile_estimate(mean(values), resampled_means(values, options), options.confidence, values.size());
}

Result<PairedComparison> paired_bootstrap(std::span<const double> baseline, std::span<const double> candidate,
                                          const BootstrapOptions& options) {
  if (baseline.size() != candidate.size()) {
    return invalid_argument("paired_bootstrap: " + std::to_string(baseline.size()) + " baseline scores but " +
                            std::to_string(candidate.size()) + " candidate scores; score the same items");
  }
  EFFITUNE_RETURN_IF_ERROR(check(baseline, options, "paired_bootstrap"));
  EFFITUNE_RETURN_IF_ERROR(check(candidate, options, "paired_bootstrap"));
  std::vector<double> diff(baseline.size());
  for (size_t i = 0; i < diff.size(); ++i) diff[i] = candidate[i] - baseline[i];
  const auto means = resampled_means(diff, options);
  PairedComparison out;
  out.difference = percentile_estimate(mean(diff), means, options.confidence, diff.size());
  const auto positive = std::upper_bound(means.begin(), means.end(), 0.0);
  out.prob_greater_than_zero = static_cast<double>(means.end() - positive) / static_cast<double>(means.size());
  return out;
}

}  // namespace effitune::probes
