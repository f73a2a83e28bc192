#include "effitune/orchestrator/trial_runner.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "effitune/orchestrator/study_json.h"

namespace effitune::orchestrator {

TrialRunOutcome ChildProcessRunner::run(const search::Trial& trial, const Heartbeat& heartbeat) {
  TrialRunOutcome out;
  std::string dir = options_.work_dir;
  if (dir.empty()) dir = std::filesystem::temp_directory_path().string();
  std::string templ = dir + "/effitune-trial-XXXXXX";
  std::vector<char> buf(templ.begin(), templ.end());
  buf.push_back('\0');
  const int fd = mkstemp(buf.data());
  if (fd < 0) {
    out.failure_reason = "could not create the trial's output file in " + dir + "; check that it is writable";
    return out;
  }
  close(fd);
  const std::string out_path(buf.data());

  std::vector<std::string> argv = {options_.executable, "trial", "--experiment", options_.experiment_path,
                                   "--config", configuration_to_json(trial.configuration), "--out", out_path,
                                   "--trial-id", std::to_string(trial.id)};
  if (trial.fidelity) {
    std::ostringstream f;
    f.precision(17);
    f << *trial.fidelity;
    argv.insert(argv.end(), {"--fidelity", f.str()});
  }
  argv.insert(argv.end(), options_.extra_args.begin(), options_.extra_args.end());

  auto child = run_child(argv, options_.child, heartbeat);
  std::string json;
  {
    std::ifstream in(out_path, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    json = ss.str();
  }
  std::error_code ec;
  std::filesystem::remove(out_path, ec);
  if (!child.ok()) {
    out.failure_reason = "could not start the trial: " + child.status().message();
    return out;
  }
  const ChildResult& r = child.value();
  if (r.timed_out || !r.exited || r.exit_code != 0) {
    out.failure_reason = describe_child_failure(r);
    return out;
  }
  if (json.empty()) {
    out.failure_reason = "the trial process exited 0 but wrote no result to " + out_path;
    return out;
  }
  auto rec = trial_from_json(json);
  if (!rec.ok()) {
    out.failure_reason = "the trial process wrote an unreadable result: " + rec.status().message();
    return out;
  }
  out.ok = true;
  out.record = std::move(rec).value();
  out.record.id = trial.id;
  out.record.fidelity = trial.fidelity;
  return out;
}

}  // namespace effitune::orchestrator
