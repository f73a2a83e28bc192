#include "history.h"

#include <algorithm>

namespace effitune::search {

Status History::record(const Space& space, const TrialOutcome& outcome) {
  Status valid = space.validate(outcome.configuration);
  if (!valid.ok()) return valid.with_context("trial " + std::to_string(outcome.trial_id));
  const std::string key = outcome.configuration.key();
  outcomes_.push_back(outcome);
  latest_[key] = outcomes_.size() - 1;
  if (outcome.status == TrialStatus::kFailed) failed_.insert(key);
  pending_.erase(outcome.trial_id);
  next_id_ = std::max(next_id_, outcome.trial_id + 1);
  return Status::ok_status();
}

Trial History::issue(Configuration config, std::optional<double> fidelity) {
  Trial trial{next_id_++, std::move(config), fidelity};
  pending_[trial.id] = trial.configuration.key();
  return trial;
}

bool History::pending(const std::string& key) const {
  return std::any_of(pending_.begin(), pending_.end(), [&](const auto& p) { return p.second == key; });
}

const TrialOutcome* History::latest(const std::string& key) const {
  auto it = latest_.find(key);
  return it == latest_.end() ? nullptr : &outcomes_[it->second];
}

}  // namespace effitune::search
