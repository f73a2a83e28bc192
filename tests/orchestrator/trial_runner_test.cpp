// Trial isolation: a crash (injected abort), a non-zero exit or a hang (timeout) of a trial's child
// process is recorded as a failed trial with its reason, and the study goes on.
#include "effitune/orchestrator/trial_runner.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include "effitune/orchestrator/study_json.h"
#include "effitune/orchestrator/study_store.h"
#include "effitune/orchestrator/tuner.h"
#include "support/paths.h"

namespace effitune::orchestrator {
namespace {

ChildOptions fast(double timeout_s) {
  ChildOptions o;
  o.timeout_s = timeout_s;
  o.heartbeat_interval_s = 0.05;
  return o;
}

TEST(RunChild, AbortIsNamedWithStderr) {
  auto r = run_child({"/bin/sh", "-c", "echo 'check failed: kv blocks' >&2; kill -ABRT $$"}, fast(10), nullptr);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->exited);
  EXPECT_FALSE(r->timed_out);
  EXPECT_EQ(signal_name(r->signal), "SIGABRT");
  const std::string why = describe_child_failure(*r);
  EXPECT_NE(why.find("SIGABRT"), std::string::npos) << why;
  EXPECT_NE(why.find("check failed: kv blocks"), std::string::npos) << why;
}

TEST(RunChild, ExitCode) {
  auto r = run_child({"/bin/sh", "-c", "exit 3"}, fast(10), nullptr);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->exited);
  EXPECT_EQ(r->exit_code, 3);
  EXPECT_NE(describe_child_failure(*r).find("exited with code 3"), std::string::npos);
}

TEST(RunChild, TimeoutKillsTheProcessGroupAndHeartbeats) {
  int beats = 0;
  // The grandchild (sleep) holds stderr open; the group kill must end it too or we would hang.
  auto r = run_child({"/bin/sh", "-c", "sleep 30 & sleep 30"}, fast(0.6), [&] { ++beats; });
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->timed_out);
  EXPECT_LT(r->wall_s, 5.0);
  EXPECT_GE(beats, 5);
  EXPECT_NE(describe_child_failure(*r).find("timed out"), std::string::npos);
}

TEST(RunChild, MissingExecutable) {
  auto r = run_child({"/nonexistent/effitune"}, fast(5), nullptr);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->exited);
  EXPECT_EQ(r->exit_code, 127);
}

// A stand-in for `effitune trial`: reads --config and --out like the real child, copies a prepared
// record for good configurations, aborts for "crash", exits 2 for "error" and hangs for "hang".
std::string write_fake_trial(const std::string& dir, const std::string& record_path) {
  const std::string path = dir + "/fake_trial.sh";
  std::ofstream f(path);
  f << "#!/bin/sh\n"
       "while [ $# -gt 0 ]; do\n"
       "  case \"$1\" in --config) CONFIG=\"$2\"; shift;; --out) OUT=\"$2\"; shift;; esac; shift\n"
       "done\n"
       "case \"$CONFIG\" in\n"
       "  *crash*) echo 'injected abort' >&2; kill -ABRT $$;;\n"
       "  *error*) echo 'effitune trial: RESOURCE_EXHAUSTED: weights do not fit' >&2; exit 2;;\n"
       "  *hang*) sleep 60;;\n"
       "esac\n"
       "cp '" << record_path << "' \"$OUT\"\n";
  f.close();
  chmod(path.c_str(), 0755);
  return path;
}

TEST(ChildProcessRunner, FailuresAreRecordedAndTheStudyGoesOn) {
  const std::string dir = testing::make_temp_dir("trial-runner");
  TrialRecord good;
  good.efficiency = 1.5;
  good.efficiency_interval = {1.5, 1.4, 1.6, 20};
  good.feasible = true;
  good.state = TrialState::kComplete;
  {
    std::ofstream f(dir + "/good.json");
    f << trial_to_json(good);
  }
  ChildRunnerOptions ro;
  ro.executable = write_fake_trial(dir, dir + "/good.json");
  ro.experiment_path = dir + "/unused.yaml";
  ro.work_dir = dir;
  ro.child = fast(1.0);
  ChildProcessRunner runner(ro);

  Experiment ex;
  ex.name = "isolation";
  ex.yaml_text = "name: isolation";
  ex.model.path = "synthetic:tiny";
  ex.goal.requests_per_s = 1;
  ex.objective.e1_patience = 100;  // three failures in a row would otherwise read as E1
  ASSERT_TRUE(ex.space.add_categorical("mode", {"ok", "crash", "error", "hang", "fine"}).ok());
  ex.strategy.name = "grid";
  ex.strategy.max_trials = 5;
  auto store = StudyStore::open(dir + "/study.db");
  ASSERT_TRUE(store.ok());
  TunerOptions o;
  o.progress = false;
  auto s = run_study(ex, **store, runner, o);
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  EXPECT_EQ(s->complete, 2);
  EXPECT_EQ(s->failed, 3);
  auto trials = (*store)->list_trials("isolation");
  ASSERT_TRUE(trials.ok());
  std::map<std::string, TrialRecord> by_mode;
  for (const auto& t : *trials) by_mode[*configuration_from_json(t.configuration_json)->get_string("mode")] = t;
  EXPECT_EQ(by_mode["ok"].state, TrialState::kComplete);
  EXPECT_DOUBLE_EQ(by_mode["ok"].efficiency, 1.5);
  EXPECT_EQ(by_mode["fine"].state, TrialState::kComplete);
  EXPECT_EQ(by_mode["crash"].state, TrialState::kFailed);
  EXPECT_NE(by_mode["crash"].failure_reason.find("SIGABRT"), std::string::npos) << by_mode["crash"].failure_reason;
  EXPECT_NE(by_mode["crash"].failure_reason.find("injected abort"), std::string::npos);
  EXPECT_EQ(by_mode["error"].state, TrialState::kFailed);
  EXPECT_NE(by_mode["error"].failure_reason.find("exited with code 2"), std::string::npos);
  EXPECT_NE(by_mode["error"].failure_reason.find("RESOURCE_EXHAUSTED"), std::string::npos);
  EXPECT_EQ(by_mode["hang"].state, TrialState::kFailed);
  EXPECT_NE(by_mode["hang"].failure_reason.find("timed out"), std::string::npos);
  ASSERT_TRUE(s->best.has_value());
}

TEST(IcsArgument, RoundTripsAndRejectsBadValues) {
  IcsEstimate in{{0.625, 0.3057, 0.8632, 8}, "study"};
  auto out = ics_from_json(ics_to_json(in));
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  EXPECT_EQ(out->interval.value, 0.625);
  EXPECT_EQ(out->interval.ci_low, 0.3057);
  EXPECT_EQ(out->interval.ci_high, 0.8632);
  EXPECT_EQ(out->interval.n, 8);
  EXPECT_EQ(out->source, "study");
  EXPECT_FALSE(ics_from_json("{\"value\":1.5,\"ci_low\":0,\"ci_high\":1,\"n\":3,\"source\":\"x\"}").ok());
  EXPECT_FALSE(ics_from_json("{\"value\":0.2,\"ci_low\":0.5,\"ci_high\":1,\"n\":3,\"source\":\"x\"}").ok());
  EXPECT_FALSE(ics_from_json("{\"value\":0.5,\"ci_low\":0,\"ci_high\":1,\"n\":-1,\"source\":\"x\"}").ok());
  EXPECT_FALSE(ics_from_json("{\"value\":0.5,\"ci_low\":0,\"ci_high\":1,\"n\":3}").ok());
  EXPECT_FALSE(ics_from_json("[0.5]").ok());
}

}  // namespace
}  // namespace effitune::orchestrator
