// Baselines (nightly), drift results and ICS feedback in the study store.
#include "effitune/orchestrator/study_json.h"
#include "effitune/orchestrator/study_store.h"
#include "study_json_detail.h"
#include "study_store_impl.h"
#include "study_store_sql.h"

namespace effitune::orchestrator {
namespace {

Result<BaselineRow> baseline_row(const sql::Stmt& st) {
  BaselineRow b;
  b.experiment = st.text(0);
  b.configuration_json = st.text(1);
  b.recorded_at = st.real(2);
  auto record = trial_from_json(st.text(3));
  if (!record.ok()) return data_loss("stored baseline of " + b.configuration_json + ": " + record.status().message());
  b.record = std::move(record).value();
  return b;
}

constexpr const char* kBaselineColumns =
    "SELECT e.name, b.configuration_json, b.recorded_at, b.record_json FROM baselines b "
    "JOIN experiments e ON e.id = b.experiment_id ";

}  // namespace

Status StudyStore::set_baseline(const std::string& experiment, const TrialRecord& record, std::optional<double> now) {
  sql::Transaction tx(impl_->db);
  EFFITUNE_RETURN_IF_ERROR(tx.begun());
  EFFITUNE_ASSIGN_OR_RETURN(int64_t exp_id, impl_->experiment_id(experiment));
  sql::Stmt ins(impl_->db,
                "INSERT OR REPLACE INTO baselines (experiment_id, configuration_json, recorded_at, record_json) "
                "VALUES (?, ?, ?, ?)");
  ins.bind(1, exp_id).bind(2, record.configuration_json).bind(3, now_or(now)).bind(4, trial_to_json(record));
  EFFITUNE_RETURN_IF_ERROR(ins.run());
  return tx.commit();
}

Result<std::optional<BaselineRow>> StudyStore::get_baseline(const std::string& experiment,
                                                            const std::string& configuration_json) {
  EFFITUNE_ASSIGN_OR_RETURN(int64_t exp_id, impl_->experiment_id(experiment));
  sql::Stmt sel(impl_->db, std::string(kBaselineColumns) + "WHERE b.experiment_id = ? AND b.configuration_json = ?");
  sel.bind(1, exp_id).bind(2, configuration_json);
  EFFITUNE_ASSIGN_OR_RETURN(bool row, sel.step());
  if (!row) return std::optional<BaselineRow>();
  EFFITUNE_ASSIGN_OR_RETURN(BaselineRow b, baseline_row(sel));
  return std::optional<BaselineRow>(std::move(b));
}

Result<std::vector<BaselineRow>> StudyStore::list_baselines(const std::string& experiment) {
  EFFITUNE_ASSIGN_OR_RETURN(int64_t exp_id, impl_->experiment_id(experiment));
  sql::Stmt sel(impl_->db, std::string(kBaselineColumns) + "WHERE b.experiment_id = ? ORDER BY b.recorded_at, b.rowid");
  sel.bind(1, exp_id);
  std::vector<BaselineRow> out;
  while (true) {
    EFFITUNE_ASSIGN_OR_RETURN(bool row, sel.step());
    if (!row) break;
    EFFITUNE_ASSIGN_OR_RETURN(BaselineRow b, baseline_row(sel));
    out.push_back(std::move(b));
  }
  return out;
}

Status StudyStore::add_drift_results(const std::vector<DriftRow>& rows) {
  sql::Transaction tx(impl_->db);
  EFFITUNE_RETURN_IF_ERROR(tx.begun());
  for (const auto& r : rows) {
    EFFITUNE_ASSIGN_OR_RETURN(int64_t exp_id, impl_->experiment_id(r.experiment));
    sql::Stmt ins(impl_->db,
                  "INSERT INTO drift_results (experiment_id, run_at, configuration_json, indicator, baseline_json, "
                  "current_json, significant, test, p_value) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
    ins.bind(1, exp_id).bind(2, r.run_at > 0 ? r.run_at : now_unix_s()).bind(3, r.configuration_json);
    ins.bind(4, r.indicator).bind(5, detail::interval_to_json(r.baseline)).bind(6, detail::interval_to_json(r.current));
    ins.bind(7, int64_t{r.significant ? 1 : 0}).bind(8, r.test).bind(9, r.p_value);
    EFFITUNE_RETURN_IF_ERROR(ins.run());
  }
  return tx.commit();
}

Result<std::vector<DriftRow>> StudyStore::list_drift_results(const std::string& experiment) {
  EFFITUNE_ASSIGN_OR_RETURN(int64_t exp_id, impl_->experiment_id(experiment));
  sql::Stmt sel(impl_->db,
                "SELECT id, run_at, configuration_json, indicator, baseline_json, current_json, significant, test, "
                "p_value FROM drift_results WHERE experiment_id = ? ORDER BY id");
  sel.bind(1, exp_id);
  std::vector<DriftRow> out;
  while (true) {
    EFFITUNE_ASSIGN_OR_RETURN(bool row, sel.step());
    if (!row) break;
    DriftRow d;
    d.id = sel.int64(0);
    d.experiment = experiment;
    d.run_at = sel.real(1);
    d.configuration_json = sel.text(2);
    d.indicator = sel.text(3);
    auto base = detail::interval_from_json(sel.text(4));
    auto cur = detail::interval_from_json(sel.text(5));
    if (!base.ok() || !cur.ok()) return data_loss("stored drift result " + std::to_string(d.id) + " is malformed");
    d.baseline = base.value();
    d.current = cur.value();
    d.significant = sel.int64(6) != 0;
    d.test = sel.text(7);
    d.p_value = sel.real(8);
    out.push_back(std::move(d));
  }
  return out;
}

Status StudyStore::add_feedback(const std::vector<FeedbackRow>& rows) {
  const double now = now_unix_s();
  sql::Transaction tx(impl_->db);
  EFFITUNE_RETURN_IF_ERROR(tx.begun());
  for (const auto& r : rows) {
    EFFITUNE_ASSIGN_OR_RETURN(int64_t exp_id, impl_->experiment_id(r.experiment));
    sql::Stmt ins(impl_->db,
                  "INSERT INTO feedback (experiment_id, key_field, key, scale, value, source, imported_at) "
                  "VALUES (?, ?, ?, ?, ?, ?, ?)");
    ins.bind(1, exp_id).bind(2, r.key_field).bind(3, r.key).bind(4, r.scale).bind(5, r.value).bind(6, r.source);
    ins.bind(7, r.imported_at > 0 ? r.imported_at : now);
    EFFITUNE_RETURN_IF_ERROR(ins.run());
  }
  return tx.commit();
}

Result<std::vector<FeedbackRow>> StudyStore::list_feedback(const std::string& experiment) {
  EFFITUNE_ASSIGN_OR_RETURN(int64_t exp_id, impl_->experiment_id(experiment));
  sql::Stmt sel(impl_->db,
                "SELECT key_field, key, scale, value, source, imported_at FROM feedback WHERE experiment_id = ? "
                "ORDER BY id");
  sel.bind(1, exp_id);
  std::vector<FeedbackRow> out;
  while (true) {
    EFFITUNE_ASSIGN_OR_RETURN(bool row, sel.step());
    if (!row) break;
    FeedbackRow f;
    f.experiment = experiment;
    f.key_field = sel.text(0);
    f.key = sel.text(1);
    f.scale = sel.text(2);
    f.value = sel.real(3);
    f.source = sel.text(4);
    f.imported_at = sel.real(5);
    out.push_back(std::move(f));
  }
  return out;
}

}  // namespace effitune::orchestrator
