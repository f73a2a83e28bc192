#include "effitune/orchestrator/nightly.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <sstream>

#include "effitune/orchestrator/study_json.h"
#include "effitune/probes/stats.h"

namespace effitune::orchestrator {
namespace {

const std::set<std::string> kQualityIndicators = {"performance", "consistency", "completeness", "accuracy", "quality"};

std::vector<std::pair<std::string, std::pair<Interval, bool>>> indicators_of(const TrialRecord& r) {
  std::vector<std::pair<std::string, std::pair<Interval, bool>>> out = {
      {"performance", {r.indicators.performance, true}}, {"consistency", {r.indicators.consistency, false}},
      {"completeness", {r.indicators.completeness, false}}, {"accuracy", {r.indicators.accuracy, false}},
      {"quality", {r.indicators.quality, false}},          {"efficiency", {r.efficiency_interval, false}}};
  if (auto it = r.indicators.parts.find("history_consistency"); it != r.indicators.parts.end()) {
    out.push_back({"history_consistency", {it->second, true}});
  }
  return out;
}

size_t successes(const Interval& x) {
  const double s = std::round(std::clamp(x.value, 0.0, 1.0) * static_cast<double>(x.n));
  return static_cast<size_t>(std::max(0.0, s));
}

}  // namespace

DriftRow compare_indicator(const std::string& indicator, const Interval& baseline, const Interval& current,
                           bool proportion, double significance) {
  DriftRow d;
  d.indicator = indicator;
  d.baseline = baseline;
  d.current = current;
  if (proportion && baseline.n > 0 && current.n > 0) {
    auto z = probes::two_proportion_z_test(successes(baseline), static_cast<size_t>(baseline.n), successes(current),
                                           static_cast<size_t>(current.n));
    if (z.ok()) {
      d.test = "two-proportion-z";
      d.p_value = z->p_value;
      d.significant = z->p_value < significance;
      return d;
    }
  }
  d.test = "intervals-separate";
  d.significant = current.ci_low > baseline.ci_high || current.ci_high < baseline.ci_low;
  return d;
}

Result<NightlyResult> run_nightly(const Experiment& ex, StudyStore& store, TrialRunner& runner,
                                  const NightlyOptions& options) {
  EFFITUNE_ASSIGN_OR_RETURN(auto trials, store.list_trials(ex.name));
  if (trials.empty()) {
    return not_found("the study " + store.path() + " has no trials of '" + ex.name +
                     "'; run `effitune run` first, the nightly job continues a study");
  }
  const double now = options.now.value_or(StudyStore::now_unix_s());
  NightlyResult res;
  std::ostringstream text;
  const auto ranking = rank_trials(trials);
  std::vector<const TrialRecord*> chosen;
  for (const auto& r : ranking) {
    if (static_cast<int32_t>(chosen.size()) >= std::max(1, options.top)) break;
    for (const auto& t : trials) {
      if (t.id == r.id) chosen.push_back(&t);
    }
  }
  if (chosen.empty()) {
    res.goal_missed = true;
    text << "no feasible configuration in the study: the goal is not met within R0/E0\n";
  }
  for (size_t i = 0; i < chosen.size(); ++i) {
    const TrialRecord& t = *chosen[i];
    EFFITUNE_ASSIGN_OR_RETURN(auto base, store.get_baseline(ex.name, t.configuration_json));
    TrialRecord baseline = t;
    if (base) {
      baseline = base->record;
    } else {
      EFFITUNE_RETURN_IF_ERROR(store.set_baseline(ex.name, t, now));
    }
    EFFITUNE_ASSIGN_OR_RETURN(auto config, configuration_from_json(t.configuration_json));
    search::Trial trial{t.id, config, t.fidelity};
    TrialRunOutcome out = runner.run(trial, nullptr);
    res.remeasured.push_back(t.id);
    const bool incumbent = i == 0;
    if (!out.ok) {
      res.failures.push_back("trial " + std::to_string(t.id) + ": " + out.failure_reason);
      if (incumbent) res.goal_missed = true;
      text << "trial " << t.id << (incumbent ? " (incumbent)" : "") << ": re-measurement failed: " << out.failure_reason
           << "\n";
      continue;
    }
    text << "trial " << t.id << (incumbent ? " (incumbent)" : "") << ":";
    for (const auto& [name, cur] : indicators_of(out.record)) {
      Interval before{};
      bool found = false;
      for (const auto& [bname, b] : indicators_of(baseline)) {
        if (bname == name) {
          before = b.first;
          found = true;
        }
      }
      if (!found) continue;
      DriftRow d = compare_indicator(name, before, cur.first, cur.second, options.significance);
      d.experiment = ex.name;
      d.run_at = now;
      d.configuration_json = t.configuration_json;
      if (d.significant) {
        const bool down = d.current.value < d.baseline.value;
        text << " " << name << (down ? " fell " : " rose ") << d.baseline.value << " -> " << d.current.value << " ("
             << d.test << ")";
        if (down && kQualityIndicators.count(name)) res.quality_drifted = true;
      }
      res.drift.push_back(std::move(d));
    }
    if (incumbent && !out.record.feasible) {
      res.goal_missed = true;
      text << " no longer feasible (E >= E0, R <= R0 and the SLOs at the goal)";
    }
    text << "\n";
  }
  EFFITUNE_RETURN_IF_ERROR(store.add_drift_results(res.drift));

  if (options.search_wall_s > 0 || options.search_trials > 0) {
    TunerOptions to = options.tuner;
    to.resume = true;
    if (options.search_wall_s > 0) to.max_wall_s = options.search_wall_s;
    int64_t done = 0;
    for (const auto& t : trials) done += (t.state == TrialState::kComplete || t.state == TrialState::kFailed) ? 1 : 0;
    to.max_trials = options.search_trials > 0 ? done + options.search_trials : std::max(done, ex.strategy.max_trials) + 1000000;
    to.stop_at_e1 = false;  // a night's budget is the limit; E1 is reported, not obeyed
    EFFITUNE_ASSIGN_OR_RETURN(TunerSummary s, run_study(ex, store, runner, to));
    text << "search continued: " << s.run_now << " new trials\n" << format_summary(s);
    res.search = std::move(s);
  }

  if (res.quality_drifted && res.goal_missed) res.exit_code = kNightlyDriftAndGoal;
  else if (res.quality_drifted) res.exit_code = kNightlyQualityDrift;
  else if (res.goal_missed) res.exit_code = kNightlyGoalMissed;
  text << (res.exit_code == kNightlyOk ? "nightly: ok (no significant quality drift, goal met)\n"
                                       : "nightly: ALERT (exit " + std::to_string(res.exit_code) + ")\n");
  res.text = text.str();
  return res;
}

}  // namespace effitune::orchestrator
