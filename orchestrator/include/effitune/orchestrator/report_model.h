// ReportModel: everything a recommendation report shows, computed once from a study and rendered as
// HTML, Markdown or JSON (report.h). Plain data. The order of the fields is the order of the report:
// the recommendation, the charts, the trial table, reproducibility.
//
// Thread safety: build_report_model reads the store (one thread at a time, like any StudyStore use);
// the overload on ReportInputs is a pure function.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "effitune/common/status.h"
#include "effitune/orchestrator/experiment.h"
#include "effitune/orchestrator/study_store.h"
#include "effitune/orchestrator/svg_chart.h"
#include "effitune/orchestrator/trial_record.h"

namespace effitune::orchestrator {

// A figure shown with its 95% interval.
struct NamedInterval {
  std::string name;   // "P", "C", "Cm", "A", "Q" or a part's name (same_top1, mean_kl, ...)
  std::string label;  // plain words: "Performance (goodput / offered)"
  Interval value;
};

// Headroom of one SLO at the goal load: positive margin = the limit holds with room to spare.
struct SloMargin {
  std::string name;        // "ttft_p95_ms", "tpot_p95_ms", "e2e_p95_ms"
  double limit_ms = 0;
  double measured_ms = 0;  // interpolated on the load curve at the per-replica goal load
  double margin_ms = 0;    // limit - measured
  bool met = false;
};

// A configuration within noise of the best (its E interval overlaps the best's): shown as a tie.
struct Alternative {
  int64_t trial = 0;
  std::vector<std::pair<std::string, std::string>> configuration;  // dimension -> value, file order
  std::string configuration_json;
  Interval efficiency;
  Interval quality;
  double usd_per_hour = 0;
  int32_t replicas = 0;
  int32_t gpus_per_replica = 0;
};

struct Recommendation {
  bool available = false;
  std::string headline;  // one sentence: what to deploy, or why nothing can be recommended yet
  std::vector<std::string> reasons;  // why not (empty study, all failed, none feasible, ...)
  int64_t trial = -1;
  std::vector<std::pair<std::string, std::string>> configuration;
  std::string configuration_json;
  bool feasible = false;   // E >= E0, R <= R0 and SLOs met at the goal
  int32_t replicas = 0;
  int32_t gpus_per_replica = 0;
  int32_t total_gpus = 0;  // replicas x GPUs per replica
  int32_t cpu_cores_per_replica = 0;
  double capacity_rps_per_replica = 0;
  std::string goal;        // the volumetry goal in words ("40 concurrent users, 5 requests/s")
  double usd_per_hour = 0;           // R
  Interval usd_per_hour_interval;    // from the capacity interval
  double r0_usd_per_hour = 0;        // R0
  Interval efficiency;               // E
  double e0 = 0;                     // E0
  std::optional<double> usd_per_million_good_tokens;
  std::vector<NamedInterval> quality;  // Q, P, C, Cm, A, then the parts
  std::optional<Quadrant> quadrant;
  double goal_rps_per_replica = 0;     // the load the SLO margins are read at
  std::vector<SloMargin> slo_margins;
  bool e1_reached = false;
  std::string e1_verdict;              // detect_e1's explanation
  std::string spend_more;              // plain words: is spending more worth it
  std::vector<Alternative> ties;
};

// One constraint a trial breaks, in plain words, so a reader sees why it is not feasible.
struct Violation {
  std::string constraint;  // the constraints key: "cost", "efficiency", "goal", "min_completeness", ...
  double amount = 0;       // the constraint's value (Optuna convention, > 0 = violated)
  std::string text;        // "R $0.6/h > R0 $0.5/h", "completeness 0.52 < floor 0.7", ...
};

struct TrialRow {
  int64_t id = 0;
  std::string state;  // trial_state_name
  std::vector<std::pair<std::string, std::string>> configuration;
  std::string configuration_json;
  std::optional<Interval> performance, consistency, completeness, accuracy, quality, efficiency;
  std::optional<double> usd_per_hour;  // nullopt: failed / not measured; +inf: goal not reachable
  int32_t replicas = 0;
  int32_t gpus_per_replica = 0;
  bool feasible = false;
  std::string quadrant;  // quadrant_name or ""
  int32_t rank = 0;      // rank_trials rank (0: not ranked: infeasible or not complete)
  std::string failure_reason;
  std::vector<Violation> violations;  // complete but not feasible: each violated constraint
};

struct Reproducibility {
  std::string experiment_yaml;
  std::string engine_commit;
  std::string device;
  std::string model_sha256;
  std::string model_path;
  double created_at = 0;  // unix seconds
  int schema_version = kStudySchemaVersion;
};

struct ReportModel {
  std::string experiment;
  double generated_at = 0;  // unix seconds
  std::string summary;      // counts: "12 trials: 10 complete, 2 failed"
  int64_t trials_total = 0, trials_complete = 0, trials_failed = 0, trials_feasible = 0;
  std::vector<std::string> warnings;  // e.g. the experiment text could not be parsed
  Recommendation recommendation;
  std::vector<Chart> charts;  // quadrant, pareto, climb, latency, sensitivity-*, drift (when present)
  std::vector<TrialRow> trials;
  Reproducibility reproducibility;
  bool nightly = false;       // drift results exist: the drift chart and table are included
  std::vector<DriftRow> drift;  // the latest nightly run's rows
};

// What the report reads from a study. experiment may be absent when the stored text no longer parses
// (the report still renders, with defaults for thresholds and a warning).
struct ReportInputs {
  ExperimentRow row;
  std::optional<Experiment> experiment;
  std::string experiment_error;  // why `experiment` is absent
  std::vector<TrialRecord> trials;
  std::vector<DriftRow> drift;
  double now = 0;  // generated_at; 0 = StudyStore::now_unix_s()
};

ReportModel build_report_model(const ReportInputs& inputs);

// Reads experiment `name` (or, when empty, the study's latest experiment, as the other study commands
// do) from `store` and builds the model. kNotFound when the experiment is unknown (the message lists
// the stored ones) or the study has none; store errors as they come.
Result<ReportModel> build_report_model(StudyStore& store, const std::string& name);

}  // namespace effitune::orchestrator
