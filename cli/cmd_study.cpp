// The study commands: status, trials, show, compare, export and feedback import. They read (and,
// for feedback, write) the SQLite study that `effitune run` fills; every one takes --db FILE.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli_util.h"
#include "commands.h"
#include "effitune/orchestrator/experiment.h"
#include "effitune/orchestrator/study_json.h"
#include "effitune/orchestrator/study_store.h"
#include "effitune/probes/ics.h"

namespace effitune::cli {
namespace {

using orchestrator::Interval;
using orchestrator::StudyStore;
using orchestrator::TrialRecord;
using orchestrator::TrialState;

void add_study_options(po::options_description& desc) {
  desc.add_options()("help,h", "show this help")(
      "db", po::value<std::string>()->default_value(kDefaultStudyDb), "the study file (SQLite)")(
      "experiment", po::value<std::string>(), "the experiment's name (default: the study's latest experiment)");
}

struct OpenStudy {
  std::unique_ptr<StudyStore> store;
  orchestrator::ExperimentRow experiment;
};

// Opens an existing study (never creates one: a typo in --db must not leave an empty file behind)
// and picks the experiment.
Result<OpenStudy> open_study(const po::variables_map& vm) {
  const std::string db = vm["db"].as<std::string>();
  std::error_code ec;
  if (!std::filesystem::is_regular_file(db, ec)) {
    return not_found("no study at " + db + "; run `effitune run EXPERIMENT.yaml --db " + db + "` first, or pass --db");
  }
  EFFITUNE_ASSIGN_OR_RETURN(auto store, StudyStore::open(db));
  EFFITUNE_ASSIGN_OR_RETURN(auto experiments, store->list_experiments());
  if (experiments.empty()) return not_found(db + " holds no experiment yet; run one with `effitune run`");
  OpenStudy out{std::move(store), experiments.back()};
  if (vm.count("experiment")) {
    const std::string name = vm["experiment"].as<std::string>();
    bool found = false;
    std::string names;
    for (const auto& e : experiments) {
      names += (names.empty() ? "" : ", ") + e.name;
      if (e.name == name) {
        out.experiment = e;
        found = true;
      }
    }
    if (!found) return not_found("experiment '" + name + "' is not in " + db + " (it holds: " + names + ")");
  }
  return out;
}

std::string fmt(double v, int precision = 4) {
  if (!std::isfinite(v)) return "-";
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*g", precision, v);
  return buf;
}

std::string fmt_interval(const Interval& i) {
  if (!(i.ci_high > i.ci_low)) return fmt(i.value);  // a point figure: no interval to show
  return fmt(i.value) + " [" + fmt(i.ci_low) + ", " + fmt(i.ci_high) + "]";
}

// Two figures are ranked apart only when their 95% intervals do not overlap (mission.md).
bool separate(const Interval& a, const Interval& b) { return a.ci_high < b.ci_low || b.ci_high < a.ci_low; }

std::string configuration_text(const std::string& configuration_json) {
  auto c = orchestrator::configuration_from_json(configuration_json);
  if (!c.ok()) return configuration_json;
  std::string out;
  for (const auto& [name, value] : c->values) out += (out.empty() ? "" : " ") + name + "=" + search::value_to_string(value);
  return out;
}

// Feasible complete trials by E, then other complete trials by E; nullptr when none completed.
const TrialRecord* best_of(const std::vector<TrialRecord>& trials) {
  const TrialRecord* best = nullptr;
  for (const auto& t : trials) {
    if (t.state != TrialState::kComplete || !std::isfinite(t.efficiency)) continue;
    if (!best || (t.feasible && !best->feasible) || (t.feasible == best->feasible && t.efficiency > best->efficiency)) {
      best = &t;
    }
  }
  return best;
}

std::string progress_bar(int64_t done, int64_t total) {
  constexpr int kWidth = 30;
  const int64_t filled = total > 0 ? std::min<int64_t>(kWidth, done * kWidth / total) : 0;
  std::ostringstream os;
  os << '[' << std::string(static_cast<size_t>(filled), '#') << std::string(static_cast<size_t>(kWidth - filled), '.')
     << "] " << done << '/' << total;
  return os.str();
}

int run_status_impl(int argc, char** argv) {
  po::options_description desc("options");
  add_study_options(desc);
  desc.add_options()("format", po::value<std::string>()->default_value("text"), "text | json");
  int code = 0;
  auto vm = parse_args(argc, argv, desc, "effitune status [--db FILE] [--experiment NAME] [--format json]",
                       "Shows the best configuration so far and how far the study has come. The best is the feasible\n"
                       "trial with the highest efficiency E; trials whose E intervals overlap it are tied with it.\n"
                       "A trial still running whose heartbeat stopped over a minute ago is named as interrupted (its\n"
                       "run was killed or lost): `effitune run ... --resume` runs it again.",
                       code);
  if (!vm) return code;
  auto study = open_study(*vm);
  if (!study.ok()) return report_error("status", study.status());
  auto trials = study->store->list_trials(study->experiment.name);
  if (!trials.ok()) return report_error("status", trials.status());
  std::map<std::string, int64_t> counts;
  for (const auto& t : *trials) ++counts[orchestrator::trial_state_name(t.state)];
  int64_t max_trials = 0;
  if (auto e = orchestrator::parse_experiment(study->experiment.yaml_text, study->experiment.name, "", false); e.ok()) {
    max_trials = e->strategy.max_trials;
  }
  auto count = [&](const char* state) { return counts.count(state) ? counts.at(state) : int64_t{0}; };
  const int64_t finished = count("complete") + count("failed") + count("pruned");
  const TrialRecord* best = best_of(*trials);
  // Trials left running by a run that is gone: `run --resume` runs them again.
  std::vector<int64_t> interrupted;
  const double now = orchestrator::StudyStore::now_unix_s();
  for (const auto& t : *trials)
    if (orchestrator::is_interrupted(t, now)) interrupted.push_back(t.id);
  std::vector<int64_t> tied;
  if (best) {
    for (const auto& t : *trials) {
      if (&t != best && t.state == TrialState::kComplete && t.feasible == best->feasible &&
          !separate(t.efficiency_interval, best->efficiency_interval)) {
        tied.push_back(t.id);
      }
    }
  }
  if ((*vm)["format"].as<std::string>() == "json") {
    nlohmann::json j;
    j["experiment"] = study->experiment.name;
    j["counts"] = counts;
    j["finished"] = finished;
    j["max_trials"] = max_trials;
    j["best"] = best ? nlohmann::json::parse(orchestrator::trial_to_json(*best)) : nlohmann::json(nullptr);
    j["tied_with_best"] = tied;
    j["interrupted"] = interrupted;
    std::cout << j.dump(2) << "\n";
    return kExitOk;
  }
  std::cout << "experiment " << study->experiment.name << "  (" << study->store->path() << ")\n";
  std::cout << "progress   " << progress_bar(finished, std::max(max_trials, finished)) << " trials finished";
  for (const auto& [state, n] : counts) std::cout << "  " << state << " " << n;
  std::cout << "\n";
  if (!interrupted.empty()) {
    std::cout << "interrupted";
    for (size_t i = 0; i < interrupted.size(); ++i) std::cout << (i ? ", " : " trial ") << interrupted[i];
    std::cout << ": running, but no heartbeat for over " << orchestrator::kStaleHeartbeatS
              << " s (its run stopped); `effitune run EXPERIMENT.yaml --db " << study->store->path()
              << " --resume` runs " << (interrupted.size() == 1 ? "it" : "them") << " again\n";
  }
  if (!best) {
    std::cout << "best       none yet: no trial has completed\n";
    return kExitOk;
  }
  std::cout << "best       trial " << best->id << (best->feasible ? "" : " (no trial meets every constraint yet)") << "\n"
            << "  configuration  " << configuration_text(best->configuration_json) << "\n"
            << "  E = Q / R      " << fmt_interval(best->efficiency_interval) << "\n"
            << "  Q              " << fmt_interval(best->indicators.quality) << "\n"
            << "  R (USD/hour)   " << fmt(best->cost.usd_per_hour) << " for " << best->cost.replicas << " replica(s)\n";
  if (best->quadrant) std::cout << "  quadrant       " << orchestrator::quadrant_name(*best->quadrant) << "\n";
  if (!tied.empty()) {
    std::cout << "  tied with      ";
    for (size_t i = 0; i < tied.size(); ++i) std::cout << (i ? ", " : "") << "trial " << tied[i];
    std::cout << " (their E intervals overlap the best's)\n";
  }
  return kExitOk;
}

int run_trials_impl(int argc, char** argv) {
  po::options_description desc("options");
  add_study_options(desc);
  desc.add_options()("format", po::value<std::string>()->default_value("text"), "text | json");
  int code = 0;
  auto vm = parse_args(argc, argv, desc, "effitune trials [--db FILE] [--experiment NAME] [--format json]",
                       "Lists every trial. JSON is {\"trials\": [{\"id\", \"status\", \"configuration\", ...}]}.", code);
  if (!vm) return code;
  const std::string format = (*vm)["format"].as<std::string>();
  if (format != "text" && format != "json") {
    return usage_error("trials", "--format must be text or json, got '" + format + "'");
  }
  auto study = open_study(*vm);
  if (!study.ok()) return report_error("trials", study.status());
  auto trials = study->store->list_trials(study->experiment.name);
  if (!trials.ok()) return report_error("trials", trials.status());
  if (format == "json") {
    std::cout << orchestrator::trials_to_json(*trials, 2) << "\n";
    return kExitOk;
  }
  std::printf("%5s  %-9s  %-26s  %-8s  %-9s  %-8s  %-17s  %s\n", "id", "status", "E [95% CI]", "Q", "R $/h", "feasible",
              "quadrant", "configuration / failure");
  for (const auto& t : *trials) {
    const bool measured = t.state == TrialState::kComplete;
    std::printf("%5lld  %-9s  %-26s  %-8s  %-9s  %-8s  %-17s  %s\n", static_cast<long long>(t.id),
                orchestrator::trial_state_name(t.state), measured ? fmt_interval(t.efficiency_interval).c_str() : "-",
                measured ? fmt(t.indicators.quality.value).c_str() : "-", measured ? fmt(t.cost.usd_per_hour).c_str() : "-",
                measured ? (t.feasible ? "yes" : "no") : "-",
                t.quadrant ? orchestrator::quadrant_name(*t.quadrant) : "-",
                (configuration_text(t.configuration_json) +
                 (t.failure_reason.empty() ? "" : "  [" + t.failure_reason + "]"))
                    .c_str());
  }
  return kExitOk;
}

Result<int64_t> parse_trial_id(const std::string& text) {
  try {
    size_t used = 0;
    long long v = std::stoll(text, &used);
    if (used == text.size() && v >= 0) return static_cast<int64_t>(v);
  } catch (const std::exception&) {
  }
  return invalid_argument("'" + text + "' is not a trial id; `effitune trials` lists them");
}

void print_trial(const TrialRecord& t) {
  std::cout << "trial " << t.id << " of " << t.experiment << ": " << orchestrator::trial_state_name(t.state);
  if (t.attempts > 0) std::cout << " (after " << t.attempts << " retries)";
  std::cout << "\n  configuration   " << configuration_text(t.configuration_json) << "\n";
  if (t.fidelity) std::cout << "  fidelity        " << fmt(*t.fidelity) << "\n";
  if (!t.failure_reason.empty()) std::cout << "  failure reason  " << t.failure_reason << "\n";
  if (t.state != TrialState::kComplete) return;
  const auto& ind = t.indicators;
  std::cout << "  P performance   " << fmt_interval(ind.performance) << "\n"
            << "  C consistency   " << fmt_interval(ind.consistency) << "\n"
            << "  Cm completeness " << fmt_interval(ind.completeness) << "\n"
            << "  A accuracy      " << fmt_interval(ind.accuracy) << "\n"
            << "  Q quality       " << fmt_interval(ind.quality) << "\n";
  for (const auto& [name, iv] : ind.parts) std::cout << "    " << name << ": " << fmt_interval(iv) << "\n";
  std::cout << "  R USD/hour      " << fmt(t.cost.usd_per_hour) << " (" << t.cost.replicas << " replica(s) x "
            << fmt(t.cost.usd_per_hour_per_replica) << ")\n"
            << "  capacity rps    " << fmt_interval(t.cost.capacity_rps_interval) << "\n"
            << "  E = Q / R       " << fmt_interval(t.efficiency_interval) << "\n"
            << "  feasible        " << (t.feasible ? "yes" : "no") << "\n";
  for (const auto& [name, v] : t.constraints) {
    std::cout << "    constraint " << name << ": " << fmt(v) << (v <= 0 ? " (met)" : " (violated)") << "\n";
  }
  if (t.quadrant) std::cout << "  quadrant        " << orchestrator::quadrant_name(*t.quadrant) << "\n";
  for (const auto& p : t.load_curve) {
    std::cout << "    load " << fmt(p.offered_rps) << " rps: goodput " << fmt(p.goodput_rps) << ", ttft p95 "
              << fmt(p.ttft_p95_ms) << " ms, P " << fmt(p.performance) << "\n";
  }
}

int run_show_impl(int argc, char** argv) {
  po::options_description desc("options");
  add_study_options(desc);
  desc.add_options()("trial", po::value<std::string>(), "the trial id")(
      "format", po::value<std::string>()->default_value("text"), "text | json");
  po::positional_options_description pos;
  pos.add("trial", 1);
  int code = 0;
  auto vm = parse_args(argc, argv, desc, pos, "effitune show TRIAL [--db FILE] [--format json]",
                                   "Shows one trial: configuration, indicators with 95% intervals, cost, verdict.", code);
  if (!vm) return code;
  if (!vm->count("trial")) return usage_error("show", "give a trial id: effitune show 3");
  auto id = parse_trial_id((*vm)["trial"].as<std::string>());
  if (!id.ok()) return usage_error("show", id.status());
  auto study = open_study(*vm);
  if (!study.ok()) return report_error("show", study.status());
  auto trial = study->store->get_trial(study->experiment.name, *id);
  if (!trial.ok()) return report_error("show", trial.status());
  if ((*vm)["format"].as<std::string>() == "json") {
    std::cout << orchestrator::trial_to_json(*trial, 2) << "\n";
  } else {
    print_trial(*trial);
  }
  return kExitOk;
}

// "higher is better" rows say which side wins only when the intervals separate.
std::string verdict(const Interval& a, const Interval& b, bool higher_is_better) {
  const bool has_intervals = a.ci_high > a.ci_low || b.ci_high > b.ci_low;
  if (!has_intervals) {
    if (a.value == b.value) return "equal";
    return (a.value > b.value) == higher_is_better ? "A (no interval)" : "B (no interval)";
  }
  if (!separate(a, b)) return "tie (intervals overlap)";
  return (a.value > b.value) == higher_is_better ? "A (separate)" : "B (separate)";
}

int run_compare_impl(int argc, char** argv) {
  po::options_description desc("options");
  add_study_options(desc);
  desc.add_options()("trials", po::value<std::vector<std::string>>(), "two trial ids");
  po::positional_options_description pos;
  pos.add("trials", 2);
  int code = 0;
  auto vm = parse_args(argc, argv, desc, pos, "effitune compare A B [--db FILE]",
                                   "Two trials side by side. A row names a winner only when the 95% intervals\n"
                                   "separate; otherwise the two tie.",
                                   code);
  if (!vm) return code;
  if (!vm->count("trials") || (*vm)["trials"].as<std::vector<std::string>>().size() != 2) {
    return usage_error("compare", "give two trial ids: effitune compare 3 7");
  }
  const auto ids = (*vm)["trials"].as<std::vector<std::string>>();
  auto study = open_study(*vm);
  if (!study.ok()) return report_error("compare", study.status());
  TrialRecord t[2];
  for (int k = 0; k < 2; ++k) {
    auto id = parse_trial_id(ids[k]);
    if (!id.ok()) return usage_error("compare", id.status());
    auto trial = study->store->get_trial(study->experiment.name, *id);
    if (!trial.ok()) return report_error("compare", trial.status());
    t[k] = std::move(trial).value();
  }
  auto ca = orchestrator::configuration_from_json(t[0].configuration_json);
  auto cb = orchestrator::configuration_from_json(t[1].configuration_json);
  std::printf("%-16s  %-28s  %-28s  %s\n", "", ("A = trial " + std::to_string(t[0].id)).c_str(),
              ("B = trial " + std::to_string(t[1].id)).c_str(), "better");
  std::printf("%-16s  %-28s  %-28s\n", "status", orchestrator::trial_state_name(t[0].state),
              orchestrator::trial_state_name(t[1].state));
  if (ca.ok() && cb.ok()) {
    std::map<std::string, std::pair<std::string, std::string>> dims;
    for (const auto& [n, v] : ca->values) dims[n].first = search::value_to_string(v);
    for (const auto& [n, v] : cb->values) dims[n].second = search::value_to_string(v);
    for (const auto& [n, ab] : dims) {
      std::printf("%-16s  %-28s  %-28s  %s\n", n.c_str(), ab.first.empty() ? "-" : ab.first.c_str(),
                  ab.second.empty() ? "-" : ab.second.c_str(), ab.first == ab.second ? "" : "differs");
    }
  }
  const struct {
    const char* name;
    Interval a, b;
    bool higher_is_better;
  } rows[] = {
      {"P performance", t[0].indicators.performance, t[1].indicators.performance, true},
      {"C consistency", t[0].indicators.consistency, t[1].indicators.consistency, true},
      {"Cm completeness", t[0].indicators.completeness, t[1].indicators.completeness, true},
      {"A accuracy", t[0].indicators.accuracy, t[1].indicators.accuracy, true},
      {"Q quality", t[0].indicators.quality, t[1].indicators.quality, true},
      {"R USD/hour", Interval{t[0].cost.usd_per_hour, t[0].cost.usd_per_hour, t[0].cost.usd_per_hour, 0},
       Interval{t[1].cost.usd_per_hour, t[1].cost.usd_per_hour, t[1].cost.usd_per_hour, 0}, false},
      {"capacity rps", t[0].cost.capacity_rps_interval, t[1].cost.capacity_rps_interval, true},
      {"E = Q / R", t[0].efficiency_interval, t[1].efficiency_interval, true},
  };
  for (const auto& r : rows) {
    std::printf("%-16s  %-28s  %-28s  %s\n", r.name, fmt_interval(r.a).c_str(), fmt_interval(r.b).c_str(),
                verdict(r.a, r.b, r.higher_is_better).c_str());
  }
  std::printf("%-16s  %-28s  %-28s\n", "feasible", t[0].feasible ? "yes" : "no", t[1].feasible ? "yes" : "no");
  return kExitOk;
}

int run_export_impl(int argc, char** argv) {
  po::options_description desc("options");
  add_study_options(desc);
  desc.add_options()("format", po::value<std::string>()->default_value("json"), "json | csv")(
      "output,o", po::value<std::string>(), "write here instead of standard output");
  int code = 0;
  auto vm = parse_args(argc, argv, desc, "effitune export [--db FILE] [--format json|csv] [-o FILE]",
                       "Exports the experiment and every trial. JSON holds the experiment's YAML, where it ran\n"
                       "(commit, device, model SHA-256) and the trials; CSV has one row per trial, a column per searched\n"
                       "dimension and per constraint (c_<name>: > 0 means broken by that much).",
                       code);
  if (!vm) return code;
  const std::string format = (*vm)["format"].as<std::string>();
  if (format != "json" && format != "csv") {
    return usage_error("export", "--format must be json or csv, got '" + format + "'");
  }
  auto study = open_study(*vm);
  if (!study.ok()) return report_error("export", study.status());
  auto trials = study->store->list_trials(study->experiment.name);
  if (!trials.ok()) return report_error("export", trials.status());
  std::string text;
  if (format == "csv") {
    text = orchestrator::trials_to_csv(*trials);
  } else {
    const auto& e = study->experiment;
    auto version = study->store->user_version();
    nlohmann::json j = nlohmann::json::parse(orchestrator::trials_to_json(*trials));
    j["schema_version"] = version.ok() ? *version : 0;
    j["experiment"] = {{"name", e.name},          {"created_at", e.created_at}, {"engine_commit", e.engine_commit},
                       {"device", e.device},      {"model_sha256", e.model_sha256}, {"yaml", e.yaml_text}};
    text = j.dump(2) + "\n";
  }
  if (!vm->count("output")) {
    std::cout << text;
    return kExitOk;
  }
  const std::string out = (*vm)["output"].as<std::string>();
  std::ofstream f(out, std::ios::binary);
  f << text;
  if (!f) return report_error("export", unavailable("cannot write " + out));
  std::fprintf(stderr, "effitune export: %zu trials to %s\n", trials->size(), out.c_str());
  return kExitOk;
}

int run_feedback_impl(int argc, char** argv) {
  po::options_description desc("options");
  add_study_options(desc);
  desc.add_options()("action", po::value<std::string>(), "import")("file", po::value<std::string>(),
                                                                   "ratings file (.csv or .jsonl)")(
      "scale", po::value<std::string>()->default_value("auto"), "auto | thumbs | stars");
  po::positional_options_description pos;
  pos.add("action", 1).add("file", 1);
  int code = 0;
  auto vm = parse_args(
      argc, argv, desc, pos, "effitune feedback import FILE [--db FILE] [--experiment NAME] [--scale auto|thumbs|stars]",
      "Imports end users' ratings (ICS) into the study, keyed by configuration or request id.\n"
      "CSV: a header naming 'configuration' or 'request_id' and 'rating'; JSONL: one object per line.\n"
      "Ratings are thumbs (up/down, 1/0) or stars (1-5). Nothing is stored when any line is bad.",
      code);
  if (!vm) return code;
  if (!vm->count("action") || (*vm)["action"].as<std::string>() != "import" || !vm->count("file")) {
    return usage_error("feedback", "usage: effitune feedback import FILE");
  }
  probes::RatingReadOptions options;
  const std::string scale = (*vm)["scale"].as<std::string>();
  if (scale == "thumbs") options.scale = probes::RatingScale::kThumbs;
  else if (scale == "stars") options.scale = probes::RatingScale::kStars;
  else if (scale != "auto") return usage_error("feedback", "--scale must be auto, thumbs or stars");
  const std::string file = (*vm)["file"].as<std::string>();
  auto set = probes::read_ratings(file, options);
  if (!set.ok()) return report_error("feedback", set.status());
  auto study = open_study(*vm);
  if (!study.ok()) return report_error("feedback", study.status());
  const char* scale_name = set->scale == probes::RatingScale::kStars ? "stars" : "thumbs";
  std::vector<orchestrator::FeedbackRow> rows;
  for (const auto& r : set->ratings) {
    rows.push_back({study->experiment.name, probes::rating_key_name(set->key_field), r.key, scale_name, r.value,
                    file + ":" + std::to_string(r.line), 0});
  }
  Status stored = study->store->add_feedback(rows);
  if (!stored.ok()) return report_error("feedback", stored);
  std::printf("imported %zu %s ratings from %s into experiment %s\n", rows.size(), scale_name, file.c_str(),
              study->experiment.name.c_str());
  auto aggregates = probes::aggregate_ratings(*set);
  if (!aggregates.ok()) return report_error("feedback", aggregates.status());
  for (const auto& a : *aggregates) {
    std::printf("  %-32s n=%-5zu ICS %.3f [%.3f, %.3f]\n", a.key.c_str(), a.normalized.n, a.normalized.value,
                a.normalized.ci_low, a.normalized.ci_high);
  }
  return kExitOk;
}

}  // namespace

int run_status(int argc, char** argv) { return run_status_impl(argc, argv); }
int run_trials(int argc, char** argv) { return run_trials_impl(argc, argv); }
int run_show(int argc, char** argv) { return run_show_impl(argc, argv); }
int run_compare(int argc, char** argv) { return run_compare_impl(argc, argv); }
int run_export(int argc, char** argv) { return run_export_impl(argc, argv); }
int run_feedback(int argc, char** argv) { return run_feedback_impl(argc, argv); }

}  // namespace effitune::cli
