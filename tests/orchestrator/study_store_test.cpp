#include "effitune/orchestrator/study_store.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>

#include "effitune/orchestrator/study_json.h"
#include "support/paths.h"

namespace effitune::orchestrator {
namespace {

const char* kExp = "store-test";

class StudyStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = effitune::testing::make_temp_dir("study-store-test");
    path_ = dir_ + "/study.db";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<StudyStore> open_store(const StudyOpenOptions& options = {}) {
    auto s = StudyStore::open(path_, options);
    EXPECT_TRUE(s.ok()) << s.status().to_string();
    return s.ok() ? std::move(s).value() : nullptr;
  }

  static ExperimentRow experiment_row() {
    ExperimentRow row;
    row.name = kExp;
    row.yaml_text = "name: store-test\n";
    row.engine_commit = "abc123";
    row.device = "cpu: 2 threads";
    row.model_sha256 = std::string(64, 'f');
    return row;
  }

  std::string dir_;
  std::string path_;
};

Interval iv(double v, double lo, double hi, int64_t n) { return Interval{v, lo, hi, n}; }

TrialRecord full_record(int64_t id) {
  TrialRecord r;
  r.id = id;
  r.experiment = kExp;
  r.state = TrialState::kComplete;
  r.configuration_json = "{\"beam_width\":3,\"decoding\":\"beam\",\"temperature\":0.7}";
  r.fidelity = 30.0;
  r.started_at = 1000.25;
  r.finished_at = 1060.5;
  r.indicators.performance = iv(0.9, 0.85, 0.95, 200);
  r.indicators.consistency = iv(0.8, 0.7, 0.9, 50);
  r.indicators.completeness = iv(0.75, 0.7, 0.8, 50);
  r.indicators.accuracy = iv(0.6, 0.5, 0.7, 50);
  r.indicators.quality = iv(0.76, 0.7, 0.82, 50);
  r.indicators.parts["mean_kl"] = iv(0.0123, 0.01, 0.015, 4000);
  r.indicators.parts["truncation_rate"] = iv(0.05, 0.02, 0.1, 50);
  r.cost.usd_per_hour = 0.4;
  r.cost.usd_per_hour_per_replica = 0.2;
  r.cost.energy_usd_per_hour = std::nullopt;
  r.cost.usd_per_million_good_tokens = 1.75;
  r.cost.replicas = 2;
  r.cost.cpu_cores_per_replica = 2;
  r.cost.capacity_rps = 3.5;
  r.cost.capacity_rps_interval = iv(3.5, 3.1, 3.9, 5);
  r.cost.capacity_users = 7;
  r.efficiency = 1.9;
  r.efficiency_interval = iv(1.9, 1.6, 2.2, 50);
  r.feasible = true;
  r.constraints["cost"] = -0.6;
  r.constraints["slo_ttft"] = -0.1;
  r.quadrant = Quadrant::kEfficient;
  r.load_curve.push_back(LoadPoint{1, 1, 1, 100, 20, 900, 1});
  r.load_curve.push_back(LoadPoint{4, 3.8, 3.4, 300, 40, 2000, 0.85});
  r.measurements_json = "{\"ttft_ms\":{\"p50\":80,\"p95\":300}}";
  return r;
}

void expect_interval_eq(const Interval& a, const Interval& b) {
  EXPECT_DOUBLE_EQ(a.value, b.value);
  EXPECT_DOUBLE_EQ(a.ci_low, b.ci_low);
  EXPECT_DOUBLE_EQ(a.ci_high, b.ci_high);
  EXPECT_EQ(a.n, b.n);
}

TEST_F(StudyStoreTest, NewStudyIsWalAtTheLatestVersionAndIntact) {
  auto store = open_store();
  ASSERT_TRUE(store);
  EXPECT_EQ(store->journal_mode().value(), "wal");
  EXPECT_EQ(store->user_version().value(), kStudySchemaVersion);
  EXPECT_TRUE(store->integrity_check().ok());
  // The WAL file exists beside the database once something was written.
  ASSERT_TRUE(store->ensure_experiment(experiment_row()).ok());
  EXPECT_TRUE(std::filesystem::exists(path_ + "-wal"));
}

TEST_F(StudyStoreTest, ExperimentIsInsertedOnceAndReturnedUnchanged) {
  auto store = open_store();
  auto first = store->ensure_experiment(experiment_row());
  ASSERT_TRUE(first.ok()) << first.status().to_string();
  EXPECT_GT(first->id, 0);
  EXPECT_GT(first->created_at, 1.6e9);
  ExperimentRow changed = experiment_row();
  changed.yaml_text = "name: store-test\nseed: 2\n";
  auto second = store->ensure_experiment(changed);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->id, first->id);
  EXPECT_EQ(second->yaml_text, "name: store-test\n");
  EXPECT_EQ(second->model_sha256, std::string(64, 'f'));
  EXPECT_EQ(store->list_experiments().value().size(), 1u);
  EXPECT_FALSE(store->find_experiment("other").value().has_value());
}

TEST_F(StudyStoreTest, CompleteTrialRoundTripsEveryField) {
  auto store = open_store();
  ASSERT_TRUE(store->ensure_experiment(experiment_row()).ok());
  TrialRecord r = full_record(0);
  ASSERT_TRUE(store->create_trial(kExp, 0, r.configuration_json, 30.0).ok());
  ASSERT_TRUE(store->mark_running(kExp, 0, 999.0).ok());
  ASSERT_TRUE(store->complete_trial(r).ok());

  auto got = store->get_trial(kExp, 0);
  ASSERT_TRUE(got.ok()) << got.status().to_string();
  const TrialRecord& g = got.value();
  EXPECT_EQ(g.id, 0);
  EXPECT_EQ(g.experiment, kExp);
  EXPECT_EQ(g.state, TrialState::kComplete);
  EXPECT_EQ(g.configuration_json, r.configuration_json);
  EXPECT_EQ(g.fidelity, std::optional<double>(30.0));
  EXPECT_DOUBLE_EQ(g.started_at, 1000.25);
  EXPECT_DOUBLE_EQ(g.finished_at, 1060.5);
  EXPECT_DOUBLE_EQ(g.heartbeat_at, 999.0);
  EXPECT_EQ(g.attempts, 0);
  expect_interval_eq(g.indicators.performance, r.indicators.performance);
  expect_interval_eq(g.indicators.consistency, r.indicators.consistency);
  expect_interval_eq(g.indicators.completeness, r.indicators.completeness);
  expect_interval_eq(g.indicators.accuracy, r.indicators.accuracy);
  expect_interval_eq(g.indicators.quality, r.indicators.quality);
  ASSERT_EQ(g.indicators.parts.size(), 2u);
  expect_interval_eq(g.indicators.parts.at("mean_kl"), r.indicators.parts.at("mean_kl"));
  EXPECT_DOUBLE_EQ(g.cost.usd_per_hour, 0.4);
  EXPECT_FALSE(g.cost.energy_usd_per_hour.has_value());
  EXPECT_EQ(g.cost.usd_per_million_good_tokens, std::optional<double>(1.75));
  EXPECT_EQ(g.cost.replicas, 2);
  EXPECT_EQ(g.cost.cpu_cores_per_replica, 2);
  expect_interval_eq(g.cost.capacity_rps_interval, r.cost.capacity_rps_interval);
  EXPECT_DOUBLE_EQ(g.cost.capacity_users, 7);
  EXPECT_DOUBLE_EQ(g.efficiency, 1.9);
  expect_interval_eq(g.efficiency_interval, r.efficiency_interval);
  EXPECT_TRUE(g.feasible);
  EXPECT_EQ(g.constraints, r.constraints);
  EXPECT_EQ(g.quadrant, std::optional<Quadrant>(Quadrant::kEfficient));
  ASSERT_EQ(g.load_curve.size(), 2u);
  EXPECT_DOUBLE_EQ(g.load_curve[1].goodput_rps, 3.4);
  EXPECT_DOUBLE_EQ(g.load_curve[1].e2e_p95_ms, 2000);
  EXPECT_EQ(g.measurements_json, r.measurements_json);

  // The JSON form carries the same record (used by export and reports).
  auto back = trial_from_json(trial_to_json(g));
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  EXPECT_EQ(trial_to_json(back.value()), trial_to_json(g));
  EXPECT_EQ(back->configuration_json, r.configuration_json);
}

TEST_F(StudyStoreTest, LifeCycleRefusesImpossibleTransitions) {
  auto store = open_store();
  ASSERT_TRUE(store->ensure_experiment(experiment_row()).ok());
  EXPECT_EQ(store->create_trial("unknown", 0, "{}").code(), StatusCode::kNotFound);
  EXPECT_EQ(store->mark_running(kExp, 5).code(), StatusCode::kNotFound);
  ASSERT_TRUE(store->create_trial(kExp, 0, "{\"a\":1}").ok());
  EXPECT_EQ(store->heartbeat(kExp, 0).code(), StatusCode::kFailedPrecondition);  // pending, not running
  // A resume re-asking the same trial is fine; another configuration under the same id is not.
  EXPECT_TRUE(store->create_trial(kExp, 0, "{\"a\":1}").ok());
  EXPECT_EQ(store->create_trial(kExp, 0, "{\"a\":2}").code(), StatusCode::kFailedPrecondition);
  ASSERT_TRUE(store->mark_running(kExp, 0).ok());
  EXPECT_EQ(store->mark_running(kExp, 0).code(), StatusCode::kFailedPrecondition);
  TrialRecord r = full_record(0);
  r.configuration_json = "{\"a\":1}";
  ASSERT_TRUE(store->complete_trial(r).ok());
  // A complete trial is never written or measured twice.
  EXPECT_EQ(store->complete_trial(r).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(store->create_trial(kExp, 0, "{\"a\":1}").code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(store->fail_trial(kExp, 0, "late").code(), StatusCode::kFailedPrecondition);
  TrialRecord pending = r;
  pending.state = TrialState::kPending;
  EXPECT_EQ(store->complete_trial(pending).code(), StatusCode::kInvalidArgument);

  ASSERT_TRUE(store->create_trial(kExp, 1, "{\"a\":3}").ok());
  ASSERT_TRUE(store->mark_running(kExp, 1).ok());
  ASSERT_TRUE(store->fail_trial(kExp, 1, "out of memory: KV cache needs 3.1 GiB, 2 GiB free").ok());
  auto failed = store->get_trial(kExp, 1);
  ASSERT_TRUE(failed.ok());
  EXPECT_EQ(failed->state, TrialState::kFailed);
  EXPECT_EQ(failed->failure_reason, "out of memory: KV cache needs 3.1 GiB, 2 GiB free");
  EXPECT_EQ(store->next_trial_id(kExp).value(), 2);
  auto all = store->list_trials(kExp);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].id, 0);
  EXPECT_EQ((*all)[1].id, 1);
  EXPECT_EQ(store->get_trial(kExp, 7).status().code(), StatusCode::kNotFound);
}

TEST_F(StudyStoreTest, StaleRunningTrialsGoBackToPending) {
  auto store = open_store();
  ASSERT_TRUE(store->ensure_experiment(experiment_row()).ok());
  for (int64_t id = 0; id < 3; ++id) ASSERT_TRUE(store->create_trial(kExp, id, "{\"i\":" + std::to_string(id) + "}").ok());
  ASSERT_TRUE(store->mark_running(kExp, 0, 100.0).ok());
  ASSERT_TRUE(store->mark_running(kExp, 1, 100.0).ok());
  ASSERT_TRUE(store->heartbeat(kExp, 1, 150.0).ok());
  // At t = 170 with a 30 s limit, trial 0 (heartbeat 100) is stale, trial 1 (150) is alive and
  // trial 2 was never started.
  auto stale = store->find_stale_running(kExp, 30.0, 170.0);
  ASSERT_TRUE(stale.ok()) << stale.status().to_string();
  EXPECT_EQ(stale.value(), std::vector<int64_t>{0});
  auto t0 = store->get_trial(kExp, 0).value();
  EXPECT_EQ(t0.state, TrialState::kPending);
  EXPECT_EQ(t0.attempts, 1);
  EXPECT_EQ(store->get_trial(kExp, 1).value().state, TrialState::kRunning);
  EXPECT_EQ(store->get_trial(kExp, 1).value().attempts, 0);
  // Retried and stale again: attempts counts every recovery.
  ASSERT_TRUE(store->mark_running(kExp, 0, 200.0).ok());
  EXPECT_EQ(store->find_stale_running(kExp, 30.0, 300.0).value(), (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(store->get_trial(kExp, 0).value().attempts, 2);
}

TEST_F(StudyStoreTest, MigratesAnOlderStudy) {
  {
    StudyOpenOptions v1;
    v1.target_version = 1;
    auto old = open_store(v1);
    ASSERT_TRUE(old);
    EXPECT_EQ(old->user_version().value(), 1);
    ASSERT_TRUE(old->ensure_experiment(experiment_row()).ok());
    ASSERT_TRUE(old->create_trial(kExp, 0, "{\"q\":\"f32\"}").ok());
  }
  auto store = open_store();
  ASSERT_TRUE(store);
  EXPECT_EQ(store->user_version().value(), 2);
  auto t = store->get_trial(kExp, 0);
  ASSERT_TRUE(t.ok()) << t.status().to_string();
  EXPECT_EQ(t->state, TrialState::kPending);
  EXPECT_EQ(t->attempts, 0);  // the column version 2 added, with its default
  EXPECT_EQ(t->configuration_json, "{\"q\":\"f32\"}");
  ASSERT_TRUE(store->set_baseline(kExp, full_record(0), 5.0).ok());  // a version-2 table
  EXPECT_TRUE(store->integrity_check().ok());

  // The migrations table records both steps.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM schema_migrations", -1, &st, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(st, 0), 2);
  sqlite3_finalize(st);
  sqlite3_close(db);
}

TEST_F(StudyStoreTest, RefusesNewerSchemaAndNonDatabases) {
  { ASSERT_TRUE(open_store()); }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "PRAGMA user_version = 99", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  auto newer = StudyStore::open(path_);
  ASSERT_FALSE(newer.ok());
  EXPECT_EQ(newer.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(newer.status().message().find("99"), std::string::npos);

  const std::string junk = dir_ + "/junk.db";
  std::ofstream(junk) << std::string(4096, 'x');
  auto bad = StudyStore::open(junk);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kDataLoss) << bad.status().to_string();
}

TEST_F(StudyStoreTest, BaselinesDriftAndFeedback) {
  auto store = open_store();
  ASSERT_TRUE(store->ensure_experiment(experiment_row()).ok());
  TrialRecord a = full_record(3);
  ASSERT_TRUE(store->set_baseline(kExp, a, 10.0).ok());
  a.efficiency = 2.5;
  ASSERT_TRUE(store->set_baseline(kExp, a, 20.0).ok());  // replaces: same configuration
  TrialRecord b = full_record(4);
  b.configuration_json = "{\"decoding\":\"greedy\"}";
  ASSERT_TRUE(store->set_baseline(kExp, b, 30.0).ok());
  auto all = store->list_baselines(kExp);
  ASSERT_TRUE(all.ok()) << all.status().to_string();
  ASSERT_EQ(all->size(), 2u);
  auto got = store->get_baseline(kExp, a.configuration_json).value();
  ASSERT_TRUE(got.has_value());
  EXPECT_DOUBLE_EQ(got->recorded_at, 20.0);
  EXPECT_DOUBLE_EQ(got->record.efficiency, 2.5);
  EXPECT_EQ(got->record.id, 3);
  EXPECT_FALSE(store->get_baseline(kExp, "{}").value().has_value());

  DriftRow d;
  d.experiment = kExp;
  d.run_at = 40.0;
  d.configuration_json = a.configuration_json;
  d.indicator = "accuracy";
  d.baseline = iv(0.6, 0.55, 0.65, 100);
  d.current = iv(0.4, 0.35, 0.45, 100);
  d.significant = true;
  d.test = "two-proportion-z";
  d.p_value = 1e-5;
  ASSERT_TRUE(store->add_drift_results({d, d}).ok());
  auto drift = store->list_drift_results(kExp).value();
  ASSERT_EQ(drift.size(), 2u);
  EXPECT_TRUE(drift[0].significant);
  EXPECT_EQ(drift[0].test, "two-proportion-z");
  EXPECT_DOUBLE_EQ(drift[0].p_value, 1e-5);
  expect_interval_eq(drift[1].current, d.current);
  DriftRow unknown = d;
  unknown.experiment = "nope";
  EXPECT_EQ(store->add_drift_results({d, unknown}).code(), StatusCode::kNotFound);
  EXPECT_EQ(store->list_drift_results(kExp).value().size(), 2u);  // the failed batch left nothing

  FeedbackRow f{kExp, "configuration", "q4_0-greedy", "stars", 4, "ratings.csv:2", 0};
  FeedbackRow g{kExp, "configuration", "q4_0-greedy", "stars", 2, "ratings.csv:3", 0};
  ASSERT_TRUE(store->add_feedback({f, g}).ok());
  auto fb = store->list_feedback(kExp).value();
  ASSERT_EQ(fb.size(), 2u);
  EXPECT_EQ(fb[1].source, "ratings.csv:3");
  EXPECT_DOUBLE_EQ(fb[0].value, 4);
  EXPECT_GT(fb[0].imported_at, 1.6e9);
}

TEST_F(StudyStoreTest, SecondConnectionSeesCommittedTrials) {
  auto writer = open_store();
  auto reader = open_store();
  ASSERT_TRUE(writer->ensure_experiment(experiment_row()).ok());
  ASSERT_TRUE(writer->create_trial(kExp, 0, "{}").ok());
  auto seen = reader->list_trials(kExp);
  ASSERT_TRUE(seen.ok()) << seen.status().to_string();
  EXPECT_EQ(seen->size(), 1u);
}

// The child process of the crash test: recovers stale trials, finishes every unfinished trial and
// adds new ones up to `total`, writing each id to `report_fd` after its complete_trial committed.
[[noreturn]] void crash_child(const std::string& path, int report_fd, int64_t total) {
  auto opened = StudyStore::open(path);
  if (!opened.ok()) _exit(10);
  auto& store = *opened.value();
  ExperimentRow row;
  row.name = kExp;
  row.yaml_text = "crash";
  if (!store.ensure_experiment(row).ok()) _exit(11);
  if (!store.find_stale_running(kExp, 0.0, StudyStore::now_unix_s() + 1).ok()) _exit(12);
  auto trials = store.list_trials(kExp);
  if (!trials.ok()) _exit(13);
  std::set<int64_t> done;
  for (const auto& t : trials.value()) {
    if (t.state == TrialState::kComplete) done.insert(t.id);
  }
  for (int64_t id = 0; id < total; ++id) {
    if (done.count(id)) continue;
    TrialRecord r = full_record(id);
    r.configuration_json = "{\"i\":" + std::to_string(id) + "}";
    r.efficiency = 0.5 * static_cast<double>(id);
    r.finished_at = 0;
    r.started_at = 0;
    if (!store.create_trial(kExp, id, r.configuration_json).ok()) _exit(14);
    if (!store.mark_running(kExp, id).ok()) _exit(15);
    if (!store.heartbeat(kExp, id).ok()) _exit(16);
    if (!store.complete_trial(r).ok()) _exit(17);
    if (write(report_fd, &id, sizeof(id)) != static_cast<ssize_t>(sizeof(id))) _exit(18);
  }
  _exit(0);
}

// Kills a writer at random moments; after every kill the study opens, is intact, keeps every trial
// the writer saw committed, and holds each complete trial exactly once with its own data.
TEST_F(StudyStoreTest, SurvivesSigkillAtRandomMoments) {
  constexpr int kKills = 24;
  constexpr int64_t kTotal = 240;
  std::mt19937 rng(20240611);
  std::uniform_int_distribution<int> delay_us(0, 40'000);
  std::set<int64_t> reported;
  int kills_that_interrupted = 0;

  auto run_child = [&](bool kill_it) {
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      close(fds[0]);
      crash_child(path_, fds[1], kTotal);
    }
    close(fds[1]);
    int status = 0;
    if (kill_it) {
      usleep(static_cast<useconds_t>(delay_us(rng)));
      kill(pid, SIGKILL);
    }
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    if (kill_it && WIFSIGNALED(status)) ++kills_that_interrupted;
    if (!kill_it || WIFEXITED(status)) {
      EXPECT_EQ(WEXITSTATUS(status), 0) << "child failed";
    }
    int64_t id = 0;
    while (read(fds[0], &id, sizeof(id)) == static_cast<ssize_t>(sizeof(id))) reported.insert(id);
    close(fds[0]);

    auto store = StudyStore::open(path_);
    ASSERT_TRUE(store.ok()) << store.status().to_string();
    ASSERT_TRUE(store.value()->integrity_check().ok());
    auto exp = store.value()->find_experiment(kExp);
    ASSERT_TRUE(exp.ok());
    if (!exp->has_value()) {
      EXPECT_TRUE(reported.empty());
      return;
    }
    auto trials = store.value()->list_trials(kExp);
    ASSERT_TRUE(trials.ok()) << trials.status().to_string();
    std::set<int64_t> complete;
    for (const auto& t : trials.value()) {
      if (t.state != TrialState::kComplete) continue;
      EXPECT_TRUE(complete.insert(t.id).second) << "trial " << t.id << " twice";
      EXPECT_DOUBLE_EQ(t.efficiency, 0.5 * static_cast<double>(t.id));
      EXPECT_EQ(t.configuration_json, "{\"i\":" + std::to_string(t.id) + "}");
    }
    for (int64_t r : reported) EXPECT_TRUE(complete.count(r)) << "committed trial " << r << " was lost";
  };

  for (int k = 0; k < kKills; ++k) run_child(true);
  run_child(false);  // the final resume finishes the study

  EXPECT_GE(kills_that_interrupted, kKills / 2) << "the kills should land while the child works";
  auto store = open_store();
  auto trials = store->list_trials(kExp).value();
  ASSERT_EQ(trials.size(), static_cast<size_t>(kTotal));
  for (int64_t i = 0; i < kTotal; ++i) {
    EXPECT_EQ(trials[i].id, i);
    EXPECT_EQ(trials[i].state, TrialState::kComplete);
  }
  EXPECT_TRUE(store->integrity_check().ok());
}

}  // namespace
}  // namespace effitune::orchestrator
