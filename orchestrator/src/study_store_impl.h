// StudyStore's private state, shared by the study_store*.cpp files.
#pragma once

#include <sqlite3.h>

#include <optional>
#include <string>

#include "effitune/common/status.h"
#include "effitune/orchestrator/study_store.h"

namespace effitune::orchestrator {

struct StudyStore::Impl {
  sqlite3* db = nullptr;
  ~Impl() { sqlite3_close(db); }
  // The id of experiment `name`; kNotFound naming it (and what to do) when absent.
  Result<int64_t> experiment_id(const std::string& name) const;
};

inline double now_or(std::optional<double> now) { return now ? *now : StudyStore::now_unix_s(); }

}  // namespace effitune::orchestrator
