// measure_trial: one configuration, measured in this process (the `effitune trial` child).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "effitune/engine/batch_policy.h"
#include "effitune/engine/dtype.h"
#include "effitune/orchestrator/batch1_probe.h"
#include "effitune/orchestrator/engine_target.h"
#include "effitune/orchestrator/objective.h"
#include "effitune/orchestrator/quality_probe.h"
#include "effitune/orchestrator/trial_runner.h"
#include "effitune/probes/capacity_search.h"
#include "effitune/probes/load_test.h"

namespace effitune::orchestrator {
namespace {

using nlohmann::json;

// Dimension names that become batch-policy parameters (batch_policy.h), with or without a
// "batch_policy." prefix.
const std::set<std::string> kPolicyParams = {"batch_size", "timeout_ms", "max_batch", "min_batch", "window_ms",
                                             "service_ms", "queue_latency_high_ms", "kv_high", "alpha", "beta",
                                             "bucket_ms", "lookahead_buckets", "urgent_priority", "preempt"};

Interval to_interval(const probes::Estimate& e) {
  return Interval{e.value, e.ci_low, e.ci_high, static_cast<int64_t>(e.n)};
}

double finite_or(double v, double fallback) { return std::isfinite(v) ? v : fallback; }

json est_json(const probes::Estimate& e) {
  return {{"value", finite_or(e.value, 0)}, {"ci_low", finite_or(e.ci_low, 0)}, {"ci_high", finite_or(e.ci_high, 0)},
          {"n", e.n}};
}

// Forces the configuration's decoding onto every load-test request (workloads default to greedy).
class SamplingTarget : public probes::Target {
 public:
  SamplingTarget(std::unique_ptr<probes::Target> inner, probes::SamplingParams sampling)
      : inner_(std::move(inner)), sampling_(sampling) {}
  std::string name() const override { return inner_->name(); }
  void submit(const probes::TargetRequest& request, std::shared_ptr<probes::StreamSink> sink) override {
    probes::TargetRequest r = request;
    r.sampling = sampling_;
    inner_->submit(r, std::move(sink));
  }

 private:
  std::unique_ptr<probes::Target> inner_;
  probes::SamplingParams sampling_;
};

struct Knobs {
  engine::EngineConfig engine;
  engine::TokenBudget budget;
  engine::DecodingConfig decoding;
  std::string batch_policy = "continuous";
  engine::PolicyParams policy_params;
  int32_t gpu_count = 0;
};

Result<Knobs> knobs_of(const Experiment& ex, const search::Configuration& c, int32_t model_context) {
  Knobs k;
  k.engine.model_path = ex.model.path;
  k.engine.tokenizer_path = ex.model.tokenizer_path.value_or("");
  k.engine.backend.kind = ex.engine.backend;
  k.engine.backend.threads = ex.engine.threads;
  if (!ex.engine.devices.empty()) k.engine.backend.device = ex.engine.devices.front();
  k.engine.max_sequences = ex.engine.max_sequences;
  k.engine.context_length = ex.engine.context_length;
  k.engine.synthetic_seed = ex.seed;
  if (auto q = c.get_string("quant")) {
    auto t = engine::parse_dtype(*q);
    if (!t) return invalid_argument("configuration: quant '" + *q + "' is not a weight type");
    k.engine.weight_type = *t;
  }
  if (auto g = c.get_int("gpu_count")) {
    k.gpu_count = static_cast<int32_t>(*g);
    k.engine.backend.gpu_count = std::max<int32_t>(1, k.gpu_count);
  }
  const int32_t context = ex.engine.context_length > 0 ? ex.engine.context_length : model_context;
  k.budget.response_tokens = static_cast<int32_t>(
      c.get_int("response_budget").value_or(ex.workload.max_new_tokens > 0 ? ex.workload.max_new_tokens : 64));
  k.budget.history_tokens =
      static_cast<int32_t>(c.get_int("history_budget").value_or(context - k.budget.response_tokens));
  if (k.budget.hard_limit() > context) {
    return invalid_argument("configuration: history_budget + response_budget = " +
                            std::to_string(k.budget.hard_limit()) + " exceeds the context of " +
                            std::to_string(context) + " tokens; lower the space's upper bounds");
  }
  const std::string dec = c.get_string("decoding").value_or("greedy");
  if (dec == "greedy") {
    k.decoding.strategy = engine::DecodingStrategy::kGreedy;
  } else if (dec == "sample") {
    k.decoding.strategy = engine::DecodingStrategy::kSample;
    k.decoding.temperature = static_cast<float>(c.get_double("temperature").value_or(1.0));
    k.decoding.top_p = static_cast<float>(c.get_double("top_p").value_or(1.0));
    k.decoding.top_k = static_cast<int32_t>(c.get_int("top_k").value_or(0));
  } else if (dec == "beam") {
    k.decoding.strategy = engine::DecodingStrategy::kBeam;
    k.decoding.beam_width = static_cast<int32_t>(c.get_int("beam_width").value_or(2));
  } else {
    return invalid_argument("configuration: decoding '" + dec + "' is not greedy, sample or beam");
  }
  k.batch_policy = c.get_string("batch_policy").value_or("continuous");
  for (const auto& [name, value] : c.values) {
    std::string key = name.rfind("batch_policy.", 0) == 0 ? name.substr(13) : name;
    if (!kPolicyParams.count(key)) continue;
    if (auto d = c.get_double(name)) k.policy_params[key] = *d;
  }
  return k;
}

std::vector<probes::Slo> slos_of(const SloSection& s) {
  std::vector<probes::Slo> out;
  if (s.ttft_p95_ms) out.push_back({probes::SloMetric::kTtft, 95, *s.ttft_p95_ms, "ttft_p95_ms"});
  if (s.tpot_p95_ms) out.push_back({probes::SloMetric::kTpot, 95, *s.tpot_p95_ms, "tpot_p95_ms"});
  if (s.e2e_p95_ms) out.push_back({probes::SloMetric::kE2e, 95, *s.e2e_p95_ms, "e2e_p95_ms"});
  return out;
}

json run_json(double load, const probes::RepeatedResult& r) {
  return {{"load_rps", load},
          {"performance", est_json(r.performance)},
          {"throughput_rps", est_json(r.throughput_rps)},
          {"goodput_rps", est_json(r.goodput_rps)},
          {"slo_met", r.slo_met},
          {"slo_margin", est_json(r.slo_margin)},
          {"ttft_p50_ms", r.pooled.ttft.p50_ms},
          {"ttft_p95_ms", r.pooled.ttft.p95_ms},
          {"ttft_p99_ms", r.pooled.ttft.p99_ms},
          {"tpot_p50_ms", r.pooled.tpot.p50_ms},
          {"tpot_p95_ms", r.pooled.tpot.p95_ms},
          {"itl_p95_ms", r.pooled.itl.p95_ms},
          {"e2e_p50_ms", r.pooled.e2e.p50_ms},
          {"e2e_p95_ms", r.pooled.e2e.p95_ms},
          {"e2e_p99_ms", r.pooled.e2e.p99_ms},
          {"offered", r.pooled.offered},
          {"good", r.pooled.good},
          {"errors", r.pooled.errors},
          {"timeouts", r.pooled.timeouts},
          {"output_tokens_per_s", r.pooled.output_tokens_per_s},
          {"sample_errors", r.pooled.sample_errors}};
}

LoadPoint point_of(double load, const probes::RepeatedResult& r) {
  LoadPoint p;
  p.offered_rps = load;
  p.achieved_rps = r.throughput_rps.value;
  p.goodput_rps = r.goodput_rps.value;
  p.ttft_p95_ms = r.pooled.ttft.p95_ms;
  p.tpot_p95_ms = r.pooled.tpot.p95_ms;
  p.e2e_p95_ms = r.pooled.e2e.p95_ms;
  p.performance = r.performance.value;
  return p;
}

void say(bool progress, const std::string& line) {
  if (progress) std::fprintf(stderr, "  %s\n", line.c_str());
}

}  // namespace

Result<TrialRecord> measure_trial(const Experiment& ex, const search::Configuration& configuration,
                                  std::optional<double> fidelity, bool progress,
                                  const std::optional<IcsEstimate>& ics) {
  if (!ics && ex.objective.weights.ics > 0) {
    // Checked first: Q could not be computed at the end, so measuring would be wasted.
    return failed_precondition("objective.weights.ICS is " + std::to_string(ex.objective.weights.ics) +
                               " but this trial got no ICS ratings (--ics); import ratings into the study with "
                               "`effitune feedback import FILE --db DB` and resume the run");
  }
  EFFITUNE_ASSIGN_OR_RETURN(search::Configuration c, ex.space.canonicalize(configuration));
  EFFITUNE_ASSIGN_OR_RETURN(auto items, probes::read_dataset(ex.workload.eval_set_path));
  if (ex.workload.items > 0 && items.size() > static_cast<size_t>(ex.workload.items)) items.resize(ex.workload.items);
  if (items.empty()) return invalid_argument("the evaluation set " + ex.workload.eval_set_path + " has no items");

  // --- Quality: this configuration's engine against the reference engine (f32, greedy, full history).
  json measurements;
  QualityReport quality;
  Knobs k;
  int32_t cpu_cores = 0;
  std::string gpu_model;  // the accelerator the configuration ran on ("" on the CPU)
  {
    engine::EngineConfig probe_cfg;
    probe_cfg.model_path = ex.model.path;
    probe_cfg.tokenizer_path = ex.model.tokenizer_path.value_or("");
    probe_cfg.backend.kind = ex.engine.backend;
    probe_cfg.backend.threads = ex.engine.threads;
    probe_cfg.max_sequences = 2;
    probe_cfg.context_length = ex.engine.context_length;
    probe_cfg.weight_type = engine::DType::kF32;
    probe_cfg.synthetic_seed = ex.seed;
    EFFITUNE_ASSIGN_OR_RETURN(auto reference, engine::Engine::create(probe_cfg));
    EFFITUNE_ASSIGN_OR_RETURN(k, knobs_of(ex, c, reference->context_length()));
    engine::EngineConfig qcfg = k.engine;
    qcfg.max_sequences = 2;
    say(progress, "quality: loading the engine (" + std::string(qcfg.weight_type ? engine::dtype_name(*qcfg.weight_type) : "stored") + ")");
    EFFITUNE_ASSIGN_OR_RETURN(auto eng, engine::Engine::create(qcfg));
    // Before the first step, for the batch-1 probe below: CUDA graphs keep the timer setting they are
    // captured with. (A no-op on one GPU.)
    eng->backend().start_collective_timing();
    gpu_model = eng->backend().accelerator_model();
    QualityProbeOptions qo;
    qo.budget = k.budget;
    qo.decoding = k.decoding;
    qo.repeats = ex.workload.repeats;
    qo.seed = ex.seed;
    EFFITUNE_ASSIGN_OR_RETURN(quality, run_quality_probe(*eng, reference.get(), items, qo));
    say(progress, "quality: A " + std::to_string(quality.accuracy.value) + ", Cm " +
                      std::to_string(quality.completeness.value) + ", C " + std::to_string(quality.consistency.value));
    measurements["quality"] = json::parse(quality_report_to_json(quality, false, -1));
    // One request alone on this configuration's engine (not the load-tested one: the collective timer
    // costs the exchange a little): its time per token and, under tensor parallelism, its all-reduce
    // share, for the report's GPU-count chart.
    say(progress, "batch 1: one request alone, 32 tokens");
    // An auxiliary figure: a failure is recorded beside the trial's measurements, not as the trial's.
    if (auto b1 = measure_batch1_decode(*eng); b1.ok()) {
      measurements["batch1_decode"] = {{"decode_tokens", b1->decode_tokens}, {"ms_per_token", b1->ms_per_token},
                                       {"prefill_ms", b1->prefill_ms},       {"allreduce_calls", b1->allreduce_calls},
                                       {"allreduce_ms", b1->allreduce_ms},   {"allreduce_share", b1->allreduce_share}};
    } else {
      measurements["batch1_decode_error"] = b1.status().to_string();
    }
  }
  cpu_cores = ex.engine.threads > 0 ? ex.engine.threads : static_cast<int32_t>(std::max(1u, std::thread::hardware_concurrency()));

  // --- Load: capacity under the SLOs, then P at the goal's share per replica.
  EngineTargetOptions to;
  to.engine = k.engine;
  to.scheduler.max_num_seqs = ex.engine.max_sequences;
  to.batch_policy = k.batch_policy;
  to.policy_params = k.policy_params;
  to.history_budget_tokens = k.budget.history_tokens;
  EFFITUNE_ASSIGN_OR_RETURN(auto inner, make_engine_target(to));
  probes::SamplingParams sp;
  if (k.decoding.strategy == engine::DecodingStrategy::kSample) {
    sp.temperature = k.decoding.temperature;
    sp.top_p = k.decoding.top_p;
    sp.top_k = k.decoding.top_k;
    sp.seed = ex.seed;
  } else if (k.decoding.strategy == engine::DecodingStrategy::kBeam) {
    // The scheduler serves greedy and sampled decoding only; beam latency is approximated by greedy.
    measurements["load_note"] = "beam search is measured for quality only; the load test decodes greedily";
  }
  SamplingTarget target(std::move(inner), sp);
  EFFITUNE_ASSIGN_OR_RETURN(auto workload, probes::Workload::from_eval_set(items, k.budget.response_tokens));

  probes::LoadTestConfig lc;
  lc.mode = probes::LoadMode::kOpenLoop;
  lc.arrivals.kind = probes::ArrivalKind::kPoisson;
  const double measured_s = fidelity.value_or(ex.workload.load_test_s);
  lc.duration_s = ex.workload.warmup_s + measured_s;
  lc.warmup_s = ex.workload.warmup_s;
  lc.slos = slos_of(ex.slo);
  lc.request_timeout_s = ex.slo.e2e_p95_ms ? std::max(2.0, 4 * *ex.slo.e2e_p95_ms / 1000) : 30;
  lc.drain_timeout_s = std::min(lc.request_timeout_s, 5.0);
  lc.seed = ex.seed;
  probes::SteadyClock clock;
  std::map<double, probes::RepeatedResult> by_load;
  auto measure = [&](double load) -> Result<probes::RepeatedResult> {
    probes::LoadTestConfig cfg = lc;
    cfg.arrivals.rate_per_s = load;
    EFFITUNE_ASSIGN_OR_RETURN(probes::RepeatedResult r, probes::run_repeated(target, workload, cfg, 1, clock));
    // An engine that answers only with errors (a tensor-parallel group stopped by a failed step, a
    // backend fault) fails the trial with its reason, rather than recording a configuration with P = 0.
    EFFITUNE_RETURN_IF_ERROR(probes::every_request_failed(r.pooled, load).with_context("load test"));
    return r;
  };

  // One sequence's throughput bounds the first probe from below; batching raises capacity from there.
  const double single_rps = 1000.0 / std::max(1.0, quality.mean_generation_ms);
  probes::CapacityOptions co;
  co.start_load = single_rps;
  co.min_load = single_rps / 64;
  co.max_load = single_rps * 256;
  co.tolerance = std::max(0.01, single_rps * 0.25);
  co.max_probes = ex.workload.capacity_probes;
  EFFITUNE_ASSIGN_OR_RETURN(co.interpolation, probes::parse_capacity_interpolation(ex.workload.capacity_search));
  EFFITUNE_ASSIGN_OR_RETURN(
      probes::CapacityResult cap,
      probes::find_capacity(
          [&](double load) -> Result<probes::CapacityProbe> {
            EFFITUNE_ASSIGN_OR_RETURN(probes::RepeatedResult r, measure(load));
            probes::CapacityProbe p{load, r.slo_met, r.slo_margin, r.performance};
            say(progress, "capacity: " + std::to_string(load) + " rps -> " + (r.slo_met ? "meets" : "misses") +
                              " the SLOs (P " + std::to_string(r.performance.value) + ")");
            by_load.insert_or_assign(load, std::move(r));
            return p;
          },
          co));

  ReplicaMeasure replica;
  replica.capacity_rps = Interval{cap.capacity, std::min(cap.ci_low, cap.capacity), std::max(cap.ci_high, cap.capacity),
                                  static_cast<int64_t>(cap.probes.size())};
  replica.gpus_per_replica = ex.engine.backend == "cuda" ? std::max<int32_t>(1, k.gpu_count) : 0;
  replica.gpu_model = gpu_model;  // prices the GPU that ran the trial
  replica.cpu_cores_per_replica = cpu_cores;
  if (by_load.count(cap.capacity)) {
    const auto& r = by_load.at(cap.capacity);
    if (r.pooled.measured_s > 0) replica.good_output_tokens_per_s = r.pooled.good_output_tokens / r.pooled.measured_s;
  }
  EFFITUNE_ASSIGN_OR_RETURN(CostEstimate cost, compute_cost(ex.goal, replica, ex.prices));

  // P at the tested load: the goal's request rate spread over the replicas the goal needs.
  double goal_rps = ex.goal.requests_per_s.value_or(0);
  if (!ex.goal.requests_per_s && ex.goal.users && ex.goal.think_time_s > 0) goal_rps = *ex.goal.users / ex.goal.think_time_s;
  probes::Estimate performance;
  json p_run;
  if (cost.goal_met && goal_rps > 0) {
    const double load = goal_rps / cost.cost.replicas;
    EFFITUNE_ASSIGN_OR_RETURN(probes::RepeatedResult r, measure(load));
    say(progress, "performance at " + std::to_string(load) + " rps per replica: P " + std::to_string(r.performance.value));
    performance = r.performance;
    p_run = run_json(load, r);
  } else if (!cap.probes.empty()) {
    // The goal cannot be met: P is what the lowest load tried achieved.
    double lowest = cap.probes.front().load;
    for (const auto& p : cap.probes) lowest = std::min(lowest, p.load);
    performance = by_load.at(lowest).performance;
    p_run = run_json(lowest, by_load.at(lowest));
  }

  TrialRecord rec;
  rec.experiment = ex.name;
  rec.state = TrialState::kComplete;
  rec.fidelity = fidelity;
  rec.indicators.performance = to_interval(performance);
  rec.indicators.consistency = to_interval(quality.consistency);
  rec.indicators.completeness = to_interval(quality.completeness);
  rec.indicators.accuracy = to_interval(quality.accuracy);
  rec.indicators.parts["repeat_agreement"] = to_interval(quality.repeat_agreement);
  rec.indicators.parts["same_top1"] = to_interval(quality.same_top1);
  rec.indicators.parts["mean_kl"] = to_interval(quality.mean_kl);
  rec.indicators.parts["history_consistency"] = to_interval(quality.history_consistency);
  rec.indicators.parts["truncation_rate"] = to_interval(quality.truncation_rate);
  rec.indicators.parts["key_point_recall"] = to_interval(quality.key_point_recall);
  if (ics) {
    rec.indicators.parts["ics"] = ics->interval;
    measurements["ics"] = {{"source", ics->source}, {"ratings", ics->interval.n}};
  }
  EFFITUNE_RETURN_IF_ERROR(evaluate_record(rec, replica, ex));
  for (const auto& [load, r] : by_load) rec.load_curve.push_back(point_of(load, r));

  json caps = json::array();
  for (const auto& [load, r] : by_load) caps.push_back(run_json(load, r));
  measurements["capacity"] = {{"rps", cap.capacity},         {"ci_low", cap.ci_low},   {"ci_high", cap.ci_high},
                              {"bracketed", cap.bracketed},  {"probes", caps},         {"single_sequence_rps", single_rps}};
  measurements["performance_run"] = p_run;
  measurements["running_cost"] = {{"usd_per_hour", finite_or(cost.usd_per_hour.value, -1)},
                                  {"ci_low", finite_or(cost.usd_per_hour.ci_low, -1)},
                                  {"ci_high", finite_or(cost.usd_per_hour.ci_high, -1)},
                                  {"goal_met", cost.goal_met}};
  measurements["knobs"] = {{"history_budget", k.budget.history_tokens},
                           {"response_budget", k.budget.response_tokens},
                           {"batch_policy", k.batch_policy},
                           {"cpu_cores_per_replica", cpu_cores}};
  rec.measurements_json = measurements.dump(-1, ' ', false, json::error_handler_t::replace);
  return rec;
}

}  // namespace effitune::orchestrator
