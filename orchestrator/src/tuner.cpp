#include "effitune/orchestrator/tuner.h"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <sstream>

#include "effitune/orchestrator/study_json.h"
#include "effitune/search/factory.h"

namespace effitune::orchestrator {
namespace {

double mono_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

bool is_done(TrialState s) {
  return s == TrialState::kComplete || s == TrialState::kFailed || s == TrialState::kPruned;
}

class Progress {
 public:
  Progress(bool enabled, int64_t total) : enabled_(enabled), total_(total), tty_(isatty(STDERR_FILENO) != 0) {}

  void update(int64_t done, const std::string& note) {
    if (!enabled_) return;
    constexpr int kWidth = 24;
    const int filled = total_ > 0 ? static_cast<int>(std::min<int64_t>(kWidth, done * kWidth / total_)) : 0;
    std::string bar(static_cast<size_t>(filled), '#');
    bar.resize(kWidth, '.');
    std::fprintf(stderr, "%s[%s] %lld/%lld trials  %s%s", tty_ ? "\r\033[K" : "", bar.c_str(),
                 static_cast<long long>(done), static_cast<long long>(total_), note.c_str(), tty_ ? "" : "\n");
    std::fflush(stderr);
  }
  void finish() {
    if (enabled_ && tty_) std::fprintf(stderr, "\n");
  }

 private:
  bool enabled_;
  int64_t total_;
  bool tty_;
};

std::string fmt(double v, int precision = 4) {
  std::ostringstream s;
  s.precision(precision);
  s << v;
  return s.str();
}

}  // namespace

search::TrialOutcome outcome_of(const TrialRecord& r, const search::Configuration& configuration) {
  search::TrialOutcome o;
  o.trial_id = r.id;
  o.configuration = configuration;
  o.fidelity = r.fidelity;
  switch (r.state) {
    case TrialState::kComplete: o.status = search::TrialStatus::kComplete; break;
    case TrialState::kPruned: o.status = search::TrialStatus::kPruned; break;
    default: o.status = search::TrialStatus::kFailed; break;
  }
  o.objective = std::isfinite(r.efficiency) ? r.efficiency : 0;
  const double lo = r.efficiency_interval.ci_low;
  const double hi = r.efficiency_interval.ci_high;
  if (std::isfinite(lo) && std::isfinite(hi) && lo <= hi) o.interval = search::ObjectiveInterval{lo, hi};
  o.feasible = r.feasible;
  o.constraints = r.constraints;
  return o;
}

Result<TunerSummary> summarize_study(const Experiment& ex, StudyStore& store) {
  EFFITUNE_ASSIGN_OR_RETURN(auto trials, store.list_trials(ex.name));
  TunerSummary s;
  for (const auto& t : trials) {
    if (t.state == TrialState::kComplete) ++s.complete;
    if (t.state == TrialState::kFailed) ++s.failed;
    if (t.state == TrialState::kComplete && t.feasible && (!s.best || t.efficiency > s.best->efficiency)) s.best = t;
  }
  s.ranking = rank_trials(trials);
  if (s.best) {
    for (const auto& r : s.ranking) {
      if (r.rank == 1 && r.id != s.best->id) s.tied_with_best.push_back(r.id);
    }
  }
  s.e1 = detect_e1(trials, ex.objective.e1_patience, ex.objective.e1_min_relative_gain);
  return s;
}

std::string format_summary(const TunerSummary& s) {
  std::ostringstream o;
  o << "study: " << s.complete << " complete, " << s.failed << " failed (" << s.run_now << " measured now, "
    << s.replayed << " replayed)";
  if (!s.stop_reason.empty()) o << "; stopped: " << s.stop_reason;
  o << "\n";
  if (s.best) {
    const auto& b = *s.best;
    o << "best: trial " << b.id << "  E = " << fmt(b.efficiency) << " [" << fmt(b.efficiency_interval.ci_low) << ", "
      << fmt(b.efficiency_interval.ci_high) << "]  Q = " << fmt(b.indicators.quality.value)
      << "  R = $" << fmt(b.cost.usd_per_hour) << "/h (" << b.cost.replicas << " replicas)";
    if (b.quadrant) o << "  " << quadrant_name(*b.quadrant);
    o << "\n      " << b.configuration_json << "\n";
    if (s.tied_with_best.empty()) {
      o << "ties: none (the best's interval separates from every other)\n";
    } else {
      o << "ties: trials";
      for (auto id : s.tied_with_best) o << " " << id;
      o << " overlap the best's interval and rank equal\n";
    }
  } else {
    o << "best: none (no complete trial meets E >= E0, R <= R0 and the SLOs at the goal)\n";
  }
  o << s.e1.explanation << "\n";
  return o.str();
}

Result<TunerSummary> run_study(const Experiment& ex, StudyStore& store, TrialRunner& runner,
                               const TunerOptions& options) {
  ExperimentRow row;
  row.name = ex.name;
  row.yaml_text = ex.yaml_text;
  row.engine_commit = options.engine_commit;
  row.device = options.device;
  if (!ex.model.synthetic()) {
    auto sha = sha256_file(ex.model.path);
    if (sha.ok()) row.model_sha256 = sha.value();
  }
  EFFITUNE_ASSIGN_OR_RETURN(ExperimentRow stored, store.ensure_experiment(row));
  if (stored.yaml_text != ex.yaml_text) {
    return failed_precondition("study " + store.path() + " holds experiment '" + ex.name +
                               "' from a different experiment file; resuming would mix two searches. Use "
                               "another --db, or rename the experiment");
  }
  if (ex.objective.weights.ics > 0) {
    // Refused before any trial: every one would fail. The experiment row exists now, so the ratings
    // can be imported into this study and the same command run again.
    EFFITUNE_ASSIGN_OR_RETURN(auto ratings, store.list_feedback(ex.name));
    if (ratings.empty()) {
      return failed_precondition("objective.weights.ICS is " + fmt(ex.objective.weights.ics) + " but study " +
                                 store.path() + " holds no ICS ratings of '" + ex.name +
                                 "'; import them with `effitune feedback import RATINGS --db " + store.path() +
                                 " --experiment " + ex.name + "` and run again, or set the ICS weight to 0");
    }
  }
  {
    EFFITUNE_ASSIGN_OR_RETURN(auto existing, store.list_trials(ex.name));
    if (!existing.empty() && !options.resume) {
      return failed_precondition("study " + store.path() + " already has " + std::to_string(existing.size()) +
                                 " trials of '" + ex.name + "'; pass --resume to continue it or --db to start a new one");
    }
  }
  EFFITUNE_RETURN_IF_ERROR(store.find_stale_running(ex.name, options.resume ? -1.0 : options.stale_after_s).status());

  EFFITUNE_ASSIGN_OR_RETURN(auto strategy,
                            search::make_strategy(ex.strategy.name, ex.strategy.params, ex.space, ex.seed));
  TunerSummary summary;
  std::map<int64_t, TrialRecord> open;  // pending trials (interrupted earlier), by id
  int64_t done = 0;
  {
    EFFITUNE_ASSIGN_OR_RETURN(auto trials, store.list_trials(ex.name));
    for (const auto& t : trials) {
      if (!is_done(t.state)) {
        open[t.id] = t;
        continue;
      }
      EFFITUNE_ASSIGN_OR_RETURN(auto config, configuration_from_json(t.configuration_json));
      Status told = strategy->tell(outcome_of(t, config));
      if (!told.ok()) {
        return told.with_context("replaying trial " + std::to_string(t.id) + " of study " + store.path() +
                                 " (did the experiment's space change?)");
      }
      ++done;
      ++summary.replayed;
    }
  }

  const int64_t max_trials = options.max_trials.value_or(ex.strategy.max_trials);
  const double max_wall_s = options.max_wall_s.value_or(ex.strategy.max_wall_s);
  const double start = mono_s();
  Progress progress(options.progress, max_trials);
  std::string best_note;
  auto note = [&](const std::vector<TrialRecord>& trials) {
    const TrialRecord* best = nullptr;
    for (const auto& t : trials) {
      if (t.state == TrialState::kComplete && t.feasible && (!best || t.efficiency > best->efficiency)) best = &t;
    }
    std::ostringstream s;
    if (best) s << "best E " << fmt(best->efficiency) << " (trial " << best->id << ")  ";
    s << static_cast<int>(mono_s() - start) << " s";
    return s.str();
  };
  {
    EFFITUNE_ASSIGN_OR_RETURN(auto trials, store.list_trials(ex.name));
    progress.update(done, note(trials));
  }

  while (true) {
    if (done >= max_trials) {
      summary.stop_reason = "max_trials (" + std::to_string(max_trials) + ")";
      break;
    }
    if (max_wall_s > 0 && mono_s() - start >= max_wall_s) {
      summary.stop_reason = "max_wall_s (" + fmt(max_wall_s) + " s)";
      break;
    }
    if (options.stop_at_e1) {
      EFFITUNE_ASSIGN_OR_RETURN(auto trials, store.list_trials(ex.name));
      E1Verdict e1 = detect_e1(trials, ex.objective.e1_patience, ex.objective.e1_min_relative_gain);
      if (e1.reached) {
        summary.stop_reason = "E1 (the practical limit: more search stopped paying back)";
        break;
      }
    }
    EFFITUNE_ASSIGN_OR_RETURN(auto next, strategy->ask());
    if (!next) {
      summary.stop_reason = strategy->converged() ? "converged (local optimum)" : "strategy finished";
      break;
    }
    const search::Trial& trial = *next;
    const std::string config_json = configuration_to_json(trial.configuration);
    auto was_open = open.find(trial.id);
    if (was_open != open.end() && was_open->second.attempts >= options.max_attempts) {
      const std::string reason = "abandoned: the run was interrupted " + std::to_string(was_open->second.attempts) +
                                 " times while measuring this trial";
      EFFITUNE_RETURN_IF_ERROR(store.create_trial(ex.name, trial.id, config_json, trial.fidelity));
      EFFITUNE_RETURN_IF_ERROR(store.fail_trial(ex.name, trial.id, reason));
      TrialRecord failed;
      failed.id = trial.id;
      failed.state = TrialState::kFailed;
      EFFITUNE_RETURN_IF_ERROR(strategy->tell(outcome_of(failed, trial.configuration)));
      ++done;
      ++summary.run_now;
      continue;
    }
    Status created = store.create_trial(ex.name, trial.id, config_json, trial.fidelity);
    if (!created.ok()) {
      return created.with_context("trial " + std::to_string(trial.id) +
                                  " (the strategy re-proposed a different configuration than the study holds)");
    }
    EFFITUNE_RETURN_IF_ERROR(store.mark_running(ex.name, trial.id));
    Heartbeat beat = [&] { (void)store.heartbeat(ex.name, trial.id); };
    TrialRunOutcome result = runner.run(trial, beat);
    TrialRecord rec;
    if (result.ok) {
      rec = std::move(result.record);
      rec.id = trial.id;
      rec.experiment = ex.name;
      rec.state = TrialState::kComplete;
      rec.configuration_json = config_json;
      rec.fidelity = trial.fidelity;
      if (was_open != open.end()) rec.attempts = was_open->second.attempts;
      EFFITUNE_RETURN_IF_ERROR(store.complete_trial(rec));
    } else {
      rec.id = trial.id;
      rec.state = TrialState::kFailed;
      rec.failure_reason = result.failure_reason;
      EFFITUNE_RETURN_IF_ERROR(store.fail_trial(ex.name, trial.id, result.failure_reason));
      if (options.progress) {
        std::fprintf(stderr, "%strial %lld failed: %s\n", isatty(STDERR_FILENO) ? "\r\033[K" : "",
                     static_cast<long long>(trial.id), result.failure_reason.c_str());
      }
    }
    EFFITUNE_RETURN_IF_ERROR(strategy->tell(outcome_of(rec, trial.configuration)));
    ++done;
    ++summary.run_now;
    EFFITUNE_ASSIGN_OR_RETURN(auto trials, store.list_trials(ex.name));
    progress.update(done, note(trials));
  }
  progress.finish();

  EFFITUNE_ASSIGN_OR_RETURN(TunerSummary s, summarize_study(ex, store));
  s.run_now = summary.run_now;
  s.replayed = summary.replayed;
  s.stop_reason = summary.stop_reason;
  return s;
}

}  // namespace effitune::orchestrator
