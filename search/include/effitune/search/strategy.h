// Strategy: the ask/tell interface every search strategy implements.
//
// The loop: ask() for a Trial, measure it, tell() its TrialOutcome. Strategies are deterministic
// given (space, options, seed, the outcomes told): a study resumes by constructing the strategy
// again and telling it every past outcome in trial-id order, after which ask() proposes exactly what
// an uninterrupted run would have. For that, randomness is drawn from (seed, trial id), never from a
// stream that ask() advances, and all state is rebuilt from tell().
//
// Objectives are maximized (e.g. efficiency E). A failed trial counts as infeasible and worst of
// all; no strategy proposes a configuration that already failed again.
//
// Thread safety: none; drive a strategy from one thread.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "effitune/common/status.h"
#include "effitune/search/configuration.h"

namespace effitune::search {

enum class TrialStatus : uint8_t { kComplete, kFailed, kPruned };

const char* trial_status_name(TrialStatus status);

struct Trial {
  int64_t id = 0;  // 0, 1, 2, ... in ask order; tell() the outcome with the same id
  Configuration configuration;
  // Successive halving: the fidelity (budget) level to measure at, in the unit the caller gave
  // (e.g. seconds of load test or number of requests). nullopt: full fidelity.
  std::optional<double> fidelity;
};

struct ObjectiveInterval {
  double lo = 0;
  double hi = 0;
};

struct TrialOutcome {
  int64_t trial_id = 0;
  Configuration configuration;
  TrialStatus status = TrialStatus::kComplete;
  double objective = 0;  // maximized; ignored unless status is kComplete
  std::optional<ObjectiveInterval> interval;  // e.g. a bootstrap interval of the objective
  bool feasible = true;  // the caller's verdict on all constraints
  // Named constraint values, Optuna's convention: <= 0 satisfied, > 0 the amount of violation,
  // e.g. {"cost", (R - R0) / R0}, {"slo_ttft", (p95 - slo) / slo}. Scale them comparably.
  std::map<std::string, double> constraints;
  std::optional<double> fidelity;  // the fidelity it was measured at (Trial::fidelity)
};

// Sum of the positive constraint values; 1 when the outcome is infeasible but names no positive
// constraint; 0 when feasible; +inf for failed and pruned trials.
double total_violation(const TrialOutcome& outcome);
// Feasible complete trial: feasible flag set and no constraint above 0.
bool is_feasible_complete(const TrialOutcome& outcome);

// The order every strategy ranks outcomes in: feasible complete trials by objective, then
// infeasible complete trials by total violation (less is better), then failed and pruned trials.
struct OutcomeRank {
  int tier = 0;      // 2 feasible, 1 infeasible, 0 failed or pruned
  double value = 0;  // objective (tier 2), -violation (tier 1), 0 (tier 0)
};
OutcomeRank rank_of(const TrialOutcome& outcome);
// a better than b by more than `margin` (margin applies within a tier; a higher tier always wins).
bool better(const OutcomeRank& a, const OutcomeRank& b, double margin = 0);

class Strategy {
 public:
  virtual ~Strategy() = default;

  // The next trial to run. nullopt: the strategy is done and will propose nothing more.
  // kUnavailable: it must see the outcome of a pending trial first (hill climbing and successive
  // halving are sequential at their decision points); tell() pending outcomes, then ask again.
  virtual Result<std::optional<Trial>> ask() = 0;

  // Records an outcome (of an ask() in this run or of a past run being replayed).
  // kInvalidArgument when the configuration does not validate against the space (e.g. the
  // experiment's space changed since the study began); the outcome is then ignored.
  virtual Status tell(const TrialOutcome& outcome) = 0;

  virtual std::string_view name() const = 0;
  // True when the strategy stopped because it reached a local optimum (hill climbing).
  virtual bool converged() const { return false; }
};

}  // namespace effitune::search
