// The tuning loop on a fake trial function (no engine): the ask/tell loop, failures as data, and
// resume after SIGKILL at random moments (no complete trial lost or repeated).
#include "effitune/orchestrator/tuner.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <map>
#include <random>
#include <thread>

#include "effitune/orchestrator/nightly.h"
#include "effitune/orchestrator/study_json.h"
#include "effitune/orchestrator/study_store.h"
#include "support/paths.h"

namespace effitune::orchestrator {
namespace {

Experiment fake_experiment(const std::string& strategy, int64_t max_trials) {
  Experiment ex;
  ex.name = "fake";
  ex.yaml_text = "name: fake  # built in tuner_test.cpp";
  ex.model.path = "synthetic:tiny";
  ex.goal.requests_per_s = 1;
  ex.objective.r0_usd_per_hour = 10;
  ex.objective.e1_patience = 1000;  // these tests run the whole budget
  EXPECT_TRUE(ex.space.add_integer("x", 0, 30).ok());
  EXPECT_TRUE(ex.space.add_categorical("mode", {"a", "b", "c"}).ok());
  ex.strategy.name = strategy;
  ex.strategy.max_trials = max_trials;
  ex.seed = 11;
  return ex;
}

// A landscape with its optimum at x = 21, mode = b; mode c with x divisible by 4 "crashes".
double landscape(const search::Configuration& c) {
  const double x = static_cast<double>(*c.get_int("x"));
  const std::string m = *c.get_string("mode");
  return (m == "b" ? 2.0 : 1.0) - (x - 21) * (x - 21) / 400.0;
}

TrialRunOutcome fake_measure(const search::Trial& t, const std::string& nonce) {
  TrialRunOutcome out;
  if (*t.configuration.get_string("mode") == "c" && *t.configuration.get_int("x") % 4 == 0) {
    out.failure_reason = "crashed: killed by SIGABRT (injected)";
    return out;
  }
  const double e = landscape(t.configuration);
  out.ok = true;
  out.record.efficiency = e;
  out.record.efficiency_interval = {e, e - 0.001, e + 0.001, 10};
  out.record.indicators.quality = {0.5, 0.4, 0.6, 10};
  out.record.feasible = true;
  out.record.measurements_json = "{\"nonce\":\"" + nonce + "\"}";
  return out;
}

TunerOptions quiet(bool resume) {
  TunerOptions o;
  o.resume = resume;
  o.progress = false;
  return o;
}

TEST(Tuner, RunsTheBudgetAndRecordsFailures) {
  const std::string dir = testing::make_temp_dir("tuner");
  auto store = StudyStore::open(dir + "/study.db");
  ASSERT_TRUE(store.ok()) << store.status().to_string();
  Experiment ex = fake_experiment("random", 25);
  int calls = 0;
  FunctionTrialRunner runner([&](const search::Trial& t, const Heartbeat& beat) {
    ++calls;
    beat();
    return fake_measure(t, std::to_string(calls));
  });
  auto s = run_study(ex, **store, runner, quiet(false));
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  EXPECT_EQ(calls, 25);
  EXPECT_EQ(s->complete + s->failed, 25);
  EXPECT_EQ(s->run_now, 25);
  auto trials = (*store)->list_trials("fake");
  ASSERT_TRUE(trials.ok());
  ASSERT_EQ(trials->size(), 25u);
  double best = -1e9;
  int failed = 0;
  for (const auto& t : *trials) {
    auto c = configuration_from_json(t.configuration_json);
    ASSERT_TRUE(c.ok());
    if (t.state == TrialState::kFailed) {
      ++failed;
      EXPECT_NE(t.failure_reason.find("SIGABRT"), std::string::npos);
      EXPECT_EQ(*c->get_string("mode"), "c");
    } else {
      ASSERT_EQ(t.state, TrialState::kComplete);
      EXPECT_DOUBLE_EQ(t.efficiency, landscape(*c));
      best = std::max(best, t.efficiency);
    }
  }
  EXPECT_EQ(failed, s->failed);
  ASSERT_TRUE(s->best.has_value());
  EXPECT_DOUBLE_EQ(s->best->efficiency, best);
  EXPECT_NE(s->stop_reason.find("max_trials"), std::string::npos);

  // A second run without --resume is refused; with it, the budget is already spent.
  EXPECT_EQ(run_study(ex, **store, runner, quiet(false)).status().code(), StatusCode::kFailedPrecondition);
  auto again = run_study(ex, **store, runner, quiet(true));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->run_now, 0);
  EXPECT_EQ(again->replayed, 25);
  EXPECT_EQ(calls, 25);
}

TEST(Tuner, IcsWeightWithoutRatingsIsRefusedBeforeAnyTrial) {
  const std::string dir = testing::make_temp_dir("tuner-ics");
  auto store = StudyStore::open(dir + "/study.db");
  ASSERT_TRUE(store.ok());
  Experiment ex = fake_experiment("random", 3);
  ex.objective.weights.ics = 1;
  int calls = 0;
  FunctionTrialRunner runner([&](const search::Trial& t, const Heartbeat&) {
    ++calls;
    return fake_measure(t, "ics");
  });
  auto s = run_study(ex, **store, runner, quiet(false));
  ASSERT_EQ(s.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(s.status().message().find("feedback import"), std::string::npos) << s.status().message();
  EXPECT_EQ(calls, 0);
  EXPECT_TRUE((*store)->list_trials("fake")->empty());
  // The experiment is recorded, so ratings can be imported into it; then the same run goes ahead.
  ASSERT_TRUE((*store)->add_feedback({{"fake", "configuration", "x=3,mode=b", "thumbs", 1, "r.csv:2", 0}}).ok());
  auto again = run_study(ex, **store, runner, quiet(false));
  ASSERT_TRUE(again.ok()) << again.status().to_string();
  EXPECT_EQ(calls, 3);
}

TEST(Tuner, TpeFindsTheOptimumRegion) {
  const std::string dir = testing::make_temp_dir("tuner-tpe");
  auto store = StudyStore::open(dir + "/study.db");
  ASSERT_TRUE(store.ok());
  Experiment ex = fake_experiment("tpe", 40);
  FunctionTrialRunner runner([&](const search::Trial& t, const Heartbeat&) { return fake_measure(t, "n"); });
  auto s = run_study(ex, **store, runner, quiet(false));
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  ASSERT_TRUE(s->best.has_value());
  EXPECT_GT(s->best->efficiency, 1.95);  // within 5 of x = 21 in mode b
}

TEST(Tuner, StopsAtE1) {
  const std::string dir = testing::make_temp_dir("tuner-e1");
  auto store = StudyStore::open(dir + "/study.db");
  ASSERT_TRUE(store.ok());
  Experiment ex = fake_experiment("random", 200);
  ex.objective.e1_patience = 4;
  FunctionTrialRunner runner([&](const search::Trial& t, const Heartbeat&) { return fake_measure(t, "n"); });
  auto s = run_study(ex, **store, runner, quiet(false));
  ASSERT_TRUE(s.ok());
  EXPECT_TRUE(s->e1.reached);
  EXPECT_NE(s->stop_reason.find("E1"), std::string::npos);
  EXPECT_LT(s->complete + s->failed, 200);
}

// The child: resumes the study and runs it to the end, each trial taking a few milliseconds.
[[noreturn]] void child_run(const std::string& db, const Experiment& ex) {
  auto store = StudyStore::open(db);
  if (!store.ok()) _exit(3);
  const std::string pid = std::to_string(getpid());
  int calls = 0;
  FunctionTrialRunner runner([&](const search::Trial& t, const Heartbeat& beat) {
    // 10 ms a trial: the 60 trials need 600 ms of the children's time, more than 25 kill windows of at
    // most 22 ms give them, so every run makes its 25 kills (with 4 ms and windows up to 62 ms a fast
    // machine finished the study after 16).
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    beat();
    return fake_measure(t, pid + "-" + std::to_string(++calls));
  });
  TunerOptions o = quiet(true);
  o.max_attempts = 1000;  // kills come faster than trials here; never abandon one
  auto s = run_study(ex, **store, runner, o);
  _exit(s.ok() ? 0 : 4);
}

TEST(Tuner, SigkillAtRandomMomentsLosesAndRepeatsNothing) {
  const std::string dir = testing::make_temp_dir("tuner-kill");
  Experiment ex = fake_experiment("tpe", 60);

  // The uninterrupted study, for the sequence of configurations a resumed one must reproduce.
  std::vector<std::string> want;
  {
    auto ref = StudyStore::open(dir + "/reference.db");
    ASSERT_TRUE(ref.ok());
    FunctionTrialRunner runner([&](const search::Trial& t, const Heartbeat&) { return fake_measure(t, "ref"); });
    ASSERT_TRUE(run_study(ex, **ref, runner, quiet(false)).ok());
    auto ref_trials = (*ref)->list_trials("fake");
    ASSERT_TRUE(ref_trials.ok());
    for (const auto& t : *ref_trials) want.push_back(t.configuration_json);
    ASSERT_EQ(want.size(), 60u);
  }

  const std::string db = dir + "/killed.db";
  std::mt19937_64 rng(20240601);
  std::map<int64_t, std::string> complete_nonce;  // trial id -> the measurement that completed it
  int kills = 0;
  bool finished = false;
  for (int round = 0; round < 200 && !finished; ++round) {
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) child_run(db, ex);
    int status = 0;
    if (kills < 25) {
      std::this_thread::sleep_for(std::chrono::microseconds(2000 + rng() % 20000));
      kill(pid, SIGKILL);
    }
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    if (WIFSIGNALED(status)) {
      ++kills;
    } else {
      ASSERT_EQ(WEXITSTATUS(status), 0) << "a resume failed (4: run_study returned an error)";
      finished = true;
    }
    auto store = StudyStore::open(db);
    ASSERT_TRUE(store.ok()) << store.status().to_string();
    ASSERT_TRUE((*store)->integrity_check().ok());
    auto trials = (*store)->list_trials("fake");
    // Killed before the experiment row was written: nothing to check yet.
    if (!trials.ok() && trials.status().code() == StatusCode::kNotFound) continue;
    ASSERT_TRUE(trials.ok()) << trials.status().to_string();
    for (const auto& t : *trials) {
      ASSERT_LT(static_cast<size_t>(t.id), want.size());
      EXPECT_EQ(t.configuration_json, want[static_cast<size_t>(t.id)]) << "trial " << t.id;
      if (t.state != TrialState::kComplete) continue;
      auto it = complete_nonce.find(t.id);
      if (it == complete_nonce.end()) {
        complete_nonce[t.id] = t.measurements_json;
      } else {
        EXPECT_EQ(it->second, t.measurements_json) << "trial " << t.id << " was measured twice";
      }
    }
    for (const auto& [id, nonce] : complete_nonce) {
      bool still = false;
      for (const auto& t : *trials) still = still || (t.id == id && t.state == TrialState::kComplete);
      EXPECT_TRUE(still) << "complete trial " << id << " was lost";
    }
  }
  EXPECT_GE(kills, 20);
  ASSERT_TRUE(finished);
  auto store = StudyStore::open(db);
  ASSERT_TRUE(store.ok());
  auto trials = (*store)->list_trials("fake");
  ASSERT_EQ(trials->size(), 60u);
  for (const auto& t : *trials) {
    EXPECT_TRUE(t.state == TrialState::kComplete || t.state == TrialState::kFailed) << "trial " << t.id;
  }
}

}  // namespace
}  // namespace effitune::orchestrator

namespace effitune::orchestrator {
namespace {

TEST(Nightly, ComparesWithTheBaselineAndSetsTheExitCode) {
  const std::string dir = testing::make_temp_dir("nightly");
  auto store = StudyStore::open(dir + "/study.db");
  ASSERT_TRUE(store.ok());
  Experiment ex = fake_experiment("grid", 6);
  ex.space = search::Space();
  ASSERT_TRUE(ex.space.add_categorical("mode", {"a", "b"}).ok());
  // Night 0: the study. P 0.9 of 200 requests for both configurations.
  auto measured = [](double p, bool feasible) {
    TrialRunOutcome out;
    out.ok = true;
    out.record.indicators.performance = {p, p - 0.04, std::min(1.0, p + 0.04), 200};
    out.record.indicators.quality = {0.8, 0.75, 0.85, 200};
    out.record.efficiency = 0.8;
    out.record.efficiency_interval = {0.8, 0.75, 0.85, 200};
    out.record.feasible = feasible;
    return out;
  };
  FunctionTrialRunner study([&](const search::Trial&, const Heartbeat&) { return measured(0.9, true); });
  ASSERT_TRUE(run_study(ex, **store, study, quiet(false)).ok());

  NightlyOptions o;
  o.top = 2;
  // Night 1: nothing changed.
  auto same = run_nightly(ex, **store, study, o);
  ASSERT_TRUE(same.ok()) << same.status().to_string();
  EXPECT_EQ(same->exit_code, kNightlyOk) << same->text;
  EXPECT_EQ(same->remeasured.size(), 2u);
  // Night 2: P fell from 0.9 to 0.7 of 200 (z about 5): quality drift.
  FunctionTrialRunner worse([&](const search::Trial&, const Heartbeat&) { return measured(0.7, true); });
  auto drift = run_nightly(ex, **store, worse, o);
  ASSERT_TRUE(drift.ok());
  EXPECT_EQ(drift->exit_code, kNightlyQualityDrift) << drift->text;
  bool flagged = false;
  for (const auto& d : drift->drift) flagged = flagged || (d.indicator == "performance" && d.significant && d.p_value < 1e-4);
  EXPECT_TRUE(flagged);
  // Night 3: the incumbent crashes: the goal is no longer met.
  FunctionTrialRunner broken([&](const search::Trial&, const Heartbeat&) {
    TrialRunOutcome out;
    out.failure_reason = "crashed: killed by SIGSEGV";
    return out;
  });
  auto missed = run_nightly(ex, **store, broken, o);
  ASSERT_TRUE(missed.ok());
  EXPECT_EQ(missed->exit_code, kNightlyGoalMissed) << missed->text;
  auto rows = (*store)->list_drift_results("fake");
  ASSERT_TRUE(rows.ok());
  EXPECT_GE(rows->size(), 12u);  // two nights x two configurations x (P, C, Cm, A, Q, E)
}

TEST(Nightly, TwoProportionAndIntervalTests) {
  // 180/200 vs 140/200: pooled p = 0.8, z = 0.2 / sqrt(0.8 * 0.2 * (2 / 200)) = 5.0.
  DriftRow d = compare_indicator("performance", {0.9, 0.85, 0.93, 200}, {0.7, 0.64, 0.76, 200}, true, 0.05);
  EXPECT_EQ(d.test, "two-proportion-z");
  EXPECT_TRUE(d.significant);
  EXPECT_LT(d.p_value, 1e-5);
  d = compare_indicator("accuracy", {0.8, 0.7, 0.9, 50}, {0.75, 0.65, 0.85, 50}, false, 0.05);
  EXPECT_EQ(d.test, "intervals-separate");
  EXPECT_FALSE(d.significant);
  d = compare_indicator("accuracy", {0.8, 0.75, 0.85, 50}, {0.6, 0.55, 0.7, 50}, false, 0.05);
  EXPECT_TRUE(d.significant);
}

}  // namespace
}  // namespace effitune::orchestrator
