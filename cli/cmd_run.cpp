// The tuning-loop commands: `run` (the study), `nightly` (re-measure, drift, continue), `trial` (the
// hidden child entry point that measures one configuration) and `eval` (the quality probe alone).
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <thread>

#include "cli_util.h"
#include "commands.h"
#include "git_commit.h"
#include "effitune/engine/backend.h"
#include "effitune/engine/chat_format.h"
#include "effitune/engine/dtype.h"
#include "effitune/orchestrator/experiment.h"
#include "effitune/orchestrator/nightly.h"
#include "effitune/orchestrator/quality_probe.h"
#include "effitune/orchestrator/study_json.h"
#include "effitune/orchestrator/study_store.h"
#include "effitune/orchestrator/trial_runner.h"
#include "effitune/orchestrator/tuner.h"
#include "effitune/probes/dataset.h"

namespace effitune::cli {
namespace {

namespace orch = effitune::orchestrator;

std::optional<po::variables_map> parse_positional(int argc, char** argv, const po::options_description& desc,
                                                  const char* positional, const char* usage, const char* teaching,
                                                  int& exit_code) {
  po::positional_options_description pos;
  if (positional) pos.add(positional, 1);
  auto parsed = parse_args(argc, argv, desc, pos, usage, teaching, exit_code);
  if (!parsed) return std::nullopt;
  po::variables_map& vm = *parsed;
  if (positional && !vm.count(positional)) {
    std::fprintf(stderr, "effitune %s: missing %s\nusage: %s\n", argv[0], positional, usage);
    exit_code = kExitUsage;
    return std::nullopt;
  }
  return vm;
}

std::string device_of(const orch::Experiment& ex) {
  if (ex.engine.backend == "cuda") return "cuda";
  const unsigned cores = ex.engine.threads > 0 ? static_cast<unsigned>(ex.engine.threads)
                                               : std::max(1u, std::thread::hardware_concurrency());
  return "cpu: " + std::to_string(cores) + (cores == 1 ? " thread" : " threads");
}

// The runner every study command uses: each trial in a child `effitune trial` process. The child
// does not open the study, so the study's ICS ratings travel with the runner (none before the
// experiment's first run: list_feedback says kNotFound then).
Result<orch::ChildProcessRunner> child_runner(const orch::Experiment& ex, orch::StudyStore& store, double timeout_s) {
  orch::ChildRunnerOptions ro;
  ro.experiment_path = ex.yaml_path;
  ro.child.timeout_s = timeout_s;
  auto ratings = store.list_feedback(ex.name);
  if (ratings.ok()) {
    ro.ics_ratings = std::move(ratings).value();
  } else if (ratings.status().code() != StatusCode::kNotFound) {
    return ratings.status();
  }
  return orch::ChildProcessRunner(ro);
}

// Every trial would fail the same way on a machine that cannot run the experiment's backend: say
// it once, before the study starts.
Status backend_runs_here(const orch::Experiment& ex) {
  if (engine::backend_available(ex.engine.backend)) return {};
  return unavailable(ex.yaml_path + ": engine.backend '" + ex.engine.backend +
                     "' cannot run here (this build has no CUDA backend, or no GPU is visible); build where nvcc "
                     "is installed (scripts/build.sh picks it up) and run on a GPU machine, or set engine.backend: cpu");
}

double default_trial_timeout(const orch::Experiment& ex) {
  // Up to 10 load tests (capacity probes and the P run) plus the quality probe and engine loads.
  return std::max(120.0, 10 * (ex.workload.load_test_s + ex.workload.warmup_s + 10) + 120);
}

}  // namespace

int run_run(int argc, char** argv) {
  po::options_description desc("options");
  desc.add_options()("help,h", "show this help")("experiment-file", po::value<std::string>(), "EXPERIMENT.yaml")(
      "db", po::value<std::string>()->default_value(kDefaultStudyDb), "the study file (SQLite; created when absent)")(
      "resume", po::bool_switch(), "continue the study in --db: replay its trials and retry interrupted ones")(
      "max-trials", po::value<int64_t>(), "override strategy.max_trials")(
      "max-wall-s", po::value<double>(), "override strategy.max_wall_s")(
      "trial-timeout-s", po::value<double>(), "wall-clock limit of one trial (default from the load-test settings)")(
      "no-stop-at-e1", po::bool_switch(), "keep searching after E1 (the practical limit) is detected")(
      "max-attempts", po::value<int32_t>(), "fail a trial interrupted this many times (default 3)")(
      "quiet", po::bool_switch(), "no progress bar");
  int code = 0;
  auto vm = parse_positional(argc, argv, desc, "experiment-file",
                             "effitune run EXPERIMENT.yaml [--db FILE] [--resume]",
                             "Runs the tuning loop: the strategy proposes a configuration, a child process measures it\n"
                             "(quality probe, capacity search, P at the goal), the study records P, C, Cm, A, Q, R and\n"
                             "E = Q / R, until max_trials, max_wall_s, the strategy's end or E1. Kill it at any moment\n"
                             "and `--resume` continues without losing or repeating a complete trial.",
                             code);
  if (!vm) return code;
  auto ex = orch::load_experiment((*vm)["experiment-file"].as<std::string>());
  if (!ex.ok()) return report_error("run", ex.status());
  if (Status s = backend_runs_here(*ex); !s.ok()) return report_error("run", s);
  auto store = orch::StudyStore::open((*vm)["db"].as<std::string>());
  if (!store.ok()) return report_error("run", store.status());
  orch::TunerOptions o;
  o.resume = (*vm)["resume"].as<bool>();
  if (vm->count("max-trials")) o.max_trials = (*vm)["max-trials"].as<int64_t>();
  if (vm->count("max-wall-s")) o.max_wall_s = (*vm)["max-wall-s"].as<double>();
  o.stop_at_e1 = !(*vm)["no-stop-at-e1"].as<bool>();
  if (vm->count("max-attempts")) {
    o.max_attempts = (*vm)["max-attempts"].as<int32_t>();
    if (o.max_attempts < 1) {
      return usage_error("run", "--max-attempts must be >= 1");
    }
  }
  o.progress = !(*vm)["quiet"].as<bool>();
  o.engine_commit = effitune_git_commit();
  o.device = device_of(*ex);
  const double timeout = vm->count("trial-timeout-s") ? (*vm)["trial-timeout-s"].as<double>() : default_trial_timeout(*ex);
  auto runner = child_runner(*ex, **store, timeout);
  if (!runner.ok()) return report_error("run", runner.status());
  auto summary = orch::run_study(*ex, **store, *runner, o);
  if (!summary.ok()) return report_error("run", summary.status());
  std::cout << orch::format_summary(*summary);
  std::cout << "next: effitune report --db " << (*vm)["db"].as<std::string>() << "\n";
  return kExitOk;
}

int run_trial(int argc, char** argv) {
  po::options_description desc("options");
  desc.add_options()("help,h", "show this help")("experiment", po::value<std::string>()->required(), "EXPERIMENT.yaml")(
      "config", po::value<std::string>()->required(), "the configuration as a JSON object")(
      "out", po::value<std::string>()->required(), "where to write the trial record (JSON)")(
      "fidelity", po::value<double>(), "load-test seconds (successive halving)")(
      "trial-id", po::value<int64_t>()->default_value(0), "the trial's id, for messages")(
      "ics", po::value<std::string>(), "the configuration's ICS from the study's ratings (JSON; `run` passes it)");
  int code = 0;
  auto vm = parse_args(argc, argv, desc,
                       "effitune trial --experiment FILE --config JSON --out FILE",
                       "Measures one configuration and writes its record. `effitune run` starts it in a child\n"
                       "process so that a crash or hang of one configuration cannot end the study.",
                       code);
  if (!vm) return code;
  auto ex = orch::load_experiment((*vm)["experiment"].as<std::string>());
  if (!ex.ok()) return report_error("trial", ex.status());
  auto config = orch::configuration_from_json((*vm)["config"].as<std::string>());
  if (!config.ok()) return report_error("trial", config.status().with_context("--config"));
  std::optional<double> fidelity;
  if (vm->count("fidelity")) fidelity = (*vm)["fidelity"].as<double>();
  std::optional<orch::IcsEstimate> ics;
  if (vm->count("ics")) {
    auto parsed = orch::ics_from_json((*vm)["ics"].as<std::string>());
    if (!parsed.ok()) return report_error("trial", parsed.status());
    ics = std::move(parsed).value();
  }
  auto rec = orch::measure_trial(*ex, *config, fidelity, true, ics);
  if (!rec.ok()) return report_error("trial", rec.status());
  rec->id = (*vm)["trial-id"].as<int64_t>();
  rec->configuration_json = (*vm)["config"].as<std::string>();
  const std::string out = (*vm)["out"].as<std::string>();
  const std::string tmp = out + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    f << orch::trial_to_json(*rec);
    if (!f) return report_error("trial", internal_error("cannot write " + tmp));
  }
  std::filesystem::rename(tmp, out);
  return kExitOk;
}

int run_eval(int argc, char** argv) {
  po::options_description desc("options");
  add_engine_options(desc);
  desc.add_options()("help,h", "show this help")("dataset", po::value<std::string>()->required(), "evaluation set (JSONL)")(
      "history-budget", po::value<int>(), "prompt tokens allowed (default: context - response budget)")(
      "response-budget", po::value<int>()->default_value(64), "response tokens allowed")(
      "decoding", po::value<std::string>()->default_value("greedy"), "greedy | sample | beam")(
      "temperature", po::value<double>()->default_value(0.8), "sample: temperature")(
      "top-p", po::value<double>()->default_value(0.95), "sample: nucleus p")(
      "top-k", po::value<int>()->default_value(0), "sample: top-k (0 = all)")(
      "beam-width", po::value<int>()->default_value(2), "beam: width")(
      "repeats", po::value<int>()->default_value(1), "K repeats per item (sampled decoding)")(
      "items", po::value<int>()->default_value(0), "first N items (0 = all)")(
      "chat-format", po::value<std::string>(), "support-desk | chatml | llama2 | llama3 (default: from the model)")(
      "no-reference", po::bool_switch(), "skip agreement with the reference configuration (f32, greedy, full history)")(
      "seed", po::value<uint64_t>()->default_value(0), "sampling seed")(
      "format", po::value<std::string>()->default_value("text"), "text | json")(
      "with-items", po::bool_switch(), "JSON: include every item's answer");
  int code = 0;
  auto vm = parse_args(argc, argv, desc,
                       "effitune eval --model PATH --dataset FILE.jsonl [--history-budget N] [--response-budget N] "
                       "[--decoding greedy|sample|beam] [--quant Q] [--repeats K] [--format json]",
                       "Runs the quality probe: accuracy (normalized exact match / ROUGE-L), completeness ((1 -\n"
                       "truncation rate) x key-point recall), consistency (repeat agreement, same-top-1 and KL\n"
                       "against the reference configuration, history consistency), each with a 95% interval.",
                       code);
  if (!vm) return code;
  auto cfg = engine_config_from(*vm);
  if (!cfg.ok()) return usage_error("eval", cfg.status());
  auto items = probes::read_dataset((*vm)["dataset"].as<std::string>());
  if (!items.ok()) return report_error("eval", items.status());
  cfg->max_sequences = 2;
  auto eng = engine::Engine::create(*cfg);
  if (!eng.ok()) return report_error("eval", eng.status());
  std::unique_ptr<engine::Engine> reference;
  if (!(*vm)["no-reference"].as<bool>()) {
    engine::EngineConfig rc = *cfg;
    rc.weight_type = engine::DType::kF32;
    auto r = engine::Engine::create(rc);
    if (!r.ok()) return report_error("eval", r.status().with_context("reference engine (f32)"));
    reference = std::move(r).value();
  }
  orch::QualityProbeOptions qo;
  qo.budget.response_tokens = (*vm)["response-budget"].as<int>();
  qo.budget.history_tokens = vm->count("history-budget") ? (*vm)["history-budget"].as<int>()
                                                         : (*eng)->context_length() - qo.budget.response_tokens;
  const std::string dec = (*vm)["decoding"].as<std::string>();
  if (dec == "greedy") {
    qo.decoding.strategy = engine::DecodingStrategy::kGreedy;
  } else if (dec == "sample") {
    qo.decoding.strategy = engine::DecodingStrategy::kSample;
    qo.decoding.temperature = static_cast<float>((*vm)["temperature"].as<double>());
    qo.decoding.top_p = static_cast<float>((*vm)["top-p"].as<double>());
    qo.decoding.top_k = (*vm)["top-k"].as<int>();
  } else if (dec == "beam") {
    qo.decoding.strategy = engine::DecodingStrategy::kBeam;
    qo.decoding.beam_width = (*vm)["beam-width"].as<int>();
  } else {
    return usage_error("eval", "--decoding must be greedy, sample or beam; got '" + dec + "'");
  }
  qo.repeats = (*vm)["repeats"].as<int>();
  qo.max_items = static_cast<size_t>(std::max(0, (*vm)["items"].as<int>()));
  qo.seed = (*vm)["seed"].as<uint64_t>();
  if (vm->count("chat-format")) {
    auto f = engine::parse_chat_format((*vm)["chat-format"].as<std::string>());
    if (!f.ok()) return report_error("eval", f.status());
    qo.format = *f;
  }
  auto rep = orch::run_quality_probe(**eng, reference.get(), *items, qo);
  if (!rep.ok()) return report_error("eval", rep.status());
  if ((*vm)["format"].as<std::string>() == "json") {
    std::cout << orch::quality_report_to_json(*rep, (*vm)["with-items"].as<bool>()) << "\n";
    return kExitOk;
  }
  auto line = [](const char* name, const probes::Estimate& e) {
    std::printf("%-20s %.4f  [%.4f, %.4f]  n=%zu\n", name, e.value, e.ci_low, e.ci_high, e.n);
  };
  line("accuracy", rep->accuracy);
  line("completeness", rep->completeness);
  line("consistency", rep->consistency);
  line("history_consistency", rep->history_consistency);
  line("truncation_rate", rep->truncation_rate);
  line("key_point_recall", rep->key_point_recall);
  line("repeat_agreement", rep->repeat_agreement);
  line("same_top1", rep->same_top1);
  line("mean_kl (nats)", rep->mean_kl);
  std::printf("budget: history %d, response %d tokens; %.1f ms per item\n", qo.budget.history_tokens,
              qo.budget.response_tokens, rep->mean_generation_ms);
  return kExitOk;
}

}  // namespace effitune::cli

namespace effitune::cli {

int run_nightly(int argc, char** argv) {
  po::options_description desc("options");
  desc.add_options()("help,h", "show this help")("experiment-file", po::value<std::string>(), "EXPERIMENT.yaml")(
      "db", po::value<std::string>()->default_value(kDefaultStudyDb), "the study file `effitune run` wrote")(
      "top", po::value<int>()->default_value(3), "re-measure the incumbent and the next configurations, up to this many")(
      "search-wall-s", po::value<double>()->default_value(0), "then continue the search this many seconds")(
      "search-trials", po::value<int64_t>()->default_value(0), "... and at most this many new trials")(
      "trial-timeout-s", po::value<double>(), "wall-clock limit of one measurement")(
      "quiet", po::bool_switch(), "no progress bar");
  int code = 0;
  auto vm = parse_positional(argc, argv, desc, "experiment-file",
                             "effitune nightly EXPERIMENT.yaml [--db FILE] [--top N] [--search-wall-s S]",
                             "Re-measures the incumbent and the top configurations, compares them with their stored\n"
                             "baselines (two-proportion z-test for P, non-overlapping 95% intervals otherwise), records\n"
                             "the drift, and continues the search within the budget. Exit codes: 0 ok, 1 error, 2 usage,\n"
                             "3 quality drifted, 4 the goal is no longer met within R0/E0, 5 both.",
                             code);
  if (!vm) return code;
  auto ex = orch::load_experiment((*vm)["experiment-file"].as<std::string>());
  if (!ex.ok()) return report_error("nightly", ex.status());
  if (Status s = backend_runs_here(*ex); !s.ok()) return report_error("nightly", s);
  const std::string db = (*vm)["db"].as<std::string>();
  std::error_code ec;
  if (!std::filesystem::is_regular_file(db, ec)) {
    return report_error("nightly", not_found("no study at " + db + "; run `effitune run` first or pass --db"));
  }
  auto store = orch::StudyStore::open(db);
  if (!store.ok()) return report_error("nightly", store.status());
  orch::NightlyOptions o;
  o.top = (*vm)["top"].as<int>();
  o.search_wall_s = (*vm)["search-wall-s"].as<double>();
  o.search_trials = (*vm)["search-trials"].as<int64_t>();
  o.tuner.progress = !(*vm)["quiet"].as<bool>();
  o.tuner.engine_commit = effitune_git_commit();
  o.tuner.device = device_of(*ex);
  const double timeout = vm->count("trial-timeout-s") ? (*vm)["trial-timeout-s"].as<double>() : default_trial_timeout(*ex);
  auto runner = child_runner(*ex, **store, timeout);
  if (!runner.ok()) return report_error("nightly", runner.status());
  auto res = orch::run_nightly(*ex, **store, *runner, o);
  if (!res.ok()) return report_error("nightly", res.status());
  std::cout << res->text;
  return res->exit_code;
}

}  // namespace effitune::cli
