// Text helpers shared by the report's builder and renderers (private to the orchestrator).
#pragma once

#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "effitune/orchestrator/experiment.h"
#include "effitune/orchestrator/objective.h"
#include "effitune/orchestrator/report_model.h"
#include "effitune/orchestrator/study_store.h"
#include "effitune/orchestrator/svg_chart.h"
#include "effitune/orchestrator/trial_record.h"

namespace effitune::orchestrator::report_detail {

// "0.812 [0.790, 0.830]"; the bracket is left out when the interval is a point.
inline std::string interval_text(const Interval& i, int significant = 3) {
  std::string s = format_number(i.value, significant);
  if (i.ci_low != i.ci_high) {
    s += " [" + format_number(i.ci_low, significant) + ", " + format_number(i.ci_high, significant) + "]";
  }
  return s;
}

// "$12.4/h"; "unreachable" for +inf (the goal cannot be met at any replica count).
inline std::string money_per_hour(double usd) {
  if (!std::isfinite(usd)) return "unreachable";
  std::string s = "$";  // appended, not "$" + ...: GCC 12 warns falsely (-Wrestrict) on that form
  s += format_number(usd, 4);
  s += "/h";
  return s;
}

// "1 core", "3 cores": a count with its unit, plural when it is not 1.
inline std::string count_of(int64_t n, const std::string& unit) {
  return std::to_string(n) + " " + unit + (n == 1 ? "" : "s");
}

// "$1.25"
inline std::string dollars(double usd) {
  std::string s = "$";
  s += format_number(usd, 4);
  return s;
}

// "time to first token (p95)" for "ttft_p95_ms", and so on; the name itself when unknown.
inline std::string slo_label(const std::string& name) {
  if (name == "ttft_p95_ms") return "time to first token (p95)";
  if (name == "tpot_p95_ms") return "time per output token (p95)";
  if (name == "e2e_p95_ms") return "end-to-end (p95)";
  return name;
}

// "quant=q8_0, history_budget=256"
inline std::string configuration_text(const std::vector<std::pair<std::string, std::string>>& c) {
  std::string s;
  for (const auto& [k, v] : c) s += (s.empty() ? "" : ", ") + k + "=" + v;
  return s.empty() ? "(empty configuration)" : s;
}

// The dimensions of a configuration JSON object, in the order given by `order` (the experiment's
// space) and then the rest in the object's order. Malformed JSON gives {{"configuration", text}}.
std::vector<std::pair<std::string, std::string>> configuration_pairs(const std::string& json,
                                                                     const std::vector<std::string>& order);

// The trial table's "why" cell, one line each: the failure reason of a failed trial, else the
// constraints a measured trial breaks (a pruned trial says so; an infeasible record with no stored
// constraint, from an older study, says that).
inline std::vector<std::string> why_lines(const TrialRow& t) {
  if (!t.failure_reason.empty()) return {t.failure_reason};
  std::vector<std::string> out;
  for (const auto& v : t.violations) out.push_back(v.text);
  if (t.state == "pruned") out.insert(out.begin(), "pruned by successive halving after a short probe");
  else if (out.empty() && t.usd_per_hour && !t.feasible) out.push_back("not feasible (no constraint recorded)");
  return out;
}

// Date and time of a unix timestamp in UTC, "2025-01-31 22:04 UTC".
std::string utc_text(double unix_s);

// What the chart builders need besides the trials.
struct ChartContext {
  ObjectiveSection objective;
  SloSection slo;
  std::vector<std::string> order;  // dimension names in the experiment's order
  int64_t recommended = -1;        // trial id, -1 when none
  double goal_rps_per_replica = 0;  // 0 when unknown
  E1Verdict e1;
};

// Complete trials with a finite R, the points of the quadrant and Pareto charts.
std::vector<const TrialRecord*> drawable(const std::vector<TrialRecord>& trials);
// The Pareto front of Q (higher is better) against R (lower is better) over `points`, by R ascending:
// a point is on it when no other has R <= and Q >= with one strictly better.
std::vector<const TrialRecord*> pareto_front(const std::vector<const TrialRecord*>& points);
// The quadrant split on the cost axis (cost_split_usd_per_hour, or R0 / 2 when 0).
double cost_split(const ObjectiveSection& objective);
// p95 latencies of a load curve at `rps` by linear interpolation between the neighbouring points
// (clamped at the ends). Returns false when the curve is empty.
bool latency_at(const std::vector<LoadPoint>& curve, double rps, LoadPoint& out);

Chart quadrant_chart(const std::vector<TrialRecord>& trials, const ChartContext& ctx);
Chart pareto_chart(const std::vector<TrialRecord>& trials, const ChartContext& ctx);
Chart climb_chart(const std::vector<TrialRecord>& trials, const ChartContext& ctx);
Chart latency_chart(const std::vector<TrialRecord>& trials, const ChartContext& ctx);
// One chart per dimension that takes at least two values among complete trials, most influential first.
std::vector<Chart> sensitivity_charts(const std::vector<TrialRecord>& trials, const ChartContext& ctx);
Chart drift_chart(const std::vector<DriftRow>& latest, const std::vector<std::string>& order);
// Capacity per GPU against GPUs per replica, with the E1 of the GPU count in its reading, then (when
// every degree has the trial runner's batch-1 probe) batch-1 time per token against GPUs per replica
// with its all-reduce part, saying where all-reduce latency stops more GPUs paying back. None when
// the complete trials measured fewer than two tensor-parallel degrees.
std::vector<Chart> gpu_scaling_charts(const std::vector<TrialRecord>& trials, const ChartContext& ctx);

}  // namespace effitune::orchestrator::report_detail
