// StudyStore: the SQLite file that holds a study (experiments, trials, baselines, drift results and
// ICS ratings). The schema is versioned (PRAGMA user_version) and migrated forward on open; the file
// runs in WAL mode with synchronous=FULL (see study_store.cpp for why) and a busy timeout, so a
// second process (the CLI's `status` while `run` works) may read while one writes.
//
// Crash safety: every write is one transaction. A trial is complete exactly when the transaction of
// complete_trial() committed; a process killed at any moment leaves the trial pending or running
// (found again by find_stale_running) or complete, never half-written.
//
// Thread safety: a StudyStore is used by one thread at a time; several processes (or several
// StudyStore objects) may open the same file.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "effitune/common/status.h"
#include "effitune/orchestrator/trial_record.h"

namespace effitune::orchestrator {

// The schema version this build writes. History: 1 = experiments + trials; 2 = trials.attempts,
// baselines, drift_results, feedback.
inline constexpr int kStudySchemaVersion = 2;

struct ExperimentRow {
  int64_t id = 0;              // assigned by the store
  std::string name;
  std::string yaml_text;
  double created_at = 0;       // unix seconds; set by the store when 0
  std::string engine_commit;   // effitune's git commit
  std::string device;          // e.g. "cpu: 2 threads" or "NVIDIA H100 80GB HBM3 x1"
  std::string model_sha256;    // of the model file; "" for synthetic models
};

// A stored reference measurement of one configuration, for nightly drift checks.
struct BaselineRow {
  std::string experiment;
  std::string configuration_json;  // the key: one baseline per (experiment, configuration)
  double recorded_at = 0;
  TrialRecord record;              // the measurement the baseline was taken from
};

struct DriftRow {
  int64_t id = 0;                  // assigned by the store
  std::string experiment;
  double run_at = 0;               // unix seconds of the nightly run
  std::string configuration_json;
  std::string indicator;           // "performance", "accuracy", "efficiency", ...
  Interval baseline;
  Interval current;
  bool significant = false;        // the change passed the test below
  std::string test;                // e.g. "intervals-separate", "two-proportion-z"
  double p_value = 1;              // 1 when the test gives none
};

struct FeedbackRow {
  std::string experiment;
  std::string key_field;   // "configuration" or "request_id" (probes::rating_key_name)
  std::string key;
  std::string scale;       // "thumbs" or "stars"
  double value = 0;        // thumbs 0/1, stars 1..5
  std::string source;      // the imported file and line, e.g. "ratings.csv:7"
  double imported_at = 0;  // set by the store when 0
};

struct StudyOpenOptions {
  // Migrate up to this version only. Tests use an older one to build old files; a file already at
  // a newer version than this is refused.
  int target_version = kStudySchemaVersion;
  int busy_timeout_ms = 10'000;
};

class StudyStore {
 public:
  ~StudyStore();
  StudyStore(const StudyStore&) = delete;
  StudyStore& operator=(const StudyStore&) = delete;

  // Opens (creating when absent) the study at `path` and migrates it. kUnavailable when SQLite cannot
  // open or lock it; kDataLoss when the file is not an SQLite database; kFailedPrecondition when it
  // was written by a newer effitune (user_version above target_version). The caller owns the store.
  static Result<std::unique_ptr<StudyStore>> open(const std::string& path, const StudyOpenOptions& options = {});

  const std::string& path() const { return path_; }
  Result<int> user_version();
  Result<std::string> journal_mode();  // "wal" after open()
  // Ok when PRAGMA integrity_check says "ok"; kDataLoss with its first lines otherwise.
  Status integrity_check();

  // Returns the stored row of `row.name`, inserting `row` first when there is none (created_at set
  // when 0). An existing row is returned unchanged: the caller compares yaml_text / model_sha256.
  Result<ExperimentRow> ensure_experiment(const ExperimentRow& row);
  Result<std::optional<ExperimentRow>> find_experiment(const std::string& name);
  Result<std::vector<ExperimentRow>> list_experiments();  // by id

  // Adds trial `trial_id` of `experiment` as pending. Idempotent for a pending, running or failed
  // trial with the same configuration (a resume re-asking it), which is then reset to pending.
  // kFailedPrecondition when the trial is complete or pruned (it must never be measured twice) or
  // exists with another configuration; kNotFound when the experiment is unknown.
  Status create_trial(const std::string& experiment, int64_t trial_id, const std::string& configuration_json,
                      std::optional<double> fidelity = std::nullopt);
  // pending -> running, started_at = heartbeat_at = now. kFailedPrecondition from any other state.
  Status mark_running(const std::string& experiment, int64_t trial_id, std::optional<double> now = std::nullopt);
  // heartbeat_at = now for a running trial; kFailedPrecondition otherwise.
  Status heartbeat(const std::string& experiment, int64_t trial_id, std::optional<double> now = std::nullopt);
  // Writes every field of `record` (state kComplete or kPruned) in one transaction. The trial must be
  // pending or running: kFailedPrecondition when it is already complete, failed or pruned, so a
  // complete trial is never written twice. finished_at is set to now when 0.
  Status complete_trial(const TrialRecord& record);
  // pending/running -> failed with `reason`; kFailedPrecondition when complete, failed or pruned.
  Status fail_trial(const std::string& experiment, int64_t trial_id, const std::string& reason,
                    std::optional<double> now = std::nullopt);
  // Running trials whose heartbeat is older than `older_than_s` (now - heartbeat_at > older_than_s)
  // go back to pending with attempts + 1, in one transaction. Returns their ids in order.
  Result<std::vector<int64_t>> find_stale_running(const std::string& experiment, double older_than_s,
                                                  std::optional<double> now = std::nullopt);

  Result<std::vector<TrialRecord>> list_trials(const std::string& experiment);  // by trial id
  Result<TrialRecord> get_trial(const std::string& experiment, int64_t trial_id);  // kNotFound
  // 1 + the largest trial id of `experiment`, 0 when it has none.
  Result<int64_t> next_trial_id(const std::string& experiment);

  // Replaces the baseline of (experiment, record.configuration_json).
  Status set_baseline(const std::string& experiment, const TrialRecord& record,
                      std::optional<double> now = std::nullopt);
  Result<std::optional<BaselineRow>> get_baseline(const std::string& experiment,
                                                  const std::string& configuration_json);
  Result<std::vector<BaselineRow>> list_baselines(const std::string& experiment);

  Status add_drift_results(const std::vector<DriftRow>& rows);  // one transaction
  Result<std::vector<DriftRow>> list_drift_results(const std::string& experiment);

  Status add_feedback(const std::vector<FeedbackRow>& rows);  // one transaction
  Result<std::vector<FeedbackRow>> list_feedback(const std::string& experiment);

  static double now_unix_s();

 private:
  struct Impl;
  explicit StudyStore(std::unique_ptr<Impl> impl, std::string path);
  std::unique_ptr<Impl> impl_;
  std::string path_;
};

}  // namespace effitune::orchestrator
