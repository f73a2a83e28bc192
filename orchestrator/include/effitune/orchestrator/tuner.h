// The tuning loop: ask the experiment's strategy for a configuration, measure it through a
// TrialRunner, record it in the StudyStore, tell the strategy, until the budget (max_trials,
// max_wall_s), the strategy's end, or E1.
//
// Every trial goes pending -> running (heartbeat while it runs) -> complete | failed in the store.
// Resume: the stored trials are replayed into a fresh strategy (tell, in id order), stale running
// trials go back to pending and are measured again; since strategies are deterministic given their
// outcomes (search/strategy.h), the next ask() re-proposes exactly the interrupted trial. A complete
// trial is never measured or written twice (StudyStore::complete_trial refuses it) and never lost
// (it is complete only once its transaction committed).
//
// Thread safety: one run per StudyStore at a time; run_study blocks the calling thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "effitune/common/status.h"
#include "effitune/orchestrator/experiment.h"
#include "effitune/orchestrator/objective.h"
#include "effitune/orchestrator/study_store.h"
#include "effitune/orchestrator/trial_runner.h"

namespace effitune::orchestrator {

struct TunerOptions {
  // Continue a study that already has trials. Without it, a study with trials is refused
  // (kFailedPrecondition: pass --resume or another --db), so two runs never mix silently.
  bool resume = false;
  // A running trial whose heartbeat is older than this is presumed dead and retried. With resume,
  // every running trial is (the run that owned it is gone).
  double stale_after_s = kStaleHeartbeatS;
  int32_t max_attempts = 3;          // a trial interrupted this many times is failed, not retried
  std::optional<int64_t> max_trials;  // overrides the experiment's strategy.max_trials
  std::optional<double> max_wall_s;   // overrides the experiment's strategy.max_wall_s
  bool stop_at_e1 = true;             // stop once detect_e1 says the climb stopped paying back
  bool progress = true;               // progress bar on stderr
  std::string engine_commit;          // recorded with the experiment row
  std::string device;
};

struct TunerSummary {
  int64_t complete = 0;
  int64_t failed = 0;
  int64_t run_now = 0;           // trials measured by this call (not replayed)
  int64_t replayed = 0;          // trials told from the store
  std::string stop_reason;       // "max_trials", "max_wall_s", "strategy finished", "E1", "converged"
  std::optional<TrialRecord> best;  // highest point E among feasible complete trials
  std::vector<RankedTrial> ranking;  // rank_trials over the study
  std::vector<int64_t> tied_with_best;  // other trials whose rank is 1 (intervals overlap the best's)
  E1Verdict e1;
};

// Runs (or resumes) `experiment` in `store`. Errors: kFailedPrecondition when the study exists and
// resume is false, or when it was started from a different experiment text (the message says to use
// another --db); kInvalidArgument when the strategy cannot be built; store errors as they come.
// Failed trials are not errors.
Result<TunerSummary> run_study(const Experiment& experiment, StudyStore& store, TrialRunner& runner,
                               const TunerOptions& options);

// The summary of a study already in `store` (for the end of `run`, `nightly` and tests).
Result<TunerSummary> summarize_study(const Experiment& experiment, StudyStore& store);

// The search outcome the strategy is told for a stored trial.
search::TrialOutcome outcome_of(const TrialRecord& record, const search::Configuration& configuration);

// Human-readable summary (several lines) for stderr/stdout at the end of a run.
std::string format_summary(const TunerSummary& summary);

}  // namespace effitune::orchestrator
