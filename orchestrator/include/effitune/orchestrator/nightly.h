// The nightly job: re-measure the incumbent and the top configurations, compare each with its stored
// baseline using statistical tests, record the drift, continue the search within a time budget, and
// say (through the exit code) whether quality drifted or the goal is no longer met.
//
// Baselines: the first nightly run stores each selected trial's original record as its baseline
// (StudyStore::set_baseline); later runs compare against it. Re-measurements are not trials: they are
// recorded as drift rows only, so the search's history (and resume-by-replay) is untouched.
//
// Tests (mission.md, "Drift"): P and history consistency are proportions: a two-proportion z-test
// (p < 0.05) on the counts value x n. Every other indicator (A, Cm, C, Q, E) is flagged when its 95%
// intervals do not overlap. Only a significant *decrease* of P, C, Cm, A or Q is quality drift.
//
// Thread safety: as run_study.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "effitune/common/status.h"
#include "effitune/orchestrator/experiment.h"
#include "effitune/orchestrator/study_store.h"
#include "effitune/orchestrator/trial_runner.h"
#include "effitune/orchestrator/tuner.h"

namespace effitune::orchestrator {

// Exit codes of `effitune nightly` (documented in orchestrator/README.md), for cron and CI.
inline constexpr int kNightlyOk = 0;             // no drift, goal met
inline constexpr int kNightlyError = 1;          // could not run (bad file, study missing, ...)
inline constexpr int kNightlyUsage = 2;          // bad command line
inline constexpr int kNightlyQualityDrift = 3;   // a quality indicator fell significantly
inline constexpr int kNightlyGoalMissed = 4;     // the incumbent no longer meets the goal within R0/E0
inline constexpr int kNightlyDriftAndGoal = 5;   // both

struct NightlyOptions {
  int32_t top = 3;                  // re-measure the incumbent and up to top - 1 more (by rank)
  double search_wall_s = 0;         // then continue the search this long (0: no search)
  int64_t search_trials = 0;        // ... and at most this many new trials (0: the wall budget only)
  double significance = 0.05;       // p-value threshold of the two-proportion test
  std::optional<double> now;        // run time stamp (tests); default now
  TunerOptions tuner;               // progress, device, commit for the continued search
};

struct NightlyResult {
  std::vector<DriftRow> drift;      // every comparison made, significant or not
  std::vector<int64_t> remeasured;  // trial ids, incumbent first
  std::vector<std::string> failures;  // re-measurements that failed, with their reasons
  bool quality_drifted = false;
  bool goal_missed = false;
  int exit_code = kNightlyOk;
  std::optional<TunerSummary> search;  // when the search continued
  std::string text;                 // a readable summary
};

// Compares one indicator; `proportion` selects the two-proportion z-test.
DriftRow compare_indicator(const std::string& indicator, const Interval& baseline, const Interval& current,
                           bool proportion, double significance);

// Runs the nightly job on a study `run` created. kNotFound when the study has no trials of
// `experiment`; store errors as they come. Failed re-measurements are data (goal missed).
Result<NightlyResult> run_nightly(const Experiment& experiment, StudyStore& store, TrialRunner& runner,
                                  const NightlyOptions& options);

}  // namespace effitune::orchestrator
