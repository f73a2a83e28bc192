// A realistic study for report tests, written through the StudyStore API: a CPU deployment of the
// support-desk task model searched over quant x history budget x batch policy, with figures shaped
// like the ones the loop measures (lower precision: more capacity, less accuracy; longer history:
// more accuracy, slower prefill; continuous batching: more capacity). Q, R, E, feasibility and the
// quadrant come from the objective (evaluate_record), as in a real run.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "effitune/orchestrator/experiment.h"
#include "effitune/orchestrator/objective.h"
#include "effitune/orchestrator/study_store.h"

namespace effitune::testing {

inline constexpr const char* kReportExperimentYaml = R"(name: support-desk-cpu
model: task/model.gguf
engine: {backend: cpu, threads: 2}
workload: {eval_set: task/dev.jsonl, items: 120, repeats: 3, load_test_s: 20, warmup_s: 5}
goal: {users: 40, think_time_s: 5, requests_per_s: 6}
slo: {ttft_p95_ms: 800, e2e_p95_ms: 4000}
objective: {r0_usd_per_hour: 2.0, e0: 0.4, quality_split: 0.6, e1_patience: 4}
prices: {usd_per_cpu_core_hour: 0.12}
space:
  - {name: quant, type: categorical, values: [f32, q8_0, q4_0]}
  - {name: history_budget, type: int, lo: 64, hi: 256, step: 64}
  - {name: batch_policy, type: categorical, values: [static, continuous]}
strategy: {name: random, max_trials: 12}
seed: 7
)";

inline orchestrator::Experiment report_experiment() {
  auto e = orchestrator::parse_experiment(kReportExperimentYaml, "report_test_study.h", "/tmp", false);
  EXPECT_TRUE(e.ok()) << e.status().to_string();
  return e.ok() ? *e : orchestrator::Experiment{};
}

inline orchestrator::Interval unit_interval(double v, double half, int64_t n) {
  return {v, std::max(0.0, v - half), std::min(1.0, v + half), n};
}

// One complete trial of (quant, history budget, batch policy).
inline orchestrator::TrialRecord realistic_record(const orchestrator::Experiment& ex, int64_t id, const std::string& quant,
                                                  int history, const std::string& policy) {
  using namespace orchestrator;
  const double acc_q = quant == "f32" ? 0.82 : quant == "q8_0" ? 0.80 : 0.66;
  const double cap_q = quant == "f32" ? 1.2 : quant == "q8_0" ? 1.9 : 2.6;
  const double base_ms = (quant == "f32" ? 900 : quant == "q8_0" ? 700 : 560) * (0.8 + 0.4 * history / 256.0);
  const double h = 0.7 + 0.3 * history / 256.0;  // history consistency grows with the history budget
  TrialRecord r;
  r.id = id;
  r.experiment = ex.name;
  r.state = TrialState::kComplete;
  r.configuration_json = "{\"quant\":\"" + quant + "\",\"history_budget\":" + std::to_string(history) +
                         ",\"batch_policy\":\"" + policy + "\"}";
  r.indicators.performance = unit_interval(policy == "static" ? 0.93 : 0.97, 0.02, 400);
  r.indicators.consistency = unit_interval((quant == "q4_0" ? 0.84 : 0.94) * h, 0.03, 360);
  r.indicators.completeness = unit_interval(0.88 - 0.1 * (1 - history / 256.0), 0.03, 120);
  r.indicators.accuracy = unit_interval(acc_q * h, 0.04, 120);
  r.indicators.parts["same_top1"] = unit_interval(quant == "f32" ? 1.0 : quant == "q8_0" ? 0.97 : 0.88, 0.01, 2000);
  r.indicators.parts["history_consistency"] = unit_interval(h, 0.05, 60);
  const double cap = cap_q * (policy == "continuous" ? 1.5 : 1.0) * (1.1 - 0.2 * history / 256.0);
  ReplicaMeasure m;
  m.capacity_rps = {cap, cap * 0.92, cap * 1.08, 5};
  m.cpu_cores_per_replica = 2;
  m.good_output_tokens_per_s = cap * 48;
  EXPECT_TRUE(evaluate_record(r, m, ex).ok());
  for (double rho : {0.25, 0.5, 0.75, 1.0, 1.25}) {
    LoadPoint p;
    p.offered_rps = cap * rho;
    p.e2e_p95_ms = base_ms * (1 + 3 * rho * rho * rho);
    p.ttft_p95_ms = 0.15 * p.e2e_p95_ms;
    p.tpot_p95_ms = p.e2e_p95_ms / 64;
    p.performance = std::min(1.0, 4000 / p.e2e_p95_ms);
    p.achieved_rps = p.offered_rps * std::min(1.0, 1.1 / rho);
    p.goodput_rps = p.achieved_rps * p.performance;
    r.load_curve.push_back(p);
  }
  r.started_at = 1.7e9 + 600.0 * id;
  r.finished_at = r.started_at + 540;
  return r;
}

struct ReportStudy {
  std::unique_ptr<orchestrator::StudyStore> store;
  orchestrator::Experiment experiment;
  std::vector<orchestrator::TrialRecord> records;  // as written (complete ones; failed ones have state kFailed)
};

// Writes `trials` trials (every trial whose id is in `failed` fails with a reason) into a new study at
// `path`; with `drift`, one nightly drift run against the best trial as baseline.
inline ReportStudy build_report_study(const std::string& path, int trials, const std::vector<int64_t>& failed = {},
                                      bool drift = false) {
  using namespace orchestrator;
  ReportStudy s;
  s.experiment = report_experiment();
  auto store = StudyStore::open(path);
  EXPECT_TRUE(store.ok()) << store.status().to_string();
  s.store = std::move(store).value();
  ExperimentRow row;
  row.name = s.experiment.name;
  row.yaml_text = kReportExperimentYaml;
  row.engine_commit = "0123abc";
  row.device = "cpu: 2 threads (AMD EPYC)";
  row.model_sha256 = std::string(64, 'a');
  EXPECT_TRUE(s.store->ensure_experiment(row).ok());
  const char* quants[] = {"f32", "q8_0", "q4_0"};
  const char* policies[] = {"static", "continuous"};
  for (int64_t id = 0; id < trials; ++id) {
    TrialRecord r = realistic_record(s.experiment, id, quants[(id * 7 + 1) % 3], 64 * (1 + (id * 5 + 2) % 4),
                                     policies[(id / 2) % 2]);
    EXPECT_TRUE(s.store->create_trial(row.name, id, r.configuration_json).ok());
    EXPECT_TRUE(s.store->mark_running(row.name, id, r.started_at).ok());
    if (std::find(failed.begin(), failed.end(), id) != failed.end()) {
      r.state = TrialState::kFailed;
      r.failure_reason = "engine start failed: KV cache of 8 sequences x 320 tokens does not fit in 64 MiB";
      EXPECT_TRUE(s.store->fail_trial(row.name, id, r.failure_reason, r.finished_at).ok());
    } else {
      EXPECT_TRUE(s.store->complete_trial(r).ok());
    }
    s.records.push_back(r);
  }
  if (drift && !s.records.empty()) {
    std::vector<DriftRow> rows;
    const TrialRecord& base = s.records.front();
    auto add = [&](const char* name, Interval b, Interval c, bool sig, double p) {
      rows.push_back({0, row.name, 1.7e9 + 86400, base.configuration_json, name, b, c, sig, "two-proportion-z", p});
    };
    add("performance", base.indicators.performance, base.indicators.performance, false, 0.9);
    add("accuracy", base.indicators.accuracy, unit_interval(base.indicators.accuracy.value - 0.12, 0.04, 120), true, 0.002);
    add("consistency", base.indicators.consistency, unit_interval(base.indicators.consistency.value - 0.01, 0.03, 360), false, 0.6);
    EXPECT_TRUE(s.store->add_drift_results(rows).ok());
  }
  return s;
}

}  // namespace effitune::testing
