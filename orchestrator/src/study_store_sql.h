// Thin RAII wrappers over the SQLite C API for the study store. Private to the orchestrator.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "effitune/common/status.h"

namespace effitune::orchestrator::sql {

// Maps an SQLite result code to a Status: BUSY/LOCKED -> kUnavailable (another process holds the
// lock past the busy timeout), CORRUPT/NOTADB -> kDataLoss, CANTOPEN -> kUnavailable, else kInternal.
Status error(sqlite3* db, int rc, std::string_view what);

class Stmt {
 public:
  Stmt(sqlite3* db, std::string_view sql);
  ~Stmt();
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  const Status& prepared() const { return prepare_status_; }
  Stmt& bind(int index, int64_t v);
  Stmt& bind(int index, double v);
  Stmt& bind(int index, const std::string& v);
  Stmt& bind(int index, std::optional<double> v);
  Stmt& bind_null(int index);
  // SQLITE_ROW -> true, SQLITE_DONE -> false; an error otherwise.
  Result<bool> step();
  // Ends a read early, releasing its locks before a COMMIT; the statement may be stepped again.
  void reset();
  // Runs to completion, ignoring rows.
  Status run();

  int64_t int64(int col) const;
  double real(int col) const;  // NULL reads as 0
  std::optional<double> opt_real(int col) const;
  std::string text(int col) const;  // NULL reads as ""
  bool is_null(int col) const;

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
  Status prepare_status_;
  std::string sql_;
};

// Runs one or more statements without results (DDL, PRAGMA with no row needed).
Status exec(sqlite3* db, const std::string& sql);

// BEGIN IMMEDIATE on construction (a writer takes the lock up front, so two writers wait on the busy
// timeout instead of deadlocking on a read-to-write upgrade); ROLLBACK unless commit() succeeded.
class Transaction {
 public:
  explicit Transaction(sqlite3* db);
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  const Status& begun() const { return begin_status_; }
  Status commit();

 private:
  sqlite3* db_;
  Status begin_status_;
  bool open_ = false;
};

}  // namespace effitune::orchestrator::sql
