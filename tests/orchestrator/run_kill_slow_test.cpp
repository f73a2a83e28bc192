// Acceptance 2 against the real binary: `effitune run` on a fast experiment with the shipped task
// model (real trials: quality probe, capacity search, P at the goal, each in its child process) is
// SIGKILLed at seeded random moments at least 20 times and resumed with --resume until the study
// completes. After every kill the study file passes PRAGMA integrity_check, no complete trial was
// lost or rewritten, no trial id changed its configuration, and no trial process outlived the run;
// at the end every configuration of the grid is complete exactly once and `effitune run` exits 0.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "effitune/orchestrator/study_json.h"
#include "effitune/orchestrator/study_store.h"
#include "support/paths.h"

namespace effitune::orchestrator {
namespace {

namespace fs = std::filesystem;

constexpr int kMinKills = 20;
constexpr int kMaxKills = 40;                // then one run is left to finish the study
constexpr double kTimeBudgetS = 280;         // the whole test, kills and final run included
constexpr size_t kGridSize = 8;              // 2 history budgets x 2 response budgets x 2 quantizations

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Small enough that one trial takes a second or two on a busy 2-core machine, yet every step is real.
std::string write_experiment(const std::string& dir) {
  const std::string desk = testing::source_dir() + "/experiments/support-desk";
  const std::string path = dir + "/kill.yaml";
  std::ofstream f(path);
  f << "name: kill-resume\n"
       "model: " << desk << "/model.gguf\n"
       "engine: {backend: cpu, threads: 1, max_sequences: 4}\n"
       "workload:\n"
       "  eval_set: " << desk << "/dev.jsonl\n"
       "  items: 3\n"
       "  load_test_s: 0.2\n"
       "  warmup_s: 0.05\n"
       "  capacity_probes: 3\n"
       "goal: {requests_per_s: 5}\n"
       "slo: {e2e_p95_ms: 500}\n"
       "objective: {r0_usd_per_hour: 5, e0: 0, e1_patience: 1000}\n"
       "prices: {usd_per_cpu_core_hour: 0.05}\n"
       "space:\n"
       "  - {name: history_budget, type: int, lo: 96, hi: 224, step: 128}\n"
       "  - {name: response_budget, type: int, lo: 8, hi: 16, step: 8}\n"
       "  - {name: quant, type: categorical, values: [f32, q8_0]}\n"
       "strategy: {name: grid, max_trials: 8}\n"
       "seed: 3\n";
  return path;
}

pid_t spawn(const std::vector<std::string>& argv, const std::string& log) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, STDOUT_FILENO);
      dup2(fd, STDERR_FILENO);
    }
    execv(args[0], args.data());
    _exit(127);
  }
  return pid;
}

// Processes (other than us) whose command line mentions `needle`: trial children left behind.
std::vector<pid_t> processes_mentioning(const std::string& needle) {
  std::vector<pid_t> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || !std::all_of(name.begin(), name.end(), ::isdigit)) continue;
    std::ifstream in(entry.path() / "cmdline", std::ios::binary);
    std::string cmd((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (cmd.find(needle) != std::string::npos && std::stoi(name) != getpid()) out.push_back(std::stoi(name));
  }
  return out;
}

std::string tail_of(const std::string& path, size_t bytes = 3000) {
  std::ifstream in(path, std::ios::binary);
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return s.size() > bytes ? s.substr(s.size() - bytes) : s;
}

TEST(RunKillResume, RealBinarySurvivesRandomSigkills) {
  const std::string exe = testing::binary_dir() + "/cli/effitune";
  ASSERT_TRUE(fs::exists(exe)) << exe << " is missing: build the `effitune` target first";
  const std::string dir = testing::make_temp_dir("run-kill");
  const std::string yaml = write_experiment(dir);
  const std::string db = dir + "/study.db";
  const std::string log = dir + "/run.log";

  std::mt19937_64 rng(20251125);
  std::map<int64_t, TrialRecord> complete;    // every complete trial seen so far, as first seen
  std::map<int64_t, std::string> config_of;   // trial id -> configuration, for every trial ever seen
  double trial_s = 2.0;                       // running estimate of one trial's wall time
  int kills = 0;
  int runs = 0;
  int final_exit = -1;
  const double start = now_s();

  auto check_study = [&](const std::string& when) {
    auto store = StudyStore::open(db);
    ASSERT_TRUE(store.ok()) << when << ": " << store.status().to_string();
    Status integrity = (*store)->integrity_check();
    ASSERT_TRUE(integrity.ok()) << when << ": " << integrity.to_string();
    auto trials = (*store)->list_trials("kill-resume");
    if (!trials.ok() && trials.status().code() == StatusCode::kNotFound) return;  // killed before the experiment row
    ASSERT_TRUE(trials.ok()) << when << ": " << trials.status().to_string();
    std::set<std::string> complete_configs;
    std::vector<double> durations;
    for (const auto& t : *trials) {
      auto [it, fresh] = config_of.emplace(t.id, t.configuration_json);
      EXPECT_EQ(it->second, t.configuration_json) << when << ": trial " << t.id << " changed its configuration";
      if (t.state == TrialState::kComplete) {
        EXPECT_TRUE(complete_configs.insert(t.configuration_json).second)
            << when << ": configuration " << t.configuration_json << " is complete twice";
        durations.push_back(t.finished_at - t.started_at);
        auto [was, first] = complete.emplace(t.id, t);
        if (!first) {  // written once: the stored row is exactly what it was when first seen complete
          EXPECT_EQ(was->second.finished_at, t.finished_at) << when << ": trial " << t.id << " was rewritten";
          EXPECT_EQ(was->second.efficiency, t.efficiency) << when << ": trial " << t.id;
          EXPECT_EQ(was->second.measurements_json, t.measurements_json) << when << ": trial " << t.id;
        }
      } else {
        EXPECT_NE(t.state, TrialState::kFailed) << when << ": trial " << t.id << " failed: " << t.failure_reason;
      }
    }
    for (const auto& [id, rec] : complete) {
      bool still = std::any_of(trials->begin(), trials->end(),
                               [&](const TrialRecord& t) { return t.id == id && t.state == TrialState::kComplete; });
      EXPECT_TRUE(still) << when << ": complete trial " << id << " was lost";
    }
    if (!durations.empty()) {
      std::sort(durations.begin(), durations.end());
      trial_s = std::clamp(durations[durations.size() / 2], 0.3, 10.0);
    }
  };

  while (true) {
    ASSERT_LT(now_s() - start, kTimeBudgetS) << "out of time after " << kills << " kills; log:\n" << tail_of(log);
    std::vector<std::string> argv = {exe, "run", yaml, "--db", db, "--quiet", "--max-attempts", "1000"};
    if (runs > 0) argv.push_back("--resume");
    std::ofstream(log, std::ios::app) << "=== run " << runs << "\n";
    const pid_t pid = spawn(argv, log);
    ASSERT_GT(pid, 0);
    ++runs;
    const bool kill_this = kills < kMaxKills;
    // Uniform over a little more than one trial: most kills land inside a trial (the child measuring,
    // the heartbeat writing), some at start-up, between trials or inside the commit, and about one
    // run in six completes a trial, so the study advances slowly while the kills keep coming; after
    // kMaxKills one run is left alone to finish what remains.
    const double delay = std::uniform_real_distribution<double>(0.0, 0.3 + 1.2 * trial_s)(rng);
    const double deadline = now_s() + (kill_this ? delay : kTimeBudgetS);
    int status = 0;
    pid_t done = 0;
    while ((done = waitpid(pid, &status, WNOHANG)) == 0 && now_s() < deadline && now_s() - start < kTimeBudgetS) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    if (done == 0) {
      kill(pid, SIGKILL);
      ASSERT_EQ(waitpid(pid, &status, 0), pid);
      ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
      ++kills;
      // PR_SET_PDEATHSIG: the trial child dies with the run instead of measuring on unobserved.
      std::vector<pid_t> left;
      for (int i = 0; i < 300; ++i) {
        left = processes_mentioning(yaml);
        if (left.empty()) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      EXPECT_TRUE(left.empty()) << "a trial process outlived the killed run";
      check_study("after kill " + std::to_string(kills) + " (at " + std::to_string(delay) + " s)");
      if (::testing::Test::HasFatalFailure()) return;
      continue;
    }
    ASSERT_TRUE(WIFEXITED(status)) << "run " << runs << " ended by signal " << WTERMSIG(status) << "; log:\n" << tail_of(log);
    final_exit = WEXITSTATUS(status);
    break;
  }
  const double wall = now_s() - start;
  EXPECT_EQ(final_exit, 0) << tail_of(log);
  check_study("at the end");
  EXPECT_GE(kills, kMinKills) << "the study completed before enough kills; shorten the kill delays";

  auto store = StudyStore::open(db);
  ASSERT_TRUE(store.ok());
  auto trials = (*store)->list_trials("kill-resume");
  ASSERT_TRUE(trials.ok());
  ASSERT_EQ(trials->size(), kGridSize) << tail_of(log);
  std::set<std::string> configs;
  int64_t retried = 0;
  for (const auto& t : *trials) {
    EXPECT_EQ(t.state, TrialState::kComplete) << "trial " << t.id << ": " << t.failure_reason;
    EXPECT_GT(t.efficiency, 0) << "trial " << t.id;
    configs.insert(t.configuration_json);
    retried += t.attempts;
  }
  // The grid's 8 points, each once (checked independently of the strategy's own bookkeeping).
  std::set<std::string> want;
  for (int h : {96, 224}) {
    for (int r : {8, 16}) {
      for (const char* q : {"f32", "q8_0"}) {
        want.insert("{\"history_budget\":" + std::to_string(h) + ",\"quant\":\"" + q + "\",\"response_budget\":" +
                    std::to_string(r) + "}");
      }
    }
  }
  EXPECT_EQ(configs, want);
  EXPECT_GE(retried, 1) << "no kill interrupted a running trial";
  EXPECT_NE(tail_of(log).find("study: 8 complete"), std::string::npos) << tail_of(log);
  std::printf("kill/resume: %d kills over %d runs, %lld interrupted trial attempts retried, %.1f s wall\n", kills,
              runs, static_cast<long long>(retried), wall);
  RecordProperty("kills", kills);
  RecordProperty("wall_s", static_cast<int>(wall));
}

}  // namespace
}  // namespace effitune::orchestrator
