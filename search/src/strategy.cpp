#include "effitune/search/strategy.h"

#include <limits>

namespace effitune::search {

const char* trial_status_name(TrialStatus status) {
  switch (status) {
    case TrialStatus::kComplete: return "complete";
    case TrialStatus::kFailed: return "failed";
    case TrialStatus::kPruned: return "pruned";
  }
  return "unknown";
}

double total_violation(const TrialOutcome& outcome) {
  if (outcome.status != TrialStatus::kComplete) return std::numeric_limits<double>::infinity();
  double sum = 0;
  for (const auto& [name, value] : outcome.constraints) {
    if (value > 0) sum += value;
  }
  if (!outcome.feasible && sum == 0) return 1.0;
  return sum;
}

bool is_feasible_complete(const TrialOutcome& outcome) {
  return outcome.status == TrialStatus::kComplete && outcome.feasible && total_violation(outcome) == 0;
}

OutcomeRank rank_of(const TrialOutcome& outcome) {
  if (outcome.status != TrialStatus::kComplete) return {0, 0};
  if (is_feasible_complete(outcome)) return {2, outcome.objective};
  return {1, -total_violation(outcome)};
}

bool better(const OutcomeRank& a, const OutcomeRank& b, double margin) {
  if (a.tier != b.tier) return a.tier > b.tier;
  return a.value > b.value + margin;
}

}  // namespace effitune::search
