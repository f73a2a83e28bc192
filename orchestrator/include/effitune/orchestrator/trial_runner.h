// Trial isolation: each trial is measured in a child process, so that a crash, an out-of-memory kill
// or a hang of one configuration becomes a failed trial with its reason and the study goes on.
//
// The child is `effitune trial --experiment FILE --config JSON --out FILE [--fidelity F]` (fork/exec
// of /proc/self/exe, see cli/cmd_run.cpp). It writes the measured TrialRecord as JSON (study_json.h)
// to --out and exits 0; any other ending is a failure: a signal (named, e.g. "SIGABRT"), a non-zero
// exit code, no or unreadable output, or the timeout (the child's process group is then killed with
// SIGKILL). The failure reason ends with the tail of the child's stderr.
//
// The child gets PR_SET_PDEATHSIG = SIGKILL: when the tuner itself is killed, the measurement dies
// with it instead of running on unobserved.
//
// Thread safety: a runner is driven by one thread.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "effitune/common/status.h"
#include "effitune/orchestrator/experiment.h"
#include "effitune/orchestrator/objective.h"
#include "effitune/orchestrator/study_store.h"
#include "effitune/orchestrator/trial_record.h"
#include "effitune/search/strategy.h"

namespace effitune::orchestrator {

// The outcome of measuring one trial: a record (complete) or a failure reason.
struct TrialRunOutcome {
  bool ok = false;
  TrialRecord record;          // when ok: indicators, cost, efficiency, judgement filled in
  std::string failure_reason;  // when not ok: one line a person can act on
};

// Called by a runner at least every heartbeat interval while a trial runs (the tuner stamps the
// study's heartbeat with it).
using Heartbeat = std::function<void()>;

class TrialRunner {
 public:
  virtual ~TrialRunner() = default;
  // Measures `trial`. Never throws; every failure is returned as data.
  virtual TrialRunOutcome run(const search::Trial& trial, const Heartbeat& heartbeat) = 0;
};

// A runner backed by a plain function (tests' fake landscapes, recorded-landscape replay).
class FunctionTrialRunner : public TrialRunner {
 public:
  using Fn = std::function<TrialRunOutcome(const search::Trial&, const Heartbeat&)>;
  explicit FunctionTrialRunner(Fn fn) : fn_(std::move(fn)) {}
  TrialRunOutcome run(const search::Trial& trial, const Heartbeat& heartbeat) override {
    return fn_(trial, heartbeat);
  }

 private:
  Fn fn_;
};

// How a child process ended.
struct ChildResult {
  bool exited = false;        // normal exit (exit_code valid)
  int exit_code = 0;
  int signal = 0;             // killing signal when !exited
  bool timed_out = false;     // we killed it at the timeout
  double wall_s = 0;
  std::string stderr_tail;    // the last `stderr_tail_bytes` bytes the child wrote to stderr
};

struct ChildOptions {
  double timeout_s = 600;              // wall-clock limit (> 0)
  double heartbeat_interval_s = 2;     // how often `heartbeat` is called while waiting
  size_t stderr_tail_bytes = 2048;
};

// fork/exec of argv[0] with argv (no shell), stdin from /dev/null, stdout to /dev/null, stderr
// captured. Returns kInvalidArgument for an empty argv and kInternal when fork or pipe fail; a child
// that cannot exec exits 127 (reported as such).
Result<ChildResult> run_child(const std::vector<std::string>& argv, const ChildOptions& options,
                              const Heartbeat& heartbeat);

// "SIGABRT" etc. for the common signals, "signal N" otherwise.
std::string signal_name(int signal);
// One line: "crashed: killed by SIGSEGV after 1.2 s", "exited with code 3", "timed out after 30 s";
// followed by "; stderr: <last line(s)>" when the child wrote any.
std::string describe_child_failure(const ChildResult& result);

// Runs each trial as `<executable> trial --experiment <experiment_path> --config <json> --out <file>
// [--fidelity F] [--ics JSON] [extra_args...]` in `work_dir` (out files are created there and removed
// after). The child does not open the study, so the parent hands it what it needs from there: the ICS
// of the trial's configuration (ics_for_configuration over `ics_ratings`) as
// --ics '{"value":..,"ci_low":..,"ci_high":..,"n":..,"source":".."}', when the study has ratings.
struct ChildRunnerOptions {
  std::string executable = "/proc/self/exe";
  std::string experiment_path;
  std::string work_dir;               // "" = the system temp dir
  std::vector<std::string> extra_args;
  std::vector<FeedbackRow> ics_ratings;  // the study's ratings of this experiment (list_feedback)
  ChildOptions child;
};

class ChildProcessRunner : public TrialRunner {
 public:
  explicit ChildProcessRunner(ChildRunnerOptions options) : options_(std::move(options)) {}
  TrialRunOutcome run(const search::Trial& trial, const Heartbeat& heartbeat) override;

 private:
  ChildRunnerOptions options_;
};

// What `effitune trial` does in the child: measures one configuration of `experiment` in this
// process and returns the complete record (indicators P, C, Cm, A with intervals, Q, capacity, R at
// the goal, E, judgement). Steps: the quality probe (quality_probe.h) with the configuration's
// quantization, max-tokens split and decoding, against the reference engine (f32, greedy, full
// history); then, on the in-process engine target with the configuration's batch policy, a capacity
// search under the SLOs (open-loop Poisson load tests, warm-up excluded) and one load test at the
// goal's share per replica, which gives P. `fidelity` (successive halving) replaces the load-test
// duration in seconds. `progress` prints one line per step on stderr. `ics`, when given, becomes the
// "ics" part of the indicators (and enters Q when objective.weights.ICS > 0; without it such a Q
// cannot be computed: kInvalidArgument).
// Errors: kInvalidArgument for a configuration the space rejects or a knob the engine rejects,
// kResourceExhausted when the model does not fit; engine and probe errors as they come.
Result<TrialRecord> measure_trial(const Experiment& experiment, const search::Configuration& configuration,
                                  std::optional<double> fidelity, bool progress,
                                  const std::optional<IcsEstimate>& ics = std::nullopt);

// The --ics argument's JSON and its inverse (kInvalidArgument naming the field; values outside [0, 1]).
std::string ics_to_json(const IcsEstimate& ics);
Result<IcsEstimate> ics_from_json(std::string_view json);

}  // namespace effitune::orchestrator
