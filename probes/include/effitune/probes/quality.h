// Small quality indicators that are not text metrics: truncation rate and the weighted geometric
// mean that combines indicators into Q. Pure and thread-safe.
#pragma once

#include <span>
#include <string>

#include "effitune/common/status.h"
#include "effitune/probes/stats.h"

namespace effitune::probes {

// OpenAI-style finish reason of a response cut off by its token budget.
inline constexpr const char* kFinishReasonLength = "length";

// Share of responses whose finish reason is "length", with a Wilson interval.
Estimate truncation_rate(std::span<const std::string> finish_reasons);
// Same from counts (truncated <= total; checked).
Estimate truncation_rate(size_t truncated, size_t total);

struct WeightedValue {
  double value = 0.0;   // in [0, 1]
  double weight = 0.0;  // >= 0
};
// prod(value_i ^ (weight_i / sum(weight))). Any value of 0 with positive weight gives exactly 0 (a
// configuration that fails one indicator entirely has no quality). Returns kInvalidArgument for an
// empty list, a value outside [0, 1], a negative or non-finite weight, or weights summing to 0.
Result<double> weighted_geometric_mean(std::span<const WeightedValue> parts);

}  // namespace effitune::probes
