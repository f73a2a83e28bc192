// effitune loadtest: a load test, or a capacity search, against the in-process engine, an HTTP
// OpenAI-compatible server or the null target; prints percentiles, throughput, goodput, P and cost.
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <thread>

#include "cli_util.h"
#include "commands.h"
#include "effitune/orchestrator/engine_target.h"
#include "effitune/probes/capacity_search.h"
#include "effitune/probes/cost.h"
#include "effitune/probes/http_target.h"
#include "effitune/probes/load_test.h"

namespace effitune::cli {
namespace {

using nlohmann::json;
namespace pr = effitune::probes;

constexpr const char* kUsage =
    "effitune loadtest --target inproc|null|http://HOST:PORT [--model PATH] --workload FILE.jsonl|synthetic:in=N,out=M "
    "(--rate R | --users N | --find-capacity) [--duration S] --slo ttft_p95_ms=..,tpot_p95_ms=.. [--format json]";
constexpr const char* kTeaching =
    "Sends the workload open-loop at --rate requests/s (Poisson by default), or from --users closed-loop users,\n"
    "or replays a trace's timestamps, and measures TTFT, ITL, TPOT and E2E from each request's scheduled send\n"
    "time (no coordinated omission). Performance P = requests within every SLO / offered requests.\n"
    "--find-capacity searches the highest rate (or --capacity-of users) that meets the SLOs (--search pchip\n"
    "interpolates the SLO margin instead of bisecting).\n"
    "Examples:\n"
    "  effitune loadtest --target null --workload synthetic:in=64,out=16 --rate 2000 --duration 10 --slo e2e_p99_ms=10\n"
    "  effitune loadtest --target inproc --model experiments/support-desk/model.gguf \\\n"
    "      --workload experiments/support-desk/test.jsonl --rate 2 --duration 60 --slo ttft_p95_ms=500,tpot_p95_ms=50\n"
    "  effitune loadtest --target http://127.0.0.1:8080 --workload synthetic:in=128,out=32 --find-capacity \\\n"
    "      --slo ttft_p95_ms=1000 --format json";

json summary_json(const pr::LatencySummary& s) {
  return {{"count", s.count}, {"mean_ms", s.mean_ms}, {"p50_ms", s.p50_ms}, {"p90_ms", s.p90_ms},
          {"p95_ms", s.p95_ms}, {"p99_ms", s.p99_ms}, {"max_ms", s.max_ms}};
}

json estimate_json(const pr::Estimate& e) {
  return {{"value", e.value}, {"ci_low", e.ci_low}, {"ci_high", e.ci_high}, {"n", e.n}};
}

json finite_or_null(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

json run_json(const pr::RunResult& r) {
  json checks = json::array();
  for (const auto& c : r.slo_checks)
    checks.push_back({{"key", c.key}, {"threshold_ms", c.threshold_ms}, {"observed_ms", finite_or_null(c.observed_ms)}, {"met", c.met}});
  return {{"sent", r.sent}, {"offered", r.offered}, {"ok", r.ok}, {"errors", r.errors}, {"timeouts", r.timeouts},
          {"good", r.good}, {"ttft", summary_json(r.ttft)}, {"itl", summary_json(r.itl)}, {"tpot", summary_json(r.tpot)},
          {"e2e", summary_json(r.e2e)}, {"measured_s", r.measured_s}, {"throughput_rps", r.throughput_rps},
          {"output_tokens_per_s", r.output_tokens_per_s}, {"goodput_rps", r.goodput_rps},
          {"good_output_tokens", r.good_output_tokens}, {"performance", estimate_json(r.performance)},
          {"slo_checks", checks}, {"slo_met", r.slo_met}, {"slo_margin", r.slo_margin},
          {"lateness_ms", {{"p50", r.lateness_p50_ms}, {"p99", r.lateness_p99_ms}, {"max", r.lateness_max_ms}}},
          {"window_throughput_rps", r.window_throughput_rps}, {"steady", r.steady},
          {"steady_from_s", r.steady_from_s}, {"sample_errors", r.sample_errors}};
}

json repeated_json(const pr::RepeatedResult& r) {
  json runs = json::array();
  for (const auto& run : r.runs) runs.push_back(run_json(run));
  return {{"pooled", run_json(r.pooled)}, {"performance", estimate_json(r.performance)},
          {"throughput_rps", estimate_json(r.throughput_rps)}, {"goodput_rps", estimate_json(r.goodput_rps)},
          {"slo_margin", estimate_json(r.slo_margin)}, {"ttft_p95_ms", estimate_json(r.ttft_p95_ms)},
          {"tpot_p95_ms", estimate_json(r.tpot_p95_ms)}, {"e2e_p95_ms", estimate_json(r.e2e_p95_ms)},
          {"slo_met", r.slo_met}, {"runs", runs}};
}

class ProgressBar {
 public:
  explicit ProgressBar(bool on) : on_(on) {}
  void set_label(std::string label) { label_ = std::move(label); }
  void update(const pr::LoadProgress& p) {
    if (!on_) return;
    const double f = p.duration_s > 0 ? std::clamp(p.elapsed_s / p.duration_s, 0.0, 1.0) : 1.0;
    constexpr int kWidth = 30;
    const int fill = static_cast<int>(f * kWidth);
    std::fprintf(stderr, "\r%s[%.*s%*s] %3d%%  sent %zu  done %zu  errors %zu ", label_.c_str(), fill,
                 "==============================", kWidth - fill, "", static_cast<int>(f * 100), p.sent, p.finished, p.errors);
    std::fflush(stderr);
  }
  void done() {
    if (on_) std::fprintf(stderr, "\n");
  }

 private:
  bool on_;
  std::string label_;
};

struct Options {
  std::string target;
  pr::LoadTestConfig config;
  int repetitions = 1;
  bool find_capacity = false;
  bool capacity_users = false;
  pr::CapacityOptions capacity;
  std::optional<pr::PriceTable> prices;
  pr::Deployment deployment;
  bool json = false;
};

Result<std::unique_ptr<pr::Target>> make_target(const po::variables_map& vm, const std::string& target) {
  if (target == "null") return pr::make_null_target();
  if (target == "inproc") {
    orchestrator::EngineTargetOptions o;
    EFFITUNE_ASSIGN_OR_RETURN(o.engine, engine_config_from(vm));
    o.scheduler.max_num_seqs = vm["max-batch"].as<int>();
    o.scheduler.max_waiting = vm["max-queue"].as<int>();
    o.engine.max_sequences = o.scheduler.max_num_seqs;
    o.batch_policy = vm["batch-policy"].as<std::string>();
    o.history_budget_tokens = vm["history-budget"].as<int>();
    if (vm.count("policy-param")) {
      for (const std::string& kv : vm["policy-param"].as<std::vector<std::string>>()) {
        const size_t eq = kv.find('=');
        try {
          if (eq == std::string::npos) throw std::invalid_argument(kv);
          o.policy_params[kv.substr(0, eq)] = std::stod(kv.substr(eq + 1));
        } catch (const std::exception&) {
          return invalid_argument("--policy-param '" + kv + "': expected NAME=NUMBER, e.g. window_ms=20");
        }
      }
    }
    return orchestrator::make_engine_target(o);
  }
  if (target.rfind("http://", 0) == 0) {
    EFFITUNE_ASSIGN_OR_RETURN(pr::HttpTargetOptions o, pr::parse_http_url(target));
    if (vm.count("api-key")) o.api_key = vm["api-key"].as<std::string>();
    o.model = vm["http-model"].as<std::string>();
    o.request_timeout_s = vm["request-timeout"].as<double>();
    return pr::make_http_target(o);
  }
  return invalid_argument("--target must be inproc, null or http://HOST:PORT; got '" + target + "'");
}

Result<Options> options_from(const po::variables_map& vm, const pr::Workload& workload) {
  Options o;
  o.target = vm["target"].as<std::string>();
  o.json = vm["format"].as<std::string>() == "json";
  pr::LoadTestConfig& c = o.config;
  const int modes = static_cast<int>(vm.count("rate")) + static_cast<int>(vm.count("users")) +
                    static_cast<int>(vm.count("find-capacity"));
  if (modes > 1) return invalid_argument("give only one of --rate, --users and --find-capacity");
  if (modes == 0 && workload.trace_times_s().empty())
    return invalid_argument("give --rate R, --users N or --find-capacity (only a trace workload runs on its own timestamps)");
  c.duration_s = vm["duration"].as<double>();
  if (modes == 0) {
    c.mode = pr::LoadMode::kTrace;
    if (!vm["duration"].defaulted()) {
    } else {
      c.duration_s = workload.trace_times_s().back() + 1.0;
    }
  }
  c.warmup_s = vm.count("warmup") ? vm["warmup"].as<double>() : std::min(10.0, 0.1 * c.duration_s);
  c.request_timeout_s = vm["request-timeout"].as<double>();
  c.seed = vm["seed"].as<uint64_t>();
  EFFITUNE_ASSIGN_OR_RETURN(c.slos, pr::parse_slos(vm["slo"].as<std::string>()));
  EFFITUNE_ASSIGN_OR_RETURN(c.arrivals.kind, pr::parse_arrival_kind(vm["arrival"].as<std::string>()));
  c.arrivals.cv = vm["cv"].as<double>();
  if (vm.count("rate-profile")) {
    EFFITUNE_ASSIGN_OR_RETURN(c.arrivals.phases, pr::parse_rate_phases(vm["rate-profile"].as<std::string>()));
  }
  c.think_time_s = vm["think-time"].as<double>();
  o.repetitions = vm["repetitions"].as<int>();
  if (o.repetitions < 1 || o.repetitions > 100) return invalid_argument("--repetitions must be in [1, 100]");
  if (vm.count("rate")) {
    c.mode = pr::LoadMode::kOpenLoop;
    c.arrivals.rate_per_s = vm["rate"].as<double>();
    if (!(c.arrivals.rate_per_s > 0)) return invalid_argument("--rate must be > 0 requests per second");
  }
  if (vm.count("users")) {
    c.mode = pr::LoadMode::kClosedLoop;
    c.users = vm["users"].as<int>();
    if (c.users < 1) return invalid_argument("--users must be >= 1");
  }
  if (vm.count("find-capacity")) {
    o.find_capacity = true;
    const std::string of = vm["capacity-of"].as<std::string>();
    if (of != "rate" && of != "users") return invalid_argument("--capacity-of must be rate or users");
    o.capacity_users = of == "users";
    o.capacity.integer_load = o.capacity_users;
    o.capacity.start_load = vm["capacity-start"].as<double>();
    o.capacity.tolerance = vm["capacity-tolerance"].as<double>();
    o.capacity.max_load = vm["capacity-max"].as<double>();
    o.capacity.min_load = o.capacity_users ? 1 : std::min(0.01, o.capacity.start_load);
    EFFITUNE_ASSIGN_OR_RETURN(o.capacity.interpolation,
                              pr::parse_capacity_interpolation(vm["search"].as<std::string>()));
  }
  if (vm.count("price")) {
    EFFITUNE_ASSIGN_OR_RETURN(o.prices, pr::parse_price_table(vm["price"].as<std::string>()));
  }
  o.deployment.gpus_per_replica = vm["gpus"].as<int>();
  o.deployment.replicas = vm["replicas"].as<int>();
  o.deployment.cpu_cores_per_replica = vm["cpu-cores"].as<int>();
  if (o.deployment.cpu_cores_per_replica < 0 && o.deployment.gpus_per_replica == 0)
    o.deployment.cpu_cores_per_replica = static_cast<int32_t>(std::max(1u, std::thread::hardware_concurrency()));
  o.deployment.cpu_cores_per_replica = std::max(0, o.deployment.cpu_cores_per_replica);
  if (vm.count("gpu-model")) o.deployment.gpu_model = vm["gpu-model"].as<std::string>();
  return o;
}

}  // namespace

int run_loadtest(int argc, char** argv) {
  po::options_description desc("options");
  desc.add_options()("help,h", "show this help")
      ("target", po::value<std::string>()->required(), "inproc | null | http://HOST:PORT")
      ("workload", po::value<std::string>()->required(), "evaluation-set or trace JSONL, or synthetic:in=N,out=M[,dist=..]")
      ("max-tokens", po::value<int>()->default_value(64), "response budget for evaluation-set requests")
      ("rate", po::value<double>(), "open loop: requests per second")
      ("users", po::value<int>(), "closed loop: concurrent users")
      ("find-capacity", "search the highest load that meets the SLOs")
      ("capacity-of", po::value<std::string>()->default_value("rate"), "capacity search over: rate | users")
      ("capacity-start", po::value<double>()->default_value(1.0), "first load probed")
      ("capacity-tolerance", po::value<double>()->default_value(0.5), "stop when the bracket is this narrow")
      ("capacity-max", po::value<double>()->default_value(100000.0), "highest load probed")
      ("search", po::value<std::string>()->default_value("bisect"),
       "capacity search inside the bracket: bisect | pchip (interpolates the SLO margin: fewer probes)")
      ("arrival", po::value<std::string>()->default_value("poisson"), "open loop: poisson | gamma | constant")
      ("cv", po::value<double>()->default_value(2.0), "gamma arrivals: coefficient of variation of gaps (burstiness)")
      ("rate-profile", po::value<std::string>(), "ramps and bursts: RATE:SECONDS,... or A-B:SECONDS (overrides --rate)")
      ("think-time", po::value<double>()->default_value(1.0), "closed loop: mean think time in seconds (exponential)")
      ("duration", po::value<double>()->default_value(60.0), "seconds per run, warm-up included")
      ("warmup", po::value<double>(), "seconds excluded at the start (default: 10% of the duration, at most 10)")
      ("repetitions", po::value<int>()->default_value(1), "runs per load (95% intervals over runs)")
      ("request-timeout", po::value<double>()->default_value(60.0), "seconds from scheduled send to finish")
      ("slo", po::value<std::string>()->required(), "e.g. ttft_p95_ms=500,tpot_p95_ms=50,e2e_p99_ms=3000")
      ("seed", po::value<uint64_t>()->default_value(1), "seed for arrivals, lengths and think times")
      ("api-key", po::value<std::string>(), "http: Bearer API key")
      ("http-model", po::value<std::string>()->default_value("default"), "http: the model field of requests")
      ("batch-policy", po::value<std::string>()->default_value("continuous"), "inproc: batch policy name")
      ("policy-param", po::value<std::vector<std::string>>(), "inproc: policy parameter NAME=NUMBER (repeatable)")
      ("max-batch", po::value<int>()->default_value(8),
       "inproc: running-sequence cap (also sizes the KV cache); a request beyond it waits, which shows as TTFT: "
       "raise it for a GPU engine (e.g. 64), whose step time hardly grows with the batch")
      ("max-queue", po::value<int>()->default_value(256), "inproc: waiting-queue bound (beyond: rejected)")
      ("history-budget", po::value<int>()->default_value(0), "inproc: history token budget for chat prompts (0 = none)")
      ("price", po::value<std::string>(), "price table, e.g. H100=2.49,cpu_core=0.04,kwh=0.15")
      ("gpu-model", po::value<std::string>(), "GPU model to price (default: as NVML names it)")
      ("gpus", po::value<int>()->default_value(0), "GPUs per replica")
      ("cpu-cores", po::value<int>()->default_value(-1), "CPU cores per replica (default: this machine's, for CPU runs)")
      ("replicas", po::value<int>()->default_value(1), "replicas priced")
      ("progress", po::value<std::string>()->default_value("auto"), "progress bar on stderr: auto | always | never")
      ("format", po::value<std::string>()->default_value("text"), "text | json");
  add_engine_options(desc);
  int code = 0;
  auto vm = parse_args(argc, argv, desc, kUsage, kTeaching, code);
  if (!vm) return code;
  const std::string format = (*vm)["format"].as<std::string>();
  if (format != "text" && format != "json") return usage_error("loadtest", "--format must be text or json");
  auto workload = pr::Workload::load((*vm)["workload"].as<std::string>(), (*vm)["max-tokens"].as<int>(),
                                     (*vm)["seed"].as<uint64_t>());
  if (!workload.ok()) return report_error("loadtest", workload.status());
  auto opts = options_from(*vm, *workload);
  if (!opts.ok()) return usage_error("loadtest", opts.status());
  Options& o = *opts;
  auto target = make_target(*vm, o.target);
  if (!target.ok()) return report_error("loadtest", target.status());

  const std::string progress = (*vm)["progress"].as<std::string>();
  ProgressBar bar(progress == "always" || (progress == "auto" && isatty(2)));
  o.config.on_progress = [&bar](const pr::LoadProgress& p) { bar.update(p); };
  pr::SteadyClock clock;
  std::string why_no_power;
  std::unique_ptr<pr::PowerMeter> meter =
      o.deployment.gpus_per_replica > 0 ? pr::PowerMeter::open({}, &why_no_power) : nullptr;
  if (meter && o.deployment.gpu_model.empty() && !meter->gpu_names().empty()) o.deployment.gpu_model = meter->gpu_names()[0];

  json out;
  out["target"] = (*target)->name();
  out["workload"] = workload->description();
  out["slo"] = pr::format_slos(o.config.slos);
  std::optional<pr::RepeatedResult> final_result;
  std::optional<pr::EnergyReading> energy;

  auto measure = [&](double load) -> Result<pr::RepeatedResult> {
    pr::LoadTestConfig c = o.config;
    if (c.mode == pr::LoadMode::kClosedLoop) c.users = static_cast<int32_t>(load);
    else if (c.mode == pr::LoadMode::kOpenLoop) c.arrivals.rate_per_s = load;
    bar.set_label(c.mode == pr::LoadMode::kClosedLoop ? "users " + std::to_string(c.users) + " "
                                                      : "rate " + std::to_string(load).substr(0, 8) + " ");
    if (meter) meter->start(0.1);
    auto r = pr::run_repeated(**target, *workload, c, o.repetitions, clock);
    if (meter) energy = meter->stop();
    bar.done();
    return r;
  };

  if (o.find_capacity) {
    o.config.mode = o.capacity_users ? pr::LoadMode::kClosedLoop : pr::LoadMode::kOpenLoop;
    std::map<double, pr::RepeatedResult> by_load;
    auto cap = pr::find_capacity(
        [&](double load) -> Result<pr::CapacityProbe> {
          EFFITUNE_ASSIGN_OR_RETURN(pr::RepeatedResult r, measure(load));
          pr::CapacityProbe p;
          p.load = load;
          p.meets = r.slo_met;
          p.margin = r.slo_margin;
          p.performance = r.performance;
          by_load.insert_or_assign(load, std::move(r));
          return p;
        },
        o.capacity);
    if (!cap.ok()) return report_error("loadtest", cap.status());
    json probes = json::array();
    for (const auto& p : cap->probes)
      probes.push_back({{"load", p.load}, {"meets", p.meets}, {"margin", estimate_json(p.margin)},
                        {"performance", estimate_json(p.performance)}});
    out["capacity"] = {{"of", o.capacity_users ? "users" : "rate_per_s"}, {"value", cap->capacity},
                       {"ci_low", cap->ci_low}, {"ci_high", cap->ci_high}, {"bracket_high", cap->bracket_high},
                       {"bracketed", cap->bracketed},
                       {"search", o.capacity.interpolation == pr::CapacityInterpolation::kPchip ? "pchip" : "bisect"},
                       {"interpolated_probes", cap->interpolated_probes}, {"probes", probes}};
    if (by_load.count(cap->capacity)) final_result = std::move(by_load.at(cap->capacity));
  } else {
    const double load = o.config.mode == pr::LoadMode::kClosedLoop ? o.config.users : o.config.arrivals.rate_per_s;
    auto r = measure(load);
    if (!r.ok()) return report_error("loadtest", r.status());
    final_result = std::move(*r);
  }
  if (final_result) out["result"] = repeated_json(*final_result);

  // Cost of the final (or capacity) load.
  if (o.prices && final_result) {
    pr::CostInput ci;
    ci.deployment = o.deployment;
    if (energy) ci.mean_power_w = energy->mean_power_w;
    ci.good_output_tokens = final_result->pooled.good_output_tokens;
    ci.measured_s = final_result->pooled.measured_s;
    auto cost = pr::compute_cost(*o.prices, ci);
    if (!cost.ok()) return report_error("loadtest", cost.status());
    out["cost"] = {{"usd_per_hour", cost->usd_per_hour}, {"hardware_usd_per_hour", cost->hardware_usd_per_hour},
                   {"energy_usd_per_hour", cost->energy_usd_per_hour ? json(*cost->energy_usd_per_hour) : json(nullptr)},
                   {"energy_known", cost->energy_known},
                   {"mean_power_w", energy ? json(energy->mean_power_w) : json(nullptr)},
                   {"usd_per_million_good_tokens",
                    cost->usd_per_million_good_tokens ? json(*cost->usd_per_million_good_tokens) : json(nullptr)}};
  } else {
    out["cost"] = nullptr;
    out["cost_note"] = o.prices ? "no load result" : "no --price table given: cost unknown";
  }
  if (!why_no_power.empty()) out["energy_note"] = why_no_power;

  if (o.json) {
    std::cout << out.dump(2) << "\n";
    return kExitOk;
  }
  if (out.contains("capacity"))
    std::printf("capacity: %.3f %s (95%% interval [%.3f, %.3f]), %zu probes\n", out["capacity"]["value"].get<double>(),
                o.capacity_users ? "users" : "req/s", out["capacity"]["ci_low"].get<double>(),
                out["capacity"]["ci_high"].get<double>(), out["capacity"]["probes"].size());
  if (final_result) {
    const pr::RunResult& p = final_result->pooled;
    std::printf("offered %zu  ok %zu  errors %zu  timeouts %zu  good %zu\n", p.offered, p.ok, p.errors, p.timeouts, p.good);
    auto line = [](const char* n, const pr::LatencySummary& s) {
      std::printf("%-5s p50 %9.2f  p90 %9.2f  p95 %9.2f  p99 %9.2f  max %9.2f ms  (n=%zu)\n", n, s.p50_ms, s.p90_ms,
                  s.p95_ms, s.p99_ms, s.max_ms, s.count);
    };
    line("ttft", p.ttft);
    line("itl", p.itl);
    line("tpot", p.tpot);
    line("e2e", p.e2e);
    std::printf("throughput %.3f req/s  %.1f tok/s  goodput %.3f req/s\n", p.throughput_rps, p.output_tokens_per_s, p.goodput_rps);
    std::printf("performance P %.4f [%.4f, %.4f]  SLOs %s  steady %s\n", final_result->performance.value,
                final_result->performance.ci_low, final_result->performance.ci_high, final_result->slo_met ? "met" : "missed",
                p.steady ? "yes" : "no");
    std::printf("dispatch lateness p50 %.3f ms  p99 %.3f ms  max %.3f ms\n", p.lateness_p50_ms, p.lateness_p99_ms, p.lateness_max_ms);
    for (const auto& e : p.sample_errors) std::printf("error: %s\n", e.c_str());
  }
  if (!out["cost"].is_null())
    std::printf("cost $%.4f/hour, $/1M good tokens: %s\n", out["cost"]["usd_per_hour"].get<double>(),
                out["cost"]["usd_per_million_good_tokens"].dump().c_str());
  return kExitOk;
}

}  // namespace effitune::cli
