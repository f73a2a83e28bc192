// Builds the ReportModel: the recommendation (best feasible E, ties, SLO margins, E1), the charts,
// the trial table and the reproducibility block.
#include "effitune/orchestrator/report_model.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>
#include <sstream>

#include "effitune/orchestrator/objective.h"
#include "report_util.h"

namespace effitune::orchestrator {
namespace {

using namespace report_detail;

std::vector<std::string> dimension_order(const std::optional<Experiment>& e) {
  std::vector<std::string> out;
  if (e) {
    for (const auto& d : e->space.dimensions()) out.push_back(d.name);
  }
  return out;
}

std::string goal_text(const GoalSection& g) {
  std::string s;
  if (g.users) {
    s = format_number(*g.users, 4) + " concurrent users";
    if (g.think_time_s > 0) s += " (think time " + format_number(g.think_time_s) + " s)";
  }
  if (g.requests_per_s) s += (s.empty() ? "" : " and ") + format_number(*g.requests_per_s, 4) + " requests/s";
  return s.empty() ? "not set" : s;
}

// The per-replica load at which the deployment runs when it serves the goal.
double goal_rps_per_replica(const GoalSection& g, const TrialRecord& t) {
  if (t.cost.replicas <= 0) return 0;
  const double replicas = t.cost.replicas;
  double rps = g.requests_per_s ? *g.requests_per_s / replicas : 0;
  if (g.users && t.cost.capacity_users > 0) {
    rps = std::max(rps, t.cost.capacity_rps * (*g.users / replicas) / t.cost.capacity_users);
  } else if (g.users && !g.requests_per_s) {
    rps = t.cost.capacity_rps;  // the worst case: each replica at the capacity the search found
  }
  return rps;
}

std::vector<SloMargin> slo_margins(const SloSection& slo, const TrialRecord& t, double rps) {
  std::vector<SloMargin> out;
  LoadPoint at;
  if (!latency_at(t.load_curve, rps, at)) return out;
  auto add = [&](const char* name, const std::optional<double>& limit, double measured) {
    if (!limit) return;
    out.push_back({name, *limit, measured, *limit - measured, measured <= *limit});
  };
  add("ttft_p95_ms", slo.ttft_p95_ms, at.ttft_p95_ms);
  add("tpot_p95_ms", slo.tpot_p95_ms, at.tpot_p95_ms);
  add("e2e_p95_ms", slo.e2e_p95_ms, at.e2e_p95_ms);
  return out;
}

// The label with the experiment's floor on that indicator, so the reader sees how close it came.
std::string with_floor(std::string label, const std::optional<double>& floor, double value) {
  if (!floor) return label;
  return label + "; floor " + format_number(*floor) + (value < *floor ? ", below it" : "");
}

std::vector<NamedInterval> quality_rows(const Indicators& ind, const QualityFloors& f) {
  std::vector<NamedInterval> out = {
      {"Q", with_floor("Quality (weighted geometric mean)", f.quality, ind.quality.value), ind.quality},
      {"P", with_floor("Performance: requests within the SLOs / offered", f.performance, ind.performance.value), ind.performance},
      {"C", with_floor("Consistency", f.consistency, ind.consistency.value), ind.consistency},
      {"Cm", with_floor("Completeness: (1 - truncation) x key-point recall", f.completeness, ind.completeness.value), ind.completeness},
      {"A", with_floor("Accuracy against the references", f.accuracy, ind.accuracy.value), ind.accuracy},
  };
  for (const auto& [name, v] : ind.parts) {
    out.push_back({name, name == "ics" ? with_floor("part: ics", f.ics, v.value) : "part: " + name, v});
  }
  return out;
}

bool overlaps(const Interval& a, const Interval& b) { return a.ci_low <= b.ci_high && b.ci_low <= a.ci_high; }

// Is spending more worth it: the next configuration up the Pareto front, compared on E.
std::string spend_more_text(const std::vector<TrialRecord>& trials, const TrialRecord& best, double r0) {
  const auto front = pareto_front(drawable(trials));
  const TrialRecord* next = nullptr;
  for (const auto* t : front) {
    if (t->cost.usd_per_hour > best.cost.usd_per_hour && t->indicators.quality.value > best.indicators.quality.value) {
      next = t;
      break;
    }
  }
  std::ostringstream s;
  if (!next) {
    s << "No measured configuration buys more quality than trial " << best.id
      << " at any higher cost, so spending more is not worth it on the evidence so far.";
    return s.str();
  }
  s << "The next step up in quality is trial " << next->id << ": Q "
    << format_number(next->indicators.quality.value) << " instead of " << format_number(best.indicators.quality.value)
    << " for " << money_per_hour(next->cost.usd_per_hour) << " instead of " << money_per_hour(best.cost.usd_per_hour);
  if (r0 > 0 && next->cost.usd_per_hour > r0) {
    s << ", above the ceiling R0 = " << money_per_hour(r0) << "; not affordable.";
  } else if (next->efficiency_interval.ci_high < best.efficiency_interval.ci_low) {
    s << "; efficiency drops from " << format_number(best.efficiency) << " to " << format_number(next->efficiency)
      << ", so spending more is not worth it.";
  } else if (overlaps(next->efficiency_interval, best.efficiency_interval)) {
    s << "; its efficiency is within noise of the best, so the extra quality costs about what it is worth.";
  } else {
    s << ".";
  }
  return s.str();
}

// The floor of a min_* constraint: the experiment's when it is known, else recovered from the
// constraint's value c = (floor - value) / floor (an unreadable stored experiment still explains).
std::optional<double> floor_of(const std::optional<double>& configured, double value, double c) {
  if (configured) return configured;
  if (c < 1) return value / (1 - c);
  return std::nullopt;
}

// Why the SLOs cannot be met at any replica count: the limits broken at the lightest load tested.
std::string unreachable_goal_text(const TrialRecord& t, const SloSection& slo) {
  const std::string what = "goal unreachable: the SLOs fail even at the lightest load tested";
  if (t.load_curve.empty()) return what;
  const LoadPoint* low = &t.load_curve.front();
  for (const auto& p : t.load_curve) low = p.offered_rps < low->offered_rps ? &p : low;
  std::string missed;
  auto add = [&](const char* name, const std::optional<double>& limit, double measured) {
    if (!limit || measured <= *limit) return;
    missed += (missed.empty() ? "" : ", ") + slo_label(name) + " " + format_number(measured) + " ms > " +
              format_number(*limit) + " ms";
  };
  add("ttft_p95_ms", slo.ttft_p95_ms, low->ttft_p95_ms);
  add("tpot_p95_ms", slo.tpot_p95_ms, low->tpot_p95_ms);
  add("e2e_p95_ms", slo.e2e_p95_ms, low->e2e_p95_ms);
  if (missed.empty()) return what;
  return what + " (" + format_number(low->offered_rps) + " req/s): " + missed;
}

std::vector<Violation> violations_of(const TrialRecord& t, const ChartContext& ctx) {
  std::vector<Violation> out;
  const QualityFloors& f = ctx.objective.floors;
  const Indicators& i = t.indicators;
  struct Floor {
    const char* key;
    const char* label;
    std::optional<double> configured;
    std::optional<double> value;  // nullopt: not measured (an ICS floor without ratings)
  };
  std::optional<double> ics;
  if (auto it = i.parts.find("ics"); it != i.parts.end()) ics = it->second.value;
  const Floor floors[] = {{"min_performance", "performance P", f.performance, i.performance.value},
                          {"min_consistency", "consistency C", f.consistency, i.consistency.value},
                          {"min_completeness", "completeness Cm", f.completeness, i.completeness.value},
                          {"min_accuracy", "accuracy A", f.accuracy, i.accuracy.value},
                          {"min_ics", "ICS", f.ics, ics},
                          {"min_quality", "quality Q", f.quality, i.quality.value}};
  // An unreachable goal makes R infinite and E 0, so it alone explains the cost and efficiency misses.
  auto goal = t.constraints.find("goal");
  const bool unreachable = goal != t.constraints.end() && goal->second > 0 && !std::isfinite(t.cost.usd_per_hour);
  for (const auto& [name, c] : t.constraints) {
    if (!(c > 0)) continue;
    if (unreachable && (name == "cost" || name == "efficiency")) continue;
    Violation v{name, c, ""};
    // R0 and E0 come from the experiment; without it (unreadable stored text, defaults of 0) they are
    // recovered from c = (R - R0) / R0 and c = (E0 - E) / E0.
    if (name == "cost") {
      const double r0 = ctx.objective.r0_usd_per_hour > 0 ? ctx.objective.r0_usd_per_hour : t.cost.usd_per_hour / (1 + c);
      v.text = "R " + money_per_hour(t.cost.usd_per_hour) + " > R0 " + money_per_hour(r0);
    } else if (name == "efficiency") {
      const double e0 = ctx.objective.e0 > 0 || c >= 1 ? ctx.objective.e0 : t.efficiency / (1 - c);
      v.text = "E " + format_number(t.efficiency) + " < E0 " + format_number(e0);
    } else if (name == "goal") {
      v.text = unreachable_goal_text(t, ctx.slo);
    }
    for (const auto& fl : floors) {
      if (name != fl.key) continue;
      if (!fl.value) {
        v.text = std::string(fl.label) + " not measured (no ratings)" +
                 (fl.configured ? ", floor " + format_number(*fl.configured) : std::string());
        continue;
      }
      const auto floor = floor_of(fl.configured, *fl.value, c);
      v.text = std::string(fl.label) + " " + format_number(*fl.value) + " < floor " +
               (floor ? format_number(*floor) : std::string("(unknown)"));
    }
    if (v.text.empty()) v.text = "constraint '" + name + "' violated (" + format_number(c) + " > 0)";
    out.push_back(std::move(v));
  }
  return out;
}

void fill_recommendation(ReportModel& m, const ReportInputs& in, const ChartContext& ctx, const E1Verdict& e1) {
  Recommendation& r = m.recommendation;
  const GoalSection goal = in.experiment ? in.experiment->goal : GoalSection{};
  r.goal = goal_text(goal);
  r.r0_usd_per_hour = ctx.objective.r0_usd_per_hour;
  r.e0 = ctx.objective.e0;
  r.e1_reached = e1.reached;
  r.e1_verdict = e1.explanation;

  const TrialRecord* best = nullptr;     // highest E among feasible complete trials
  const TrialRecord* closest = nullptr;  // highest E among complete trials, when none is feasible
  for (const auto& t : in.trials) {
    if (t.state != TrialState::kComplete) continue;
    if (t.feasible && (!best || t.efficiency > best->efficiency)) best = &t;
    if (!closest || t.efficiency > closest->efficiency) closest = &t;
  }
  if (in.trials.empty()) {
    r.headline = "Nothing to recommend yet: the study has no trials.";
    r.reasons.push_back("Run `effitune run` on the experiment to measure configurations, then export the report again.");
    return;
  }
  if (!closest) {
    r.headline = "Nothing to recommend yet: no trial completed (" + std::to_string(m.trials_failed) + " failed).";
    std::map<std::string, int> why;
    for (const auto& t : in.trials) {
      if (t.state == TrialState::kFailed) ++why[t.failure_reason.empty() ? "(no reason recorded)" : t.failure_reason];
    }
    for (const auto& [reason, n] : why) r.reasons.push_back(std::to_string(n) + " x " + reason);
    if (m.trials_failed == 0) r.reasons.push_back("Trials are still pending or running; wait for them or resume the run.");
    return;
  }
  const TrialRecord& t = best ? *best : *closest;
  r.available = best != nullptr;
  r.feasible = t.feasible;
  r.trial = t.id;
  r.configuration_json = t.configuration_json;
  r.configuration = configuration_pairs(t.configuration_json, ctx.order);
  r.replicas = t.cost.replicas;
  r.gpus_per_replica = t.cost.gpus_per_replica;
  r.total_gpus = t.cost.replicas * t.cost.gpus_per_replica;
  r.cpu_cores_per_replica = t.cost.cpu_cores_per_replica;
  r.capacity_rps_per_replica = t.cost.capacity_rps;
  r.usd_per_hour = t.cost.usd_per_hour;
  r.usd_per_hour_interval = {t.cost.usd_per_hour, t.cost.usd_per_hour, t.cost.usd_per_hour, 0};
  if (t.efficiency_interval.ci_low > 0 && t.indicators.quality.ci_high > 0) {
    // R's interval as the objective propagated it: E = Q / R, so R = Q / E at matching ends.
    r.usd_per_hour_interval.ci_low = t.indicators.quality.ci_high / t.efficiency_interval.ci_high;
    r.usd_per_hour_interval.ci_high = t.indicators.quality.ci_low / t.efficiency_interval.ci_low;
  }
  r.efficiency = t.efficiency_interval;
  r.usd_per_million_good_tokens = t.cost.usd_per_million_good_tokens;
  r.quality = quality_rows(t.indicators, ctx.objective.floors);
  r.quadrant = t.quadrant;
  r.goal_rps_per_replica = goal_rps_per_replica(goal, t);
  r.slo_margins = slo_margins(ctx.slo, t, r.goal_rps_per_replica);

  const std::string deploy = configuration_text(r.configuration);
  const std::string hw = t.cost.gpus_per_replica > 0
                             ? count_of(r.total_gpus, "GPU") + " (" + count_of(r.replicas, "replica") + " x " +
                                   std::to_string(r.gpus_per_replica) + ")"
                             : count_of(r.replicas, "CPU replica") + " x " + count_of(r.cpu_cores_per_replica, "core");
  if (best) {
    r.headline = "Deploy trial " + std::to_string(t.id) + " (" + deploy + ") on " + hw + " for " +
                 money_per_hour(t.cost.usd_per_hour) + ": Q " + format_number(t.indicators.quality.value) +
                 ", E " + format_number(t.efficiency) + ".";
    r.spend_more = spend_more_text(in.trials, t, r.r0_usd_per_hour);
    if (e1.reached && t.id > e1.reached_at_trial) {
      r.e1_verdict += " Trial " + std::to_string(t.id) + " came later with a higher point E, but within noise of the best before it.";
    }
    for (const auto& u : in.trials) {
      if (&u == best || u.state != TrialState::kComplete || !u.feasible) continue;
      if (!overlaps(u.efficiency_interval, best->efficiency_interval)) continue;
      r.ties.push_back({u.id, configuration_pairs(u.configuration_json, ctx.order), u.configuration_json, u.efficiency_interval,
                        u.indicators.quality, u.cost.usd_per_hour, u.cost.replicas, u.cost.gpus_per_replica});
    }
    std::sort(r.ties.begin(), r.ties.end(),
              [](const Alternative& a, const Alternative& b) { return a.efficiency.value > b.efficiency.value; });
  } else {
    r.headline = "No configuration meets all constraints yet; the closest is trial " + std::to_string(t.id) + " (" +
                 deploy + ", " + money_per_hour(t.cost.usd_per_hour) + ", E " + format_number(t.efficiency) + ").";
    bool floor_missed = false;
    for (const auto& v : violations_of(t, ctx)) {
      if (v.constraint == "cost") r.reasons.push_back("R " + money_per_hour(t.cost.usd_per_hour) + " is above R0 " + money_per_hour(r.r0_usd_per_hour) + ".");
      else if (v.constraint == "efficiency") r.reasons.push_back("E " + format_number(t.efficiency) + " is below E0 " + format_number(r.e0) + ".");
      else r.reasons.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(v.text[0]))) + v.text.substr(1) + ".");
      floor_missed |= v.constraint.rfind("min_", 0) == 0;
    }
    r.reasons.push_back(std::string("Widen the search space, raise R0 or lower E0") + (floor_missed ? " or the quality floors" : "") +
                        ", then resume the run.");
  }
}

TrialRow trial_row(const TrialRecord& t, const ChartContext& ctx, const std::map<int64_t, int32_t>& ranks) {
  const std::vector<std::string>& order = ctx.order;
  TrialRow row;
  row.id = t.id;
  row.state = trial_state_name(t.state);
  row.configuration = configuration_pairs(t.configuration_json, order);
  row.configuration_json = t.configuration_json;
  row.failure_reason = t.failure_reason;
  if (t.state == TrialState::kComplete || t.state == TrialState::kPruned) {
    const auto& i = t.indicators;
    row.performance = i.performance;
    row.consistency = i.consistency;
    row.completeness = i.completeness;
    row.accuracy = i.accuracy;
    row.quality = i.quality;
    row.efficiency = t.efficiency_interval;
    row.usd_per_hour = t.cost.usd_per_hour;
    row.replicas = t.cost.replicas;
    row.gpus_per_replica = t.cost.gpus_per_replica;
    row.feasible = t.feasible;
    if (t.quadrant) row.quadrant = quadrant_name(*t.quadrant);
    if (!t.feasible) row.violations = violations_of(t, ctx);
  }
  if (auto it = ranks.find(t.id); it != ranks.end()) row.rank = it->second;
  return row;
}

}  // namespace

ReportModel build_report_model(const ReportInputs& in) {
  ReportModel m;
  m.experiment = in.row.name;
  m.generated_at = in.now > 0 ? in.now : StudyStore::now_unix_s();
  if (!in.experiment) {
    m.warnings.push_back("The stored experiment text could not be read (" + in.experiment_error +
                         "); thresholds R0, E0, the SLOs and the quadrant splits fall back to defaults.");
  }
  int64_t pruned = 0, running = 0, interrupted = 0, pending = 0;
  for (const auto& t : in.trials) {
    ++m.trials_total;
    if (t.state == TrialState::kComplete) ++m.trials_complete;
    if (t.state == TrialState::kFailed) ++m.trials_failed;
    if (t.state == TrialState::kComplete && t.feasible) ++m.trials_feasible;
    pruned += t.state == TrialState::kPruned;
    pending += t.state == TrialState::kPending;
    if (is_interrupted(t, m.generated_at)) ++interrupted;
    else running += t.state == TrialState::kRunning;
  }
  m.summary = std::to_string(m.trials_total) + " trial" + (m.trials_total == 1 ? "" : "s") + ": " +
              std::to_string(m.trials_complete) + " complete (" + std::to_string(m.trials_feasible) + " feasible), " +
              std::to_string(m.trials_failed) + " failed";
  for (const auto& [n, what] : {std::pair{pruned, "pruned"}, {running, "running"}, {pending, "pending"}})
    if (n > 0) m.summary += ", " + std::to_string(n) + " " + what;
  // A trial left running by a run that is gone (a killed run): say how to finish it rather than
  // leave it as an unexplained row.
  if (interrupted > 0)
    m.summary += ", " + std::to_string(interrupted) +
                 " interrupted (its run stopped: `effitune run EXPERIMENT.yaml --db FILE --resume` runs " +
                 (interrupted == 1 ? "it" : "them") + " again)";
  m.summary += ".";

  ChartContext ctx;
  if (in.experiment) {
    ctx.objective = in.experiment->objective;
    ctx.slo = in.experiment->slo;
  }
  ctx.order = dimension_order(in.experiment);
  ctx.e1 = detect_e1(in.trials, ctx.objective.e1_patience, ctx.objective.e1_min_relative_gain);
  fill_recommendation(m, in, ctx, ctx.e1);
  ctx.recommended = m.recommendation.trial;
  ctx.goal_rps_per_replica = m.recommendation.goal_rps_per_replica;

  if (m.trials_complete > 0) {
    m.charts.push_back(quadrant_chart(in.trials, ctx));
    m.charts.push_back(pareto_chart(in.trials, ctx));
  }
  if (m.trials_total > 0) m.charts.push_back(climb_chart(in.trials, ctx));
  if (m.trials_complete > 0) {
    m.charts.push_back(latency_chart(in.trials, ctx));
    for (auto& g : gpu_scaling_charts(in.trials, ctx)) m.charts.push_back(std::move(g));
    for (auto& c : sensitivity_charts(in.trials, ctx)) m.charts.push_back(std::move(c));
  }
  // The nightly part: the latest run's drift rows against the baseline.
  double latest = 0;
  for (const auto& d : in.drift) latest = std::max(latest, d.run_at);
  for (const auto& d : in.drift) {
    if (d.run_at == latest) m.drift.push_back(d);
  }
  m.nightly = !m.drift.empty();
  if (m.nightly) m.charts.push_back(drift_chart(m.drift, ctx.order));

  std::map<int64_t, int32_t> ranks;
  for (const auto& r : rank_trials(in.trials)) ranks[r.id] = r.rank;
  for (const auto& t : in.trials) m.trials.push_back(trial_row(t, ctx, ranks));

  m.reproducibility.experiment_yaml = in.row.yaml_text;
  m.reproducibility.engine_commit = in.row.engine_commit;
  m.reproducibility.device = in.row.device;
  m.reproducibility.model_sha256 = in.row.model_sha256;
  m.reproducibility.model_path = in.experiment ? in.experiment->model.path : "";
  m.reproducibility.created_at = in.row.created_at;
  return m;
}

Result<ReportModel> build_report_model(StudyStore& store, const std::string& name) {
  EFFITUNE_ASSIGN_OR_RETURN(std::vector<ExperimentRow> rows, store.list_experiments());
  std::string names;
  for (const auto& r : rows) names += (names.empty() ? "" : ", ") + r.name;
  const ExperimentRow* row = nullptr;
  if (name.empty()) {
    if (rows.empty()) {
      return Status(StatusCode::kNotFound, store.path() + ": the study holds no experiment; run `effitune run EXPERIMENT.yaml --db " + store.path() + "` first");
    }
    row = &rows.back();
  } else {
    for (const auto& r : rows) {
      if (r.name == name) row = &r;
    }
    if (!row) {
      return Status(StatusCode::kNotFound, store.path() + ": no experiment '" + name + "' in the study; it holds: " +
                                               (names.empty() ? "none" : names));
    }
  }
  ReportInputs in;
  in.row = *row;
  auto parsed = parse_experiment(row->yaml_text, row->name + " (stored experiment text)", "", false);
  if (parsed.ok()) {
    in.experiment = std::move(parsed).value();
  } else {
    in.experiment_error = parsed.status().message();
  }
  EFFITUNE_ASSIGN_OR_RETURN(in.trials, store.list_trials(row->name));
  EFFITUNE_ASSIGN_OR_RETURN(in.drift, store.list_drift_results(row->name));
  return build_report_model(in);
}

}  // namespace effitune::orchestrator
