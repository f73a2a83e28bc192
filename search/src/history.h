// History: what a strategy has proposed and been told, shared by every strategy. All strategy state
// derives from it, which is what makes resume-by-replay exact.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "effitune/search/space.h"
#include "effitune/search/strategy.h"

namespace effitune::search {

class History {
 public:
  // Validates the outcome's configuration against `space`; kInvalidArgument (with the trial id)
  // leaves the history unchanged.
  Status record(const Space& space, const TrialOutcome& outcome);
  // A new trial with the next id, marked pending until its outcome is recorded.
  Trial issue(Configuration config, std::optional<double> fidelity = std::nullopt);

  int64_t next_id() const { return next_id_; }
  const std::vector<TrialOutcome>& outcomes() const { return outcomes_; }
  bool told(const std::string& key) const { return latest_.count(key) != 0; }
  bool failed(const std::string& key) const { return failed_.count(key) != 0; }
  bool pending(const std::string& key) const;
  bool seen(const std::string& key) const { return told(key) || pending(key); }
  size_t pending_count() const { return pending_.size(); }
  // The latest outcome told for `key`, or nullptr.
  const TrialOutcome* latest(const std::string& key) const;

 private:
  int64_t next_id_ = 0;
  std::vector<TrialOutcome> outcomes_;
  std::map<std::string, size_t> latest_;  // key -> index in outcomes_
  std::set<std::string> failed_;
  std::map<int64_t, std::string> pending_;  // trial id -> key
};

// The plumbing every strategy shares: a copy of the space, the seed and the history.
class StrategyBase : public Strategy {
 public:
  StrategyBase(Space space, uint64_t seed) : space_(std::move(space)), seed_(seed) {}

  Status tell(const TrialOutcome& outcome) override {
    EFFITUNE_RETURN_IF_ERROR(history_.record(space_, outcome));
    on_tell(history_.outcomes().back());
    return Status::ok_status();
  }

 protected:
  // Hook for strategies that keep derived state; called after the outcome is recorded.
  virtual void on_tell(const TrialOutcome&) {}

  Space space_;
  uint64_t seed_;
  History history_;
};

}  // namespace effitune::search
