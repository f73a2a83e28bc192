#include "effitune/probes/quality.h"

#include <cmath>

namespace effitune::probes {

Estimate truncation_rate(std::span<const std::string> finish_reasons) {
  size_t truncated = 0;
  for (const auto& r : finish_reasons) truncated += r == kFinishReasonLength ? 1 : 0;
  return wilson_interval(truncated, finish_reasons.size());
}

Estimate truncation_rate(size_t truncated, size_t total) { return wilson_interval(truncated, total); }

Result<double> weighted_geometric_mean(std::span<const WeightedValue> parts) {
  if (parts.empty()) return invalid_argument("weighted_geometric_mean: no indicators");
  double weight_sum = 0.0;
  for (size_t i = 0; i < parts.size(); ++i) {
    const auto& p = parts[i];
    if (!(p.value >= 0.0 && p.value <= 1.0)) {
      return invalid_argument("weighted_geometric_mean: indicator " + std::to_string(i) + " has value " +
                              std::to_string(p.value) + ", expected a value in [0, 1]");
    }
    if (!(p.weight >= 0.0) || !std::isfinite(p.weight)) {
      return invalid_argument("weighted_geometric_mean: indicator " + std::to_string(i) +
                              " has a negative or non-finite weight");
    }
    weight_sum += p.weight;
  }
  if (weight_sum <= 0.0) return invalid_argument("weighted_geometric_mean: weights sum to 0");
  double log_q = 0.0;
  for (const auto& p : parts) {
    if (p.weight == 0.0) continue;
    if (p.value == 0.0) return 0.0;
    log_q += p.weight / weight_sum * std::log(p.value);
  }
  return std::exp(log_q);
}

}  // namespace effitune::probes
