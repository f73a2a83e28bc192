// Opening a study, schema migrations, experiments and health checks. Trials are in
// study_store_trials.cpp; baselines, drift results and feedback in study_store_extra.cpp.
#include "effitune/orchestrator/study_store.h"

#include <chrono>
#include <vector>

#include "study_store_impl.h"
#include "study_store_sql.h"

namespace effitune::orchestrator {
namespace {

struct Migration {
  int version;
  const char* description;
  const char* sql;
};

// Append-only: a released migration is never edited, so every file reaches the same schema.
const std::vector<Migration>& migrations() {
  static const std::vector<Migration> kMigrations = {
      {1, "experiments and trials", R"sql(
CREATE TABLE schema_migrations (
  version INTEGER PRIMARY KEY,
  description TEXT NOT NULL,
  applied_at REAL NOT NULL
);
CREATE TABLE experiments (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  yaml_text TEXT NOT NULL,
  created_at REAL NOT NULL,
  engine_commit TEXT NOT NULL DEFAULT '',
  device TEXT NOT NULL DEFAULT '',
  model_sha256 TEXT NOT NULL DEFAULT ''
);
CREATE TABLE trials (
  experiment_id INTEGER NOT NULL REFERENCES experiments(id),
  trial_id INTEGER NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('pending', 'running', 'complete', 'failed', 'pruned')),
  configuration_json TEXT NOT NULL,
  fidelity REAL,
  failure_reason TEXT NOT NULL DEFAULT '',
  started_at REAL NOT NULL DEFAULT 0,
  finished_at REAL NOT NULL DEFAULT 0,
  heartbeat_at REAL NOT NULL DEFAULT 0,
  indicators_json TEXT NOT NULL DEFAULT '{}',
  cost_json TEXT NOT NULL DEFAULT '{}',
  efficiency REAL,
  efficiency_interval_json TEXT NOT NULL DEFAULT '{}',
  feasible INTEGER NOT NULL DEFAULT 0,
  constraints_json TEXT NOT NULL DEFAULT '{}',
  quadrant TEXT,
  load_curve_json TEXT NOT NULL DEFAULT '[]',
  measurements_json TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (experiment_id, trial_id)
);
)sql"},
      {2, "trial attempts, baselines, drift results, ICS feedback", R"sql(
ALTER TABLE trials ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
CREATE INDEX trials_by_state ON trials (experiment_id, state);
CREATE TABLE baselines (
  experiment_id INTEGER NOT NULL REFERENCES experiments(id),
  configuration_json TEXT NOT NULL,
  recorded_at REAL NOT NULL,
  record_json TEXT NOT NULL,
  PRIMARY KEY (experiment_id, configuration_json)
);
CREATE TABLE drift_results (
  id INTEGER PRIMARY KEY,
  experiment_id INTEGER NOT NULL REFERENCES experiments(id),
  run_at REAL NOT NULL,
  configuration_json TEXT NOT NULL,
  indicator TEXT NOT NULL,
  baseline_json TEXT NOT NULL,
  current_json TEXT NOT NULL,
  significant INTEGER NOT NULL,
  test TEXT NOT NULL,
  p_value REAL NOT NULL
);
CREATE TABLE feedback (
  id INTEGER PRIMARY KEY,
  experiment_id INTEGER NOT NULL REFERENCES experiments(id),
  key_field TEXT NOT NULL,
  key TEXT NOT NULL,
  scale TEXT NOT NULL,
  value REAL NOT NULL,
  source TEXT NOT NULL,
  imported_at REAL NOT NULL
);
CREATE INDEX feedback_by_key ON feedback (experiment_id, key_field, key);
)sql"},
  };
  return kMigrations;
}

Result<int> read_user_version(sqlite3* db) {
  sql::Stmt st(db, "PRAGMA user_version");
  EFFITUNE_ASSIGN_OR_RETURN(bool row, st.step());
  if (!row) return internal_error("PRAGMA user_version returned no row");
  return static_cast<int>(st.int64(0));
}

// Each migration and its user_version bump commit together: a crash mid-migration leaves the
// previous version intact, and the next open runs the migration again.
Status migrate(sqlite3* db, const std::string& path, int target) {
  EFFITUNE_ASSIGN_OR_RETURN(int current, read_user_version(db));
  if (current > target) {
    return failed_precondition(path + ": the study has schema version " + std::to_string(current) +
                               ", newer than this effitune understands (" + std::to_string(target) +
                               "); use a newer effitune or another --db");
  }
  for (const auto& m : migrations()) {
    if (m.version <= current || m.version > target) continue;
    sql::Transaction tx(db);
    EFFITUNE_RETURN_IF_ERROR(tx.begun());
    // Another process may have migrated while this one waited for the lock.
    EFFITUNE_ASSIGN_OR_RETURN(int now_version, read_user_version(db));
    if (now_version >= m.version) continue;
    Status s = sql::exec(db, m.sql);
    if (!s.ok()) return s.with_context(path + ": migration to schema version " + std::to_string(m.version));
    sql::Stmt ins(db, "INSERT INTO schema_migrations (version, description, applied_at) VALUES (?, ?, ?)");
    EFFITUNE_RETURN_IF_ERROR(
        ins.bind(1, int64_t{m.version}).bind(2, std::string(m.description)).bind(3, StudyStore::now_unix_s()).run());
    EFFITUNE_RETURN_IF_ERROR(sql::exec(db, "PRAGMA user_version = " + std::to_string(m.version)));
    EFFITUNE_RETURN_IF_ERROR(tx.commit());
  }
  return Status::ok_status();
}

ExperimentRow experiment_row(const sql::Stmt& st) {
  ExperimentRow r;
  r.id = st.int64(0);
  r.name = st.text(1);
  r.yaml_text = st.text(2);
  r.created_at = st.real(3);
  r.engine_commit = st.text(4);
  r.device = st.text(5);
  r.model_sha256 = st.text(6);
  return r;
}

constexpr const char* kExperimentColumns =
    "SELECT id, name, yaml_text, created_at, engine_commit, device, model_sha256 FROM experiments ";

}  // namespace

double StudyStore::now_unix_s() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

StudyStore::StudyStore(std::unique_ptr<Impl> impl, std::string path) : impl_(std::move(impl)), path_(std::move(path)) {}
StudyStore::~StudyStore() = default;

Result<int64_t> StudyStore::Impl::experiment_id(const std::string& name) const {
  sql::Stmt st(db, "SELECT id FROM experiments WHERE name = ?");
  st.bind(1, name);
  EFFITUNE_ASSIGN_OR_RETURN(bool row, st.step());
  if (!row) return not_found("experiment '" + name + "' is not in this study; run it first or check --db");
  return st.int64(0);
}

Result<std::unique_ptr<StudyStore>> StudyStore::open(const std::string& path, const StudyOpenOptions& options) {
  if (options.target_version < 1 || options.target_version > kStudySchemaVersion) {
    return invalid_argument("study schema version " + std::to_string(options.target_version) + " does not exist (1.." +
                            std::to_string(kStudySchemaVersion) + ")");
  }
  auto impl = std::make_unique<Impl>();
  int rc = sqlite3_open_v2(path.c_str(), &impl->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                           nullptr);
  if (rc != SQLITE_OK) return sql::error(impl->db, rc, "opening study " + path);
  sqlite3_busy_timeout(impl->db, options.busy_timeout_ms);
  sqlite3_extended_result_codes(impl->db, 1);
  {
    sql::Stmt wal(impl->db, "PRAGMA journal_mode = WAL");
    auto row = wal.step();
    if (!row.ok()) return row.status().with_context(path + " (is it an effitune study?)");
  }
  // FULL, not NORMAL: in WAL mode NORMAL survives a killed process but may lose the last commits on
  // power loss. A complete trial took minutes to measure and one fsync per commit costs
  // milliseconds, so every committed trial is made durable.
  EFFITUNE_RETURN_IF_ERROR(sql::exec(impl->db, "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON"));
  Status s = migrate(impl->db, path, options.target_version);
  if (!s.ok()) return s;
  return std::unique_ptr<StudyStore>(new StudyStore(std::move(impl), path));
}

Result<int> StudyStore::user_version() { return read_user_version(impl_->db); }

Result<std::string> StudyStore::journal_mode() {
  sql::Stmt st(impl_->db, "PRAGMA journal_mode");
  EFFITUNE_ASSIGN_OR_RETURN(bool row, st.step());
  if (!row) return internal_error("PRAGMA journal_mode returned no row");
  return st.text(0);
}

Status StudyStore::integrity_check() {
  sql::Stmt st(impl_->db, "PRAGMA integrity_check");
  std::string report;
  int lines = 0;
  while (true) {
    EFFITUNE_ASSIGN_OR_RETURN(bool row, st.step());
    if (!row) break;
    std::string line = st.text(0);
    if (lines == 0 && line == "ok") return Status::ok_status();
    if (lines < 5) report += (lines ? "; " : "") + line;
    ++lines;
  }
  return data_loss(path_ + ": integrity_check failed: " + report +
                   "; restore the study from a copy or start a new --db");
}

Result<ExperimentRow> StudyStore::ensure_experiment(const ExperimentRow& row) {
  sql::Transaction tx(impl_->db);
  EFFITUNE_RETURN_IF_ERROR(tx.begun());
  sql::Stmt ins(impl_->db,
                "INSERT OR IGNORE INTO experiments (name, yaml_text, created_at, engine_commit, device, model_sha256) "
                "VALUES (?, ?, ?, ?, ?, ?)");
  ins.bind(1, row.name).bind(2, row.yaml_text).bind(3, row.created_at > 0 ? row.created_at : now_unix_s());
  ins.bind(4, row.engine_commit).bind(5, row.device).bind(6, row.model_sha256);
  EFFITUNE_RETURN_IF_ERROR(ins.run());
  sql::Stmt sel(impl_->db, std::string(kExperimentColumns) + "WHERE name = ?");
  sel.bind(1, row.name);
  EFFITUNE_ASSIGN_OR_RETURN(bool found, sel.step());
  if (!found) return internal_error("experiment '" + row.name + "' vanished after insert");
  ExperimentRow stored = experiment_row(sel);
  sel.reset();
  EFFITUNE_RETURN_IF_ERROR(tx.commit());
  return stored;
}

Result<std::optional<ExperimentRow>> StudyStore::find_experiment(const std::string& name) {
  sql::Stmt sel(impl_->db, std::string(kExperimentColumns) + "WHERE name = ?");
  sel.bind(1, name);
  EFFITUNE_ASSIGN_OR_RETURN(bool found, sel.step());
  if (!found) return std::optional<ExperimentRow>();
  return std::optional<ExperimentRow>(experiment_row(sel));
}

Result<std::vector<ExperimentRow>> StudyStore::list_experiments() {
  sql::Stmt sel(impl_->db, std::string(kExperimentColumns) + "ORDER BY id");
  std::vector<ExperimentRow> out;
  while (true) {
    EFFITUNE_ASSIGN_OR_RETURN(bool row, sel.step());
    if (!row) break;
    out.push_back(experiment_row(sel));
  }
  return out;
}

}  // namespace effitune::orchestrator
