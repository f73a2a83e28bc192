// The report's aggregate charts: latency against load, the effect of each dimension, and drift.
#include <algorithm>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>

#include "report_util.h"

namespace effitune::orchestrator::report_detail {
namespace {

// Two-sided 95% Student t quantiles for 1..30 degrees of freedom (standard tables); 1.96 beyond.
double t975(int64_t df) {
  static constexpr double kT[] = {12.706, 4.303, 2.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
                                  2.201,  2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
                                  2.080,  2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042};
  if (df < 1) return 0;
  return df <= 30 ? kT[df - 1] : 1.96;
}

struct Metric {
  const char* name;
  const char* label;
  std::optional<double> slo;
  double LoadPoint::*field;
};

// The latency the experiment constrains, end-to-end first (what users feel).
Metric latency_metric(const SloSection& slo) {
  if (slo.e2e_p95_ms) return {"e2e", "end-to-end", slo.e2e_p95_ms, &LoadPoint::e2e_p95_ms};
  if (slo.ttft_p95_ms) return {"ttft", "time to first token", slo.ttft_p95_ms, &LoadPoint::ttft_p95_ms};
  if (slo.tpot_p95_ms) return {"tpot", "time per output token", slo.tpot_p95_ms, &LoadPoint::tpot_p95_ms};
  return {"e2e", "end-to-end", std::nullopt, &LoadPoint::e2e_p95_ms};
}

// The load at which `field` first exceeds `limit`, interpolated; nullopt when it never does.
std::optional<double> crossing(std::vector<LoadPoint> curve, double LoadPoint::*field, double limit) {
  std::sort(curve.begin(), curve.end(), [](const LoadPoint& a, const LoadPoint& b) { return a.offered_rps < b.offered_rps; });
  for (size_t i = 0; i < curve.size(); ++i) {
    if (curve[i].*field <= limit) continue;
    if (i == 0) return curve[0].offered_rps;
    const auto& a = curve[i - 1];
    const auto& b = curve[i];
    return a.offered_rps + (limit - a.*field) / (b.*field - a.*field) * (b.offered_rps - a.offered_rps);
  }
  return std::nullopt;
}

struct Group {
  std::string label;
  double sort_key = 0;
  std::vector<double> values;
};

}  // namespace

Chart latency_chart(const std::vector<TrialRecord>& trials, const ChartContext& ctx) {
  Chart c;
  c.id = "latency";
  const Metric m = latency_metric(ctx.slo);
  c.title = std::string("Latency against load for the top configurations (p95 ") + m.label + ")";
  c.x_label = "offered load per replica (requests/s)";
  c.y_label = std::string("p95 ") + m.label + " latency (ms)";
  c.x_from_zero = true;
  std::vector<const TrialRecord*> top;
  for (const auto& t : trials) {
    if (t.state == TrialState::kComplete && !t.load_curve.empty()) top.push_back(&t);
  }
  std::sort(top.begin(), top.end(), [&](const TrialRecord* a, const TrialRecord* b) {
    if ((a->id == ctx.recommended) != (b->id == ctx.recommended)) return a->id == ctx.recommended;
    if (a->feasible != b->feasible) return a->feasible;
    return a->efficiency > b->efficiency;
  });
  if (top.size() > 3) top.resize(3);
  for (size_t i = 0; i < top.size(); ++i) {
    const TrialRecord& t = *top[i];
    ChartSeries s{"trial " + std::to_string(t.id) + (t.id == ctx.recommended ? " (recommended)" : ""), MarkKind::kLine,
                  static_cast<int>(i), {}};
    std::vector<LoadPoint> curve = t.load_curve;
    std::sort(curve.begin(), curve.end(), [](const LoadPoint& a, const LoadPoint& b) { return a.offered_rps < b.offered_rps; });
    for (const auto& p : curve) {
      s.points.push_back({p.offered_rps, p.*m.field, {}, {}, t.id,
                          "trial " + std::to_string(t.id) + " at " + format_number(p.offered_rps) + " req/s: p95 " +
                              format_number(p.*m.field) + " ms, goodput " + format_number(p.goodput_rps) +
                              " req/s, P " + format_number(p.performance),
                          false});
    }
    c.series.push_back(std::move(s));
  }
  if (m.slo) c.rules.push_back({false, *m.slo, "SLO " + format_number(*m.slo) + " ms"});
  if (ctx.goal_rps_per_replica > 0) {
    c.rules.push_back({true, ctx.goal_rps_per_replica, "goal load (trial " + std::to_string(ctx.recommended) + ")"});
  }
  if (top.empty()) {
    c.reading = "No load curve was recorded for any complete trial.";
    return c;
  }
  const TrialRecord& lead = *top.front();
  LoadPoint at;
  std::string s = "Trial " + std::to_string(lead.id);
  if (ctx.goal_rps_per_replica > 0 && latency_at(lead.load_curve, ctx.goal_rps_per_replica, at)) {
    s += " answers in " + format_number(at.*m.field) + " ms (p95) at the goal load of " +
         format_number(ctx.goal_rps_per_replica) + " req/s per replica";
    if (m.slo) s += std::string(at.*m.field <= *m.slo ? ", inside" : ", outside") + " the " + format_number(*m.slo) + " ms SLO";
  } else {
    s += " was measured at " + std::to_string(lead.load_curve.size()) + " load levels";
  }
  if (m.slo) {
    const auto x = crossing(lead.load_curve, m.field, *m.slo);
    s += x ? "; it breaks the SLO from about " + format_number(*x) + " req/s." : "; it never broke the SLO in the tested range.";
  } else {
    s += ".";
  }
  c.reading = s;
  return c;
}

std::vector<Chart> sensitivity_charts(const std::vector<TrialRecord>& trials, const ChartContext& ctx) {
  // dimension -> value label -> E of the complete trials with that value.
  std::vector<std::string> dims = ctx.order;
  std::map<std::string, std::vector<std::pair<nlohmann::json, double>>> seen;
  for (const auto& t : trials) {
    if (t.state != TrialState::kComplete || !std::isfinite(t.efficiency)) continue;
    nlohmann::json j = nlohmann::json::parse(t.configuration_json, nullptr, false);
    if (!j.is_object()) continue;
    for (const auto& [k, v] : j.items()) {
      if (std::find(dims.begin(), dims.end(), k) == dims.end()) dims.push_back(k);
      seen[k].push_back({v, t.efficiency});
    }
  }
  std::vector<std::pair<double, Chart>> out;
  for (const auto& dim : dims) {
    const auto& obs = seen[dim];
    std::map<std::string, Group> groups;
    const bool numeric = !obs.empty() && std::all_of(obs.begin(), obs.end(), [](const auto& o) { return o.first.is_number(); });
    std::map<double, int> distinct;
    for (const auto& o : obs) {
      if (numeric) distinct[o.first.template get<double>()]++;
    }
    // Many distinct numeric values (a float dimension) are grouped into four equal-width bins.
    const bool binned = numeric && distinct.size() > 6;
    const double lo = binned ? distinct.begin()->first : 0, hi = binned ? distinct.rbegin()->first : 0;
    for (const auto& [v, e] : obs) {
      std::string label;
      double key = 0;
      if (binned) {
        const int b = std::min(3, static_cast<int>((v.get<double>() - lo) / (hi - lo) * 4));
        const double b0 = lo + (hi - lo) * b / 4, b1 = lo + (hi - lo) * (b + 1) / 4;
        label = format_number(b0) + "-" + format_number(b1);
        key = b;
      } else {
        label = v.is_string() ? v.get<std::string>() : v.is_number_float() ? format_number(v.get<double>(), 4) : v.dump();
        key = numeric ? v.get<double>() : 0;
      }
      auto& g = groups[label];
      g.label = label;
      g.sort_key = key;
      g.values.push_back(e);
    }
    if (groups.size() < 2) continue;
    std::vector<Group> ordered;
    for (auto& [_, g] : groups) ordered.push_back(std::move(g));
    if (numeric) std::sort(ordered.begin(), ordered.end(), [](const Group& a, const Group& b) { return a.sort_key < b.sort_key; });
    Chart c;
    c.id = "sensitivity-" + dim;
    c.title = "Effect of " + dim + " on efficiency";
    c.x_label = dim;
    c.y_label = "mean E (95% interval)";
    ChartSeries s{"mean E", MarkKind::kBars, 0, {}};
    double best = -1, worst = 1e300;
    Interval best_i{}, worst_i{};
    std::string best_v, worst_v;
    for (size_t i = 0; i < ordered.size(); ++i) {
      const auto& g = ordered[i];
      const double n = static_cast<double>(g.values.size());
      double mean = 0, var = 0;
      for (double e : g.values) mean += e / n;
      for (double e : g.values) var += (e - mean) * (e - mean) / std::max(n - 1, 1.0);
      const double half = t975(static_cast<int64_t>(g.values.size()) - 1) * std::sqrt(var / n);
      ChartPoint p{static_cast<double>(i), mean, {}, {}, {}, dim + " = " + g.label + ": mean E " + format_number(mean) +
                       " over " + std::to_string(g.values.size()) + " trial(s)", false};
      // E is never negative: a wide interval from two or three trials is cut at 0 rather than drawn below it.
      if (g.values.size() > 1) p.y_low = std::max(0.0, mean - half), p.y_high = mean + half;
      s.points.push_back(p);
      c.categories.push_back(g.label + " (n=" + std::to_string(g.values.size()) + ")");
      const Interval iv{mean, mean - half, mean + half, static_cast<int64_t>(g.values.size())};
      if (mean > best) best = mean, best_v = g.label, best_i = iv;
      if (mean < worst) worst = mean, worst_v = g.label, worst_i = iv;
    }
    c.series.push_back(std::move(s));
    const bool separated = best_i.n > 1 && worst_i.n > 1 && best_i.ci_low > worst_i.ci_high;
    // Equal means (two quantizations that both met every SLO at the same price): naming one value
    // as both the highest and the lowest read as a contradiction.
    if (best - worst <= 1e-12 * std::max(1.0, std::fabs(best)))
      c.reading = "Every value of " + dim + " gives the same mean E (" + format_number(best) +
                  "): on these trials " + dim + " does not change efficiency; choose it by other concerns.";
    else
      c.reading = dim + " = " + best_v + " gives the highest mean E (" + format_number(best) + "), " + worst_v +
                  " the lowest (" + format_number(worst) + "); " +
                  (separated ? "the difference is beyond noise." : "the intervals overlap or are too small to tell, so this is not yet conclusive.");
    out.push_back({best - worst, std::move(c)});
  }
  std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<Chart> charts;
  for (auto& [_, c] : out) charts.push_back(std::move(c));
  return charts;
}

Chart drift_chart(const std::vector<DriftRow>& latest, const std::vector<std::string>& order) {
  Chart c;
  c.id = "drift";
  c.title = "Drift against the baseline (latest nightly run)";
  c.x_label = "indicator (* = significant change)";
  c.y_label = "value (95% interval)";
  std::vector<std::string> configs;
  for (const auto& d : latest) {
    if (std::find(configs.begin(), configs.end(), d.configuration_json) == configs.end()) configs.push_back(d.configuration_json);
  }
  ChartSeries base{"baseline", MarkKind::kBars, 6, {}}, now{"tonight", MarkKind::kBars, 0, {}};
  std::vector<std::string> flagged;
  for (const auto& d : latest) {
    const size_t k = std::find(configs.begin(), configs.end(), d.configuration_json) - configs.begin();
    std::string label = d.indicator + (configs.size() > 1 ? " #" + std::to_string(k + 1) : "") + (d.significant ? " *" : "");
    const double x = static_cast<double>(c.categories.size());
    c.categories.push_back(label);
    const std::string where = configuration_text(configuration_pairs(d.configuration_json, order));
    base.points.push_back({x, d.baseline.value, d.baseline.ci_low, d.baseline.ci_high, {},
                           d.indicator + " baseline " + interval_text(d.baseline) + " (" + where + ")", false});
    now.points.push_back({x, d.current.value, d.current.ci_low, d.current.ci_high, {},
                          d.indicator + " tonight " + interval_text(d.current) + "; " + d.test + ", p = " + format_number(d.p_value), false});
    if (d.significant) {
      flagged.push_back(d.indicator + (d.current.value < d.baseline.value ? " fell from " : " rose from ") +
                        format_number(d.baseline.value) + " to " + format_number(d.current.value));
    }
  }
  c.series = {base, now};
  if (flagged.empty()) {
    c.reading = "No indicator changed beyond noise against the baseline (" + std::to_string(latest.size()) + " checked).";
  } else {
    c.reading = std::to_string(flagged.size()) + " of " + std::to_string(latest.size()) + " indicators drifted significantly: ";
    for (size_t i = 0; i < flagged.size(); ++i) c.reading += (i ? "; " : "") + flagged[i];
    c.reading += ".";
  }
  return c;
}

}  // namespace effitune::orchestrator::report_detail
