// The report's trial-level charts: the magic quadrant, the Pareto front and the climb; and the helpers
// they share with the recommendation.
#include <algorithm>
#include <cmath>
#include <ctime>
#include <nlohmann/json.hpp>

#include "report_util.h"

namespace effitune::orchestrator::report_detail {
namespace {

std::string value_text(const nlohmann::ordered_json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_float()) return format_number(v.get<double>(), 4);
  return v.dump();
}

std::string tooltip(const TrialRecord& t, const std::vector<std::string>& order) {
  return "trial " + std::to_string(t.id) + ": " + configuration_text(configuration_pairs(t.configuration_json, order)) +
         "\nQ " + interval_text(t.indicators.quality) + "\nR " + money_per_hour(t.cost.usd_per_hour) + "\nE " +
         interval_text(t.efficiency_interval) + (t.feasible ? "" : "\nnot feasible");
}

ChartPoint point(const TrialRecord& t, double x, const Interval& y, const ChartContext& ctx) {
  ChartPoint p;
  p.x = x;
  p.y = y.value;
  if (y.ci_low != y.ci_high) {
    p.y_low = y.ci_low;
    p.y_high = y.ci_high;
  }
  p.trial = t.id;
  p.tooltip = tooltip(t, ctx.order);
  p.highlight = t.id == ctx.recommended;
  return p;
}

}  // namespace

std::vector<std::pair<std::string, std::string>> configuration_pairs(const std::string& json,
                                                                     const std::vector<std::string>& order) {
  std::vector<std::pair<std::string, std::string>> out;
  nlohmann::ordered_json j = nlohmann::ordered_json::parse(json, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    if (!json.empty() && json != "{}") out.push_back({"configuration", json});
    return out;
  }
  for (const auto& name : order) {
    if (j.contains(name)) out.push_back({name, value_text(j[name])});
  }
  for (const auto& [k, v] : j.items()) {
    if (std::find(order.begin(), order.end(), k) == order.end()) out.push_back({k, value_text(v)});
  }
  return out;
}

std::string utc_text(double unix_s) {
  const std::time_t t = static_cast<std::time_t>(unix_s);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M UTC", &tm);
  return buf;
}

std::vector<const TrialRecord*> drawable(const std::vector<TrialRecord>& trials) {
  std::vector<const TrialRecord*> out;
  for (const auto& t : trials) {
    if (t.state == TrialState::kComplete && std::isfinite(t.cost.usd_per_hour)) out.push_back(&t);
  }
  return out;
}

std::vector<const TrialRecord*> pareto_front(const std::vector<const TrialRecord*>& points) {
  std::vector<const TrialRecord*> sorted = points;
  // By R ascending, then Q descending: a point is on the front when its Q beats every cheaper point's.
  std::sort(sorted.begin(), sorted.end(), [](const TrialRecord* a, const TrialRecord* b) {
    if (a->cost.usd_per_hour != b->cost.usd_per_hour) return a->cost.usd_per_hour < b->cost.usd_per_hour;
    if (a->indicators.quality.value != b->indicators.quality.value) {
      return a->indicators.quality.value > b->indicators.quality.value;
    }
    return a->id < b->id;
  });
  std::vector<const TrialRecord*> front;
  double best_q = -1;
  for (const auto* t : sorted) {
    if (t->indicators.quality.value > best_q) {
      front.push_back(t);
      best_q = t->indicators.quality.value;
    }
  }
  return front;
}

double cost_split(const ObjectiveSection& o) {
  return o.cost_split_usd_per_hour > 0 ? o.cost_split_usd_per_hour : o.r0_usd_per_hour / 2;
}

bool latency_at(const std::vector<LoadPoint>& curve, double rps, LoadPoint& out) {
  if (curve.empty()) return false;
  std::vector<LoadPoint> c = curve;
  std::sort(c.begin(), c.end(), [](const LoadPoint& a, const LoadPoint& b) { return a.offered_rps < b.offered_rps; });
  if (rps <= c.front().offered_rps) return out = c.front(), true;
  if (rps >= c.back().offered_rps) return out = c.back(), true;
  for (size_t i = 1; i < c.size(); ++i) {
    if (rps > c[i].offered_rps) continue;
    const LoadPoint& a = c[i - 1];
    const LoadPoint& b = c[i];
    const double w = b.offered_rps > a.offered_rps ? (rps - a.offered_rps) / (b.offered_rps - a.offered_rps) : 0;
    auto lerp = [w](double x, double y) { return x + (y - x) * w; };
    out = {rps, lerp(a.achieved_rps, b.achieved_rps), lerp(a.goodput_rps, b.goodput_rps),
           lerp(a.ttft_p95_ms, b.ttft_p95_ms), lerp(a.tpot_p95_ms, b.tpot_p95_ms), lerp(a.e2e_p95_ms, b.e2e_p95_ms),
           lerp(a.performance, b.performance)};
    return true;
  }
  return out = c.back(), true;
}

Chart quadrant_chart(const std::vector<TrialRecord>& trials, const ChartContext& ctx) {
  Chart c;
  c.id = "quadrant";
  c.title = "Magic quadrant: quality against running cost";
  c.x_label = "running cost R at the volumetry goal ($/hour)";
  c.y_label = "quality Q (0-1)";
  c.x_from_zero = true;
  const double xs = cost_split(ctx.objective), ys = ctx.objective.quality_split;
  c.quadrants = QuadrantSplit{xs, ys, "efficient", "scaled production", "experimental", "budget-eaters"};
  if (ctx.objective.r0_usd_per_hour > 0) c.rules.push_back({true, ctx.objective.r0_usd_per_hour, "R0 (cost ceiling)"});
  ChartSeries ok{"feasible", MarkKind::kPoints, 2, {}}, bad{"not feasible", MarkKind::kPoints, 6, {}};
  int counts[4] = {0, 0, 0, 0};
  const auto pts = drawable(trials);
  for (const auto* t : pts) {
    (t->feasible ? ok : bad).points.push_back(point(*t, t->cost.usd_per_hour, t->indicators.quality, ctx));
    ++counts[static_cast<int>(quadrant_of(t->indicators.quality.value, t->cost.usd_per_hour, ctx.objective))];
  }
  c.series = {ok, bad};
  c.reading = std::to_string(counts[0]) + " of " + std::to_string(pts.size()) +
              " measured configurations are efficient (Q at least " + format_number(ys) + " for under " +
              money_per_hour(xs) + "); " + std::to_string(counts[3]) + " are budget-eaters.";
  // A quadrant is not a verdict: an efficient-looking point can still break a floor, R0 or E0.
  if (!bad.points.empty()) {
    c.reading += " " + std::to_string(bad.points.size()) + " of the " + std::to_string(pts.size()) +
                 " break a constraint (grey; the trial table says which).";
  }
  for (const auto* t : pts) {
    if (t->id == ctx.recommended && t->quadrant) {
      c.reading += " The recommended trial " + std::to_string(t->id) + " (the outlined point) is " + quadrant_name(*t->quadrant) + ".";
    }
  }
  const size_t hidden = std::count_if(trials.begin(), trials.end(), [](const TrialRecord& t) {
    return t.state == TrialState::kComplete && !std::isfinite(t.cost.usd_per_hour);
  });
  if (hidden > 0) c.note = std::to_string(hidden) + " complete trial(s) cannot meet the goal at any replica count (R unreachable) and are not drawn.";
  return c;
}

Chart pareto_chart(const std::vector<TrialRecord>& trials, const ChartContext& ctx) {
  Chart c;
  c.id = "pareto";
  c.title = "Pareto front: the best quality each budget buys";
  c.x_label = "running cost R ($/hour)";
  c.y_label = "quality Q (0-1)";
  c.x_from_zero = true;
  const auto pts = drawable(trials);
  const auto front = pareto_front(pts);
  ChartSeries line{"", MarkKind::kStep, 0, {}}, on{"on the front", MarkKind::kPoints, 0, {}},
      off{"dominated", MarkKind::kPoints, 6, {}};
  for (const auto* t : front) line.points.push_back({t->cost.usd_per_hour, t->indicators.quality.value, {}, {}, {}, "", false});
  for (const auto* t : pts) {
    const bool is_front = std::find(front.begin(), front.end(), t) != front.end();
    (is_front ? on : off).points.push_back(point(*t, t->cost.usd_per_hour, t->indicators.quality, ctx));
  }
  c.series = {line, on, off};
  if (ctx.objective.r0_usd_per_hour > 0) c.rules.push_back({true, ctx.objective.r0_usd_per_hour, "R0"});
  if (front.size() == 1) {
    c.reading = "One configuration (trial " + std::to_string(front[0]->id) + ") is both the cheapest and the best; nothing trades off.";
  } else if (!front.empty()) {
    const auto* lo = front.front();
    const auto* hi = front.back();
    c.reading = std::to_string(front.size()) + " configurations are worth considering: from " +
                money_per_hour(lo->cost.usd_per_hour) + " for Q " + format_number(lo->indicators.quality.value) +
                " up to " + money_per_hour(hi->cost.usd_per_hour) + " for Q " +
                format_number(hi->indicators.quality.value) + "; every other one is beaten on both.";
  } else {
    c.reading = "No configuration has a reachable cost yet.";
  }
  return c;
}

Chart climb_chart(const std::vector<TrialRecord>& trials, const ChartContext& ctx) {
  Chart c;
  c.id = "climb";
  c.title = "The climb: efficiency over iterations";
  c.x_label = "trial (in the order tried)";
  c.y_label = "efficiency E = Q / R (per $/hour)";
  ChartSeries best{"best so far (feasible)", MarkKind::kStep, 0, {}}, ok{"feasible", MarkKind::kPoints, 2, {}},
      bad{"not feasible", MarkKind::kPoints, 6, {}}, failed{"failed (drawn at 0)", MarkKind::kPoints, 3, {}};
  double incumbent = -1;
  int64_t first_best = -1, last_gain = -1;
  double first_e = 0;
  for (const auto& t : trials) {
    if (t.state == TrialState::kFailed) {
      ChartPoint p{static_cast<double>(t.id), 0, {}, {}, t.id, "trial " + std::to_string(t.id) + " failed: " + t.failure_reason, false};
      failed.points.push_back(p);
      continue;
    }
    if (t.state != TrialState::kComplete) continue;
    (t.feasible ? ok : bad).points.push_back(point(t, static_cast<double>(t.id), t.efficiency_interval, ctx));
    if (t.feasible && t.efficiency > incumbent) {
      if (incumbent < 0) first_best = t.id, first_e = t.efficiency;
      incumbent = t.efficiency;
      last_gain = t.id;
      best.points.push_back({static_cast<double>(t.id), incumbent, {}, {}, {}, "", false});
    }
  }
  c.series = {best, ok, bad, failed};
  if (ctx.objective.e0 > 0) c.rules.push_back({false, ctx.objective.e0, "E0 (efficiency floor)"});
  if (ctx.e1.reached) c.rules.push_back({true, static_cast<double>(ctx.e1.reached_at_trial), "E1 reached"});
  if (incumbent < 0) {
    c.reading = "No feasible configuration yet, so there is no climb to show.";
  } else if (first_best == last_gain) {
    c.reading = "The first feasible trial (" + std::to_string(first_best) + ", E " + format_number(first_e) +
                ") is still the best. " + ctx.e1.explanation;
  } else {
    c.reading = "Best E rose from " + format_number(first_e) + " (trial " + std::to_string(first_best) + ") to " +
                format_number(incumbent) + " (trial " + std::to_string(last_gain) + "). " + ctx.e1.explanation;
    if (ctx.e1.reached && last_gain > ctx.e1.reached_at_trial) {
      c.reading += " Trial " + std::to_string(last_gain) + " has a higher point E, but its interval overlaps the earlier best, so it does not count as a real gain.";
    }
  }
  return c;
}

}  // namespace effitune::orchestrator::report_detail
