#include "effitune/orchestrator/trial_runner.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

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
  if (!options_.ics_ratings.empty()) {
    auto ics = ics_for_configuration(options_.ics_ratings, trial.configuration);
    if (!ics.ok()) {
      std::error_code ec;
      std::filesystem::remove(out_path, ec);
      out.failure_reason = "could not aggregate the study's ICS ratings: " + ics.status().message();
      return out;
    }
    if (*ics) argv.insert(argv.end(), {"--ics", ics_to_json(**ics)});
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

std::string ics_to_json(const IcsEstimate& ics) {
  nlohmann::json j = {{"value", ics.interval.value}, {"ci_low", ics.interval.ci_low}, {"ci_high", ics.interval.ci_high},
                      {"n", ics.interval.n}, {"source", ics.source}};
  return j.dump();
}

Result<IcsEstimate> ics_from_json(std::string_view text) {
  const auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return invalid_argument("--ics: expected a JSON object, got '" + std::string(text) + "'");
  IcsEstimate out;
  std::pair<const char*, double*> fields[] = {
      {"value", &out.interval.value}, {"ci_low", &out.interval.ci_low}, {"ci_high", &out.interval.ci_high}};
  for (auto& [key, field] : fields) {
    auto it = j.find(key);
    if (it == j.end() || !it->is_number()) return invalid_argument(std::string("--ics: field '") + key + "' must be a number");
    *field = it->get<double>();
    if (!(*field >= 0 && *field <= 1)) return invalid_argument(std::string("--ics: field '") + key + "' must be in [0, 1]");
  }
  if (!(out.interval.ci_low <= out.interval.value && out.interval.value <= out.interval.ci_high)) {
    return invalid_argument("--ics: expected ci_low <= value <= ci_high");
  }
  auto n = j.find("n");
  if (n == j.end() || !n->is_number_integer() || n->get<int64_t>() < 0) {
    return invalid_argument("--ics: field 'n' must be an integer >= 0");
  }
  out.interval.n = n->get<int64_t>();
  auto src = j.find("source");
  if (src == j.end() || !src->is_string()) return invalid_argument("--ics: field 'source' must be text");
  out.source = src->get<std::string>();
  return out;
}

}  // namespace effitune::orchestrator
