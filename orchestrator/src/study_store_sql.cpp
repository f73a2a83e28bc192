#include "study_store_sql.h"

namespace effitune::orchestrator::sql {

Status error(sqlite3* db, int rc, std::string_view what) {
  std::string msg = std::string(what) + ": " + sqlite3_errstr(rc);
  if (db) {
    const char* detail = sqlite3_errmsg(db);
    if (detail && std::string_view(detail) != sqlite3_errstr(rc)) msg += std::string(" (") + detail + ")";
  }
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return unavailable(msg + "; another process holds the study; retry when it finishes");
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return data_loss(msg);
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
    case SQLITE_READONLY:
      return unavailable(msg);
    case SQLITE_FULL:
      return resource_exhausted(msg);
    default:
      return internal_error(msg);
  }
}

Stmt::Stmt(sqlite3* db, std::string_view sql) : db_(db), sql_(sql) {
  int rc = sqlite3_prepare_v2(db_, sql_.c_str(), static_cast<int>(sql_.size()), &stmt_, nullptr);
  if (rc != SQLITE_OK) prepare_status_ = error(db_, rc, "preparing `" + sql_ + "`");
}

Stmt::~Stmt() { sqlite3_finalize(stmt_); }

Stmt& Stmt::bind(int index, int64_t v) {
  if (stmt_) sqlite3_bind_int64(stmt_, index, v);
  return *this;
}
Stmt& Stmt::bind(int index, double v) {
  if (stmt_) sqlite3_bind_double(stmt_, index, v);
  return *this;
}
Stmt& Stmt::bind(int index, const std::string& v) {
  if (stmt_) sqlite3_bind_text(stmt_, index, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  return *this;
}
Stmt& Stmt::bind(int index, std::optional<double> v) { return v ? bind(index, *v) : bind_null(index); }
Stmt& Stmt::bind_null(int index) {
  if (stmt_) sqlite3_bind_null(stmt_, index);
  return *this;
}

Result<bool> Stmt::step() {
  if (!prepare_status_.ok()) return prepare_status_;
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return error(db_, rc, "running `" + sql_ + "`");
}

void Stmt::reset() {
  if (stmt_) sqlite3_reset(stmt_);
}

Status Stmt::run() {
  while (true) {
    EFFITUNE_ASSIGN_OR_RETURN(bool row, step());
    if (!row) return Status::ok_status();
  }
}

int64_t Stmt::int64(int col) const { return sqlite3_column_int64(stmt_, col); }
double Stmt::real(int col) const { return sqlite3_column_double(stmt_, col); }
std::optional<double> Stmt::opt_real(int col) const {
  if (is_null(col)) return std::nullopt;
  return real(col);
}
std::string Stmt::text(int col) const {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
  if (!p) return "";
  return std::string(p, static_cast<size_t>(sqlite3_column_bytes(stmt_, col)));
}
bool Stmt::is_null(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }

Status exec(sqlite3* db, const std::string& sql) {
  char* err = nullptr;
  int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
  if (rc == SQLITE_OK) return Status::ok_status();
  std::string what = err ? err : "";
  sqlite3_free(err);
  return error(db, rc, "running `" + sql.substr(0, 80) + "`" + (what.empty() ? "" : " (" + what + ")"));
}

Transaction::Transaction(sqlite3* db) : db_(db) {
  begin_status_ = exec(db_, "BEGIN IMMEDIATE");
  open_ = begin_status_.ok();
}

Transaction::~Transaction() {
  if (open_) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
}

Status Transaction::commit() {
  if (!open_) return begin_status_.ok() ? failed_precondition("transaction already finished") : begin_status_;
  Status s = exec(db_, "COMMIT");
  if (s.ok()) open_ = false;
  return s;
}

}  // namespace effitune::orchestrator::sql
