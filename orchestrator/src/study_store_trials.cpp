// The trial life cycle in the study store: pending -> running -> complete | failed | pruned, with
// heartbeats and the recovery of trials whose process died while running.
#include <cmath>

#include "effitune/orchestrator/study_json.h"
#include "effitune/orchestrator/study_store.h"
#include "study_json_detail.h"
#include "study_store_impl.h"
#include "study_store_sql.h"

namespace effitune::orchestrator {
namespace {

constexpr const char* kTrialColumns =
    "SELECT t.trial_id, e.name, t.state, t.configuration_json, t.fidelity, t.failure_reason, t.started_at, "
    "t.finished_at, t.heartbeat_at, t.attempts, t.indicators_json, t.cost_json, t.efficiency, "
    "t.efficiency_interval_json, t.feasible, t.constraints_json, t.quadrant, t.load_curve_json, "
    "t.measurements_json FROM trials t JOIN experiments e ON e.id = t.experiment_id ";

std::string trial_name(const std::string& experiment, int64_t trial_id) {
  return "trial " + std::to_string(trial_id) + " of experiment '" + experiment + "'";
}

Result<TrialRecord> trial_row(const sql::Stmt& st) {
  TrialRecord r;
  r.id = st.int64(0);
  r.experiment = st.text(1);
  auto state = parse_trial_state(st.text(2));
  if (!state) return data_loss("trial " + std::to_string(r.id) + " has an unknown state '" + st.text(2) + "'");
  r.state = *state;
  r.configuration_json = st.text(3);
  r.fidelity = st.opt_real(4);
  r.failure_reason = st.text(5);
  r.started_at = st.real(6);
  r.finished_at = st.real(7);
  r.heartbeat_at = st.real(8);
  r.attempts = static_cast<int32_t>(st.int64(9));
  auto context = [&](const Status& s) { return data_loss("stored " + trial_name(r.experiment, r.id) + ": " + s.message()); };
  auto ind = detail::indicators_from_json(st.text(10));
  if (!ind.ok()) return context(ind.status());
  r.indicators = std::move(ind).value();
  auto cost = detail::cost_from_json(st.text(11));
  if (!cost.ok()) return context(cost.status());
  r.cost = std::move(cost).value();
  r.efficiency = st.is_null(12) ? std::nan("") : st.real(12);
  auto eff = detail::interval_from_json(st.text(13));
  if (!eff.ok()) return context(eff.status());
  r.efficiency_interval = eff.value();
  r.feasible = st.int64(14) != 0;
  auto constraints = detail::constraints_from_json(st.text(15));
  if (!constraints.ok()) return context(constraints.status());
  r.constraints = std::move(constraints).value();
  if (!st.is_null(16)) {
    r.quadrant = parse_quadrant(st.text(16));
    if (!r.quadrant) return data_loss("stored " + trial_name(r.experiment, r.id) + ": unknown quadrant " + st.text(16));
  }
  auto curve = detail::load_curve_from_json(st.text(17));
  if (!curve.ok()) return context(curve.status());
  r.load_curve = std::move(curve).value();
  r.measurements_json = st.text(18);
  return r;
}

// The state of a trial, or nullopt when it does not exist.
Result<std::optional<std::string>> state_of(sqlite3* db, int64_t exp_id, int64_t trial_id) {
  sql::Stmt st(db, "SELECT state FROM trials WHERE experiment_id = ? AND trial_id = ?");
  st.bind(1, exp_id).bind(2, trial_id);
  EFFITUNE_ASSIGN_OR_RETURN(bool row, st.step());
  if (!row) return std::optional<std::string>();
  return std::optional<std::string>(st.text(0));
}

// Why an UPDATE guarded by the state changed nothing: the trial is missing or in another state.
Status explain_unchanged(sqlite3* db, int64_t exp_id, const std::string& experiment, int64_t trial_id,
                         const std::string& wanted) {
  EFFITUNE_ASSIGN_OR_RETURN(auto state, state_of(db, exp_id, trial_id));
  if (!state) return not_found(trial_name(experiment, trial_id) + " does not exist; create_trial first");
  return failed_precondition(trial_name(experiment, trial_id) + " is " + *state + ", expected " + wanted);
}

}  // namespace

Status StudyStore::create_trial(const std::string& experiment, int64_t trial_id, const std::string& configuration_json,
                                std::optional<double> fidelity) {
  sql::Transaction tx(impl_->db);
  EFFITUNE_RETURN_IF_ERROR(tx.begun());
  EFFITUNE_ASSIGN_OR_RETURN(int64_t exp_id, impl_->experiment_id(experiment));
  sql::Stmt sel(impl_->db, "SELECT state, configuration_json FROM trials WHERE experiment_id = ? AND trial_id = ?");
  sel.bind(1, exp_id).bind(2, trial_id);
  EFFITUNE_ASSIGN_OR_RETURN(bool exists, sel.step());
  if (!exists) {
    sql::Stmt ins(impl_->db,
                  "INSERT INTO trials (experiment_id, trial_id, state, configuration_json, fidelity) "
                  "VALUES (?, ?, 'pending', ?, ?)");
    EFFITUNE_RETURN_IF_ERROR(ins.bind(1, exp_id).bind(2, trial_id).bind(3, configuration_json).bind(4, fidelity).run());
    return tx.commit();
  }
  std::string state = sel.text(0);
  std::string stored_configuration = sel.text(1);
  sel.reset();
  if (state == "complete" || state == "pruned") {
    return failed_precondition(trial_name(experiment, trial_id) + " is already " + state +
                               "; a finished trial is never measured again (resume asks for the next id)");
  }
  if (stored_configuration != configuration_json) {
    return failed_precondition(trial_name(experiment, trial_id) + " exists with configuration " + stored_configuration +
                               ", not " + configuration_json +
                               "; the experiment's space, strategy or seed changed since the study began: use a "
                               "new experiment name or --db");
  }
  sql::Stmt upd(impl_->db,
                "UPDATE trials SET state = 'pending', fidelity = ?, failure_reason = '' "
                "WHERE experiment_id = ? AND trial_id = ?");
  EFFITUNE_RETURN_IF_ERROR(upd.bind(1, fidelity).bind(2, exp_id).bind(3, trial_id).run());
  return tx.commit();
}

Status StudyStore::mark_running(const std::string& experiment, int64_t trial_id, std::optional<double> now) {
  const double t = now_or(now);
  sql::Transaction tx(impl_->db);
  EFFITUNE_RETURN_IF_ERROR(tx.begun());
  EFFITUNE_ASSIGN_OR_RETURN(int64_t exp_id, impl_->experiment_id(experiment));
  sql::Stmt upd(impl_->db,
                "UPDATE trials SET state = 'running', started_at = ?, heartbeat_at = ? "
                "WHERE experiment_id = ? AND trial_id = ? AND state = 'pending'");
  EFFITUNE_RETURN_IF_ERROR(upd.bind(1, t).bind(2, t).bind(3, exp_id).bind(4, trial_id).run());
  if (sqlite3_changes(impl_->db) == 0) return explain_unchanged(impl_->db, exp_id, experiment, trial_id, "pending");
  return tx.commit();
}

Status StudyStore::heartbeat(const std::string& experiment, int64_t trial_id, std::optional<double> now) {
  const double t = now_or(now);
  sql::Transaction tx(impl_->db);
  EFFITUNE_RETURN_IF_ERROR(tx.begun());
  EFFITUNE_ASSIGN_OR_RETURN(int64_t exp_id, impl_->experiment_id(experiment));
  sql::Stmt upd(impl_->db,
                "UPDATE trials SET heartbeat_at = ? WHERE experiment_id = ? AND trial_id = ? AND state = 'running'");
  EFFITUNE_RETURN_IF_ERROR(upd.bind(1, t).bind(2, exp_id).bind(3, trial_id).run());
  if (sqlite3_changes(impl_->db) == 0) return explain_unchanged(impl_->db, exp_id, experiment, trial_id, "running");
  return tx.commit();
}

Status StudyStore::complete_trial(const TrialRecord& r) {
  if (r.state != TrialState::kComplete && r.state != TrialState::kPruned) {
    return invalid_argument(std::string("complete_trial takes a complete or pruned record, got ") +
                            trial_state_name(r.state) + "; use fail_trial for failures");
  }
  const double finished = r.finished_at > 0 ? r.finished_at : now_unix_s();
  sql::Transaction tx(impl_->db);
  EFFITUNE_RETURN_IF_ERROR(tx.begun());
  EFFITUNE_ASSIGN_OR_RETURN(int64_t exp_id, impl_->experiment_id(r.experiment));
  sql::Stmt upd(impl_->db,
                "UPDATE trials SET state = ?, fidelity = ?, failure_reason = ?, "
                "started_at = CASE WHEN ? > 0 THEN ? ELSE started_at END, finished_at = ?, "
                "indicators_json = ?, cost_json = ?, efficiency = ?, efficiency_interval_json = ?, feasible = ?, "
                "constraints_json = ?, quadrant = ?, load_curve_json = ?, measurements_json = ? "
                "WHERE experiment_id = ? AND trial_id = ? AND state IN ('pending', 'running')");
  upd.bind(1, std::string(trial_state_name(r.state))).bind(2, r.fidelity).bind(3, r.failure_reason);
  upd.bind(4, r.started_at).bind(5, r.started_at).bind(6, finished);
  upd.bind(7, detail::indicators_to_json(r.indicators)).bind(8, detail::cost_to_json(r.cost));
  if (std::isfinite(r.efficiency)) upd.bind(9, r.efficiency);
  else upd.bind_null(9);
  upd.bind(10, detail::interval_to_json(r.efficiency_interval)).bind(11, int64_t{r.feasible ? 1 : 0});
  upd.bind(12, detail::constraints_to_json(r.constraints));
  if (r.quadrant) upd.bind(13, std::string(quadrant_name(*r.quadrant)));
  else upd.bind_null(13);
  upd.bind(14, detail::load_curve_to_json(r.load_curve)).bind(15, r.measurements_json);
  upd.bind(16, exp_id).bind(17, r.id);
  EFFITUNE_RETURN_IF_ERROR(upd.run());
  if (sqlite3_changes(impl_->db) == 0) {
    return explain_unchanged(impl_->db, exp_id, r.experiment, r.id, "pending or running");
  }
  return tx.commit();
}

Status StudyStore::fail_trial(const std::string& experiment, int64_t trial_id, const std::string& reason,
                              std::optional<double> now) {
  const double t = now_or(now);
  sql::Transaction tx(impl_->db);
  EFFITUNE_RETURN_IF_ERROR(tx.begun());
  EFFITUNE_ASSIGN_OR_RETURN(int64_t exp_id, impl_->experiment_id(experiment));
  sql::Stmt upd(impl_->db,
                "UPDATE trials SET state = 'failed', failure_reason = ?, finished_at = ? "
                "WHERE experiment_id = ? AND trial_id = ? AND state IN ('pending', 'running')");
  EFFITUNE_RETURN_IF_ERROR(upd.bind(1, reason).bind(2, t).bind(3, exp_id).bind(4, trial_id).run());
  if (sqlite3_changes(impl_->db) == 0) {
    return explain_unchanged(impl_->db, exp_id, experiment, trial_id, "pending or running");
  }
  return tx.commit();
}

Result<std::vector<int64_t>> StudyStore::find_stale_running(const std::string& experiment, double older_than_s,
                                                            std::optional<double> now) {
  const double cutoff = now_or(now) - older_than_s;
  sql::Transaction tx(impl_->db);
  EFFITUNE_RETURN_IF_ERROR(tx.begun());
  EFFITUNE_ASSIGN_OR_RETURN(int64_t exp_id, impl_->experiment_id(experiment));
  std::vector<int64_t> ids;
  {
    sql::Stmt sel(impl_->db,
                  "SELECT trial_id FROM trials WHERE experiment_id = ? AND state = 'running' AND heartbeat_at < ? "
                  "ORDER BY trial_id");
    sel.bind(1, exp_id).bind(2, cutoff);
    while (true) {
      EFFITUNE_ASSIGN_OR_RETURN(bool row, sel.step());
      if (!row) break;
      ids.push_back(sel.int64(0));
    }
  }
  sql::Stmt upd(impl_->db,
                "UPDATE trials SET state = 'pending', attempts = attempts + 1 "
                "WHERE experiment_id = ? AND state = 'running' AND heartbeat_at < ?");
  EFFITUNE_RETURN_IF_ERROR(upd.bind(1, exp_id).bind(2, cutoff).run());
  EFFITUNE_RETURN_IF_ERROR(tx.commit());
  return ids;
}

Result<std::vector<TrialRecord>> StudyStore::list_trials(const std::string& experiment) {
  EFFITUNE_ASSIGN_OR_RETURN(int64_t exp_id, impl_->experiment_id(experiment));
  sql::Stmt sel(impl_->db, std::string(kTrialColumns) + "WHERE t.experiment_id = ? ORDER BY t.trial_id");
  sel.bind(1, exp_id);
  std::vector<TrialRecord> out;
  while (true) {
    EFFITUNE_ASSIGN_OR_RETURN(bool row, sel.step());
    if (!row) break;
    EFFITUNE_ASSIGN_OR_RETURN(TrialRecord r, trial_row(sel));
    out.push_back(std::move(r));
  }
  return out;
}

Result<TrialRecord> StudyStore::get_trial(const std::string& experiment, int64_t trial_id) {
  EFFITUNE_ASSIGN_OR_RETURN(int64_t exp_id, impl_->experiment_id(experiment));
  sql::Stmt sel(impl_->db, std::string(kTrialColumns) + "WHERE t.experiment_id = ? AND t.trial_id = ?");
  sel.bind(1, exp_id).bind(2, trial_id);
  EFFITUNE_ASSIGN_OR_RETURN(bool row, sel.step());
  if (!row) return not_found(trial_name(experiment, trial_id) + " does not exist; `effitune trials` lists them");
  return trial_row(sel);
}

Result<int64_t> StudyStore::next_trial_id(const std::string& experiment) {
  EFFITUNE_ASSIGN_OR_RETURN(int64_t exp_id, impl_->experiment_id(experiment));
  sql::Stmt sel(impl_->db, "SELECT COALESCE(MAX(trial_id) + 1, 0) FROM trials WHERE experiment_id = ?");
  sel.bind(1, exp_id);
  EFFITUNE_ASSIGN_OR_RETURN(bool row, sel.step());
  if (!row) return internal_error("MAX(trial_id) returned no row");
  return sel.int64(0);
}

}  // namespace effitune::orchestrator
