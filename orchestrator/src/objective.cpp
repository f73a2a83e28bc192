#include "effitune/orchestrator/objective.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>

#include "effitune/probes/cost.h"
#include "effitune/probes/quality.h"

namespace effitune::orchestrator {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

Status check_unit(const char* name, const Interval& x) {
  for (double v : {x.value, x.ci_low, x.ci_high}) {
    if (!(v >= 0.0 && v <= 1.0)) {
      return invalid_argument(std::string("quality indicator '") + name + "' has " + std::to_string(v) +
                              ", expected a value in [0, 1]");
    }
  }
  return {};
}

// Replicas needed for `goal` at per-replica `capacity`; 0 when the capacity is 0 (cannot be met).
int64_t replicas_for(double goal, double capacity) {
  if (capacity <= 0) return 0;
  // A relative slack of 1e-9 keeps goal == k * capacity from rounding up to k + 1.
  return static_cast<int64_t>(std::ceil(goal / capacity * (1 - 1e-9)));
}

}  // namespace

Result<Interval> compute_quality(const Indicators& ind, const QualityWeights& w) {
  struct Part {
    const char* name;
    const Interval* x;
    double weight;
  };
  std::vector<Part> parts = {{"performance", &ind.performance, w.performance},
                             {"consistency", &ind.consistency, w.consistency},
                             {"completeness", &ind.completeness, w.completeness},
                             {"accuracy", &ind.accuracy, w.accuracy}};
  if (w.ics > 0) {
    auto it = ind.parts.find("ics");
    if (it == ind.parts.end()) {
      return invalid_argument("quality weight 'ics' is " + std::to_string(w.ics) +
                              " but no ICS ratings were imported; run `effitune feedback import` or set "
                              "objective.weights.ics to 0");
    }
    parts.push_back({"ics", &it->second, w.ics});
  }
  std::vector<probes::WeightedValue> lo, mid, hi;
  int64_t n = 0;
  for (const auto& p : parts) {
    EFFITUNE_RETURN_IF_ERROR(check_unit(p.name, *p.x));
    lo.push_back({p.x->ci_low, p.weight});
    mid.push_back({p.x->value, p.weight});
    hi.push_back({p.x->ci_high, p.weight});
    if (p.weight > 0) n = n == 0 ? p.x->n : std::min<int64_t>(n, p.x->n);
  }
  Interval q;
  EFFITUNE_ASSIGN_OR_RETURN(q.value, probes::weighted_geometric_mean(mid));
  EFFITUNE_ASSIGN_OR_RETURN(q.ci_low, probes::weighted_geometric_mean(lo));
  EFFITUNE_ASSIGN_OR_RETURN(q.ci_high, probes::weighted_geometric_mean(hi));
  q.n = n;
  return q;
}

Result<CostEstimate> compute_cost(const GoalSection& goal, const ReplicaMeasure& r, const PriceTable& prices) {
  if (!goal.users && !goal.requests_per_s) {
    return invalid_argument("the volumetry goal is empty: set goal.users and/or goal.requests_per_s");
  }
  if (r.capacity_rps.value < 0 || r.capacity_rps.ci_low < 0 || (r.capacity_users && r.capacity_users->value < 0)) {
    return invalid_argument("per-replica capacity is negative");
  }
  double unit_usd_per_hour = 0;  // one replica, without energy
  if (r.gpus_per_replica > 0) {
    // The model's own entry (exact, else the longest key it contains, case-insensitively, as the
    // load-test CLI prices: "H100" prices "NVIDIA H100 80GB HBM3"); a table of one entry prices any GPU.
    probes::PriceTable table;
    table.usd_per_gpu_hour = prices.usd_per_gpu_hour;
    const auto found = probes::gpu_price_per_hour(table, r.gpu_model);  // "" matches no key
    double price = 0;
    if (found.ok()) {
      price = *found;
    } else if (prices.usd_per_gpu_hour.size() == 1) {
      price = prices.usd_per_gpu_hour.begin()->second;
    } else {
      std::string known;
      for (const auto& [k, v] : prices.usd_per_gpu_hour) known += (known.empty() ? "" : ", ") + k;
      return invalid_argument("prices.usd_per_gpu_hour has no entry for GPU model '" + r.gpu_model +
                              "' (known: " + (known.empty() ? "none" : known) + "); add one");
    }
    unit_usd_per_hour = r.gpus_per_replica * price;
  } else {
    unit_usd_per_hour = r.cpu_cores_per_replica * prices.usd_per_cpu_core_hour;
  }
  std::optional<double> energy_per_replica;
  if (r.watts_per_replica && prices.usd_per_kwh > 0) energy_per_replica = *r.watts_per_replica / 1000.0 * prices.usd_per_kwh;
  const double replica_usd_per_hour = unit_usd_per_hour + energy_per_replica.value_or(0);

  // Replicas at a given capacity point (rps end, users end); 0 means "cannot meet the goal".
  auto replicas_at = [&](double cap_rps, std::optional<double> cap_users) -> int64_t {
    int64_t need = 1;
    if (goal.requests_per_s) {
      int64_t k = replicas_for(*goal.requests_per_s, cap_rps);
      if (k == 0) return 0;
      need = std::max(need, k);
    }
    if (goal.users) {
      // Without a users search, a closed loop of U users with think time Z offers at most
      // U / Z requests per second (Little's law bound); with Z = 0 only a users search can answer.
      if (cap_users) {
        int64_t k = replicas_for(*goal.users, *cap_users);
        if (k == 0) return 0;
        need = std::max(need, k);
      } else if (goal.think_time_s > 0) {
        int64_t k = replicas_for(*goal.users / goal.think_time_s, cap_rps);
        if (k == 0) return 0;
        need = std::max(need, k);
      } else {
        return 0;
      }
    }
    return need;
  };
  auto usd_for = [&](int64_t replicas) { return replicas == 0 ? kInf : replicas * replica_usd_per_hour; };

  std::optional<double> users_mid, users_lo, users_hi;
  if (r.capacity_users) {
    users_mid = r.capacity_users->value;
    users_lo = r.capacity_users->ci_low;
    users_hi = r.capacity_users->ci_high;
  }
  const int64_t k_mid = replicas_at(r.capacity_rps.value, users_mid);
  const int64_t k_best = replicas_at(std::max(r.capacity_rps.ci_high, r.capacity_rps.value), users_hi);
  const int64_t k_worst = replicas_at(std::min(r.capacity_rps.ci_low, r.capacity_rps.value), users_lo);

  CostEstimate out;
  out.goal_met = k_mid > 0;
  out.cost.replicas = static_cast<int32_t>(k_mid);
  out.cost.gpus_per_replica = r.gpus_per_replica;
  out.cost.cpu_cores_per_replica = r.gpus_per_replica > 0 ? 0 : r.cpu_cores_per_replica;
  out.cost.usd_per_hour_per_replica = replica_usd_per_hour;
  out.cost.usd_per_hour = usd_for(k_mid);
  if (energy_per_replica) out.cost.energy_usd_per_hour = *energy_per_replica * static_cast<double>(k_mid);
  out.cost.capacity_rps = r.capacity_rps.value;
  out.cost.capacity_rps_interval = r.capacity_rps;
  out.cost.capacity_users = users_mid.value_or(0);
  if (r.good_output_tokens_per_s && *r.good_output_tokens_per_s > 0 && out.goal_met) {
    // At the goal every replica runs at or below capacity; charge the deployment's hour to the good
    // tokens the replicas would produce at capacity (a lower bound on $ per good token at the goal).
    double tokens_per_hour = *r.good_output_tokens_per_s * 3600.0 * static_cast<double>(k_mid);
    out.cost.usd_per_million_good_tokens = out.cost.usd_per_hour / tokens_per_hour * 1e6;
  }
  out.usd_per_hour.value = out.cost.usd_per_hour;
  out.usd_per_hour.ci_low = usd_for(k_best);
  out.usd_per_hour.ci_high = usd_for(k_worst);
  out.usd_per_hour.n = r.capacity_rps.n;
  return out;
}

Interval compute_efficiency(const Interval& q, const Interval& r) {
  auto div = [](double a, double b) {
    if (!(b > 0) || std::isinf(b) || a <= 0) return 0.0;
    return a / b;
  };
  Interval e;
  e.value = div(q.value, r.value);
  e.ci_low = div(q.ci_low, r.ci_high);
  e.ci_high = r.ci_low > 0 ? div(q.ci_high, r.ci_low) : (q.ci_high > 0 ? kInf : 0.0);
  e.n = std::min(q.n, r.n);
  return e;
}

Quadrant quadrant_of(double quality, double running_cost, const ObjectiveSection& o) {
  const double cost_split = o.cost_split_usd_per_hour > 0 ? o.cost_split_usd_per_hour : o.r0_usd_per_hour / 2;
  const bool high_q = quality >= o.quality_split;
  const bool high_r = running_cost >= cost_split;
  if (high_q) return high_r ? Quadrant::kScaledProduction : Quadrant::kEfficient;
  return high_r ? Quadrant::kBudgetEater : Quadrant::kExperimental;
}

Judgement judge(double quality, double running_cost, double efficiency, bool goal_met, const ObjectiveSection& o) {
  Judgement j;
  const double big = 1e9;  // a finite stand-in for "infinitely over budget", so constraints stay numbers
  if (o.r0_usd_per_hour > 0) {
    j.constraints["cost"] = std::isinf(running_cost) ? big : (running_cost - o.r0_usd_per_hour) / o.r0_usd_per_hour;
  }
  j.constraints["efficiency"] = o.e0 > 0 ? (o.e0 - efficiency) / o.e0 : -1.0;
  j.constraints["goal"] = goal_met ? -1.0 : 1.0;
  j.feasible = true;
  for (const auto& [name, v] : j.constraints) j.feasible = j.feasible && v <= 0;
  j.quadrant = quadrant_of(quality, running_cost, o);
  return j;
}

std::map<std::string, double> floor_constraints(const Indicators& ind, const QualityFloors& f) {
  std::map<std::string, double> out;
  auto add = [&](const char* name, const std::optional<double>& floor, const Interval* x) {
    if (!floor) return;
    if (!x) {
      out[name] = 1.0;
      return;
    }
    out[name] = *floor > 0 ? (*floor - x->value) / *floor : -1.0;
  };
  add("min_performance", f.performance, &ind.performance);
  add("min_consistency", f.consistency, &ind.consistency);
  add("min_completeness", f.completeness, &ind.completeness);
  add("min_accuracy", f.accuracy, &ind.accuracy);
  auto ics = ind.parts.find("ics");
  add("min_ics", f.ics, ics == ind.parts.end() ? nullptr : &ics->second);
  add("min_quality", f.quality, &ind.quality);
  return out;
}

Status evaluate_record(TrialRecord& rec, const ReplicaMeasure& replica, const Experiment& ex) {
  EFFITUNE_ASSIGN_OR_RETURN(rec.indicators.quality, compute_quality(rec.indicators, ex.objective.weights));
  EFFITUNE_ASSIGN_OR_RETURN(CostEstimate cost, compute_cost(ex.goal, replica, ex.prices));
  rec.cost = cost.cost;
  rec.efficiency_interval = compute_efficiency(rec.indicators.quality, cost.usd_per_hour);
  rec.efficiency = rec.efficiency_interval.value;
  Judgement j = judge(rec.indicators.quality.value, rec.cost.usd_per_hour, rec.efficiency, cost.goal_met, ex.objective);
  rec.feasible = j.feasible;
  rec.constraints = j.constraints;
  for (const auto& [name, v] : floor_constraints(rec.indicators, ex.objective.floors)) {
    rec.constraints[name] = v;
    rec.feasible = rec.feasible && v <= 0;
  }
  rec.quadrant = j.quadrant;
  return {};
}

std::vector<RankedTrial> rank_trials(const std::vector<TrialRecord>& trials) {
  std::vector<const TrialRecord*> ok;
  for (const auto& t : trials) {
    if (t.state == TrialState::kComplete && t.feasible) ok.push_back(&t);
  }
  std::vector<RankedTrial> out;
  for (const auto* t : ok) {
    int32_t above = 0;
    for (const auto* u : ok) {
      if (u != t && u->efficiency_interval.ci_low > t->efficiency_interval.ci_high) ++above;
    }
    out.push_back({t->id, above + 1, t->efficiency});
  }
  std::stable_sort(out.begin(), out.end(), [](const RankedTrial& a, const RankedTrial& b) {
    if (a.rank != b.rank) return a.rank < b.rank;
    if (a.efficiency != b.efficiency) return a.efficiency > b.efficiency;
    return a.id < b.id;
  });
  return out;
}

E1Verdict detect_e1(const std::vector<TrialRecord>& trials, int32_t patience, double min_relative_gain) {
  E1Verdict v;
  const TrialRecord* best = nullptr;
  int64_t streak_start = -1;  // first attempt of the run without a real gain that reached E1
  for (const auto& t : trials) {
    const bool done = t.state == TrialState::kComplete || t.state == TrialState::kFailed ||
                      t.state == TrialState::kPruned;
    if (!done) continue;
    const bool candidate = t.state == TrialState::kComplete && t.feasible;
    if (!best) {
      if (candidate) best = &t;
      continue;
    }
    bool real = false;
    if (candidate) {
      real = t.efficiency > best->efficiency * (1 + min_relative_gain) &&
             t.efficiency_interval.ci_low > best->efficiency_interval.ci_high;
      if (t.efficiency > best->efficiency) best = &t;
    }
    v.attempts_without_gain = real ? 0 : v.attempts_without_gain + 1;
    if (v.attempts_without_gain == 1 && !v.reached) streak_start = t.id;
    // The verdict is the state at the end of the list: a later real gain reopens the climb.
    if (real) {
      v.reached = false;
      v.reached_at_trial = -1;
    } else if (!v.reached && patience > 0 && v.attempts_without_gain >= patience) {
      v.reached = true;
      v.reached_at_trial = t.id;
    }
  }
  std::ostringstream s;
  if (best) {
    v.best_trial = best->id;
    v.best_efficiency = best->efficiency;
  }
  if (!best) {
    s << "E1 not assessed: no feasible complete trial yet.";
  } else if (v.reached) {
    s << "E1 reached after trial " << v.reached_at_trial << ": the last " << patience
      << " attempts did not raise the best E beyond noise (a real gain needs > "
      << min_relative_gain * 100 << "% and separated intervals); more search stops paying back.";
    // The best can be one of those attempts: it raised E, but by less than the noise.
    if (best->id >= streak_start && best->id <= v.reached_at_trial)
      s << " Trial " << best->id << ", the best so far, is one of them: its gain is within the noise.";
  } else {
    s << "E1 not reached: " << v.attempts_without_gain << " of " << patience
      << " attempts since the last real gain in E; the climb may still pay back.";
  }
  v.explanation = s.str();
  return v;
}

}  // namespace effitune::orchestrator
