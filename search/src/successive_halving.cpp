#include "effitune/search/successive_halving.h"

#include <algorithm>
#include <cmath>

#include "history.h"
#include "rng.h"

namespace effitune::search {
namespace {

// Draws for an untried rung-0 configuration before concluding that a small space is exhausted.
constexpr int kMaxAttempts = 200;

class SuccessiveHalving final : public StrategyBase {
 public:
  SuccessiveHalving(const Space& space, std::vector<double> rungs, double eta, int64_t n_configs, uint64_t seed)
      : StrategyBase(space, seed), rungs_(std::move(rungs)), eta_(eta), n_configs_(n_configs),
        told_(rungs_.size()), pending_(rungs_.size()) {}

  Result<std::optional<Trial>> ask() override {
    // Rung 0: fill it with fresh random configurations.
    const auto filled0 = static_cast<int64_t>(told_[0].size() + pending_[0].size());
    if (filled0 < n_configs_ && !exhausted_) {
      if (auto c = sample_new(filled0)) return std::optional<Trial>(issue(0, std::move(*c)));
      exhausted_ = true;  // a small space ran out of untried points: rung 0 is what we have
    }
    size_t target = told_[0].size() + pending_[0].size();
    for (size_t k = 0; k < rungs_.size(); ++k) {
      if (told_[k].size() < target) return wait(k);
      if (k + 1 == rungs_.size()) break;
      const std::vector<std::string> survivors = top(k);
      for (const auto& key : survivors) {
        if (!told_[k + 1].count(key) && !pending_[k + 1].count(key)) {
          return std::optional<Trial>(issue(k + 1, told_[k].at(key).configuration));
        }
      }
      target = survivors.size();
    }
    return std::optional<Trial>();
  }

  std::string_view name() const override { return "halving"; }

 protected:
  void on_tell(const TrialOutcome& outcome) override {
    const auto k = rung_of(outcome.fidelity);
    if (!k) return;  // measured at a fidelity outside the ladder: kept in the history only
    const std::string key = outcome.configuration.key();
    pending_[*k].erase(key);
    told_[*k].insert_or_assign(key, outcome);
  }

 private:
  std::optional<size_t> rung_of(std::optional<double> fidelity) const {
    if (!fidelity) return rungs_.size() - 1;  // full fidelity
    for (size_t k = 0; k < rungs_.size(); ++k) {
      if (std::abs(*fidelity - rungs_[k]) <= 1e-9 * rungs_[k]) return k;
    }
    return std::nullopt;
  }

  Trial issue(size_t k, Configuration config) {
    pending_[k].insert(config.key());
    return history_.issue(std::move(config), rungs_[k]);
  }

  Result<std::optional<Trial>> wait(size_t k) const {
    return unavailable("successive halving waits for the outcomes of rung " + std::to_string(k) +
                       " (fidelity " + value_to_string(rungs_[k]) + ") before promoting; tell them first");
  }

  std::optional<Configuration> sample_new(int64_t index) const {
    Rng rng(seed_, kHalvingSample, static_cast<uint64_t>(index));
    std::vector<double> unit(space_.size());
    for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
      for (auto& u : unit) u = rng.uniform();
      Configuration c = space_.decode(unit);
      const std::string key = c.key();
      if (!told_[0].count(key) && !pending_[0].count(key)) return c;
    }
    return std::nullopt;
  }

  // The keys promoted from rung k: its best floor(n_k / eta) (at least one), failed and pruned
  // trials never, ties broken by trial id so that replays agree.
  std::vector<std::string> top(size_t k) const {
    std::vector<const TrialOutcome*> ranked;
    for (const auto& [key, outcome] : told_[k]) {
      if (rank_of(outcome).tier > 0) ranked.push_back(&outcome);
    }
    std::sort(ranked.begin(), ranked.end(), [](const TrialOutcome* a, const TrialOutcome* b) {
      const OutcomeRank ra = rank_of(*a), rb = rank_of(*b);
      if (better(ra, rb)) return true;
      if (better(rb, ra)) return false;
      return a->trial_id < b->trial_id;
    });
    const auto keep = std::max<size_t>(1, static_cast<size_t>(std::floor(told_[k].size() / eta_ + 1e-9)));
    std::vector<std::string> out;
    for (size_t i = 0; i < ranked.size() && i < keep; ++i) out.push_back(ranked[i]->configuration.key());
    return out;
  }

  std::vector<double> rungs_;
  double eta_;
  int64_t n_configs_;
  std::vector<std::map<std::string, TrialOutcome>> told_;  // per rung: key -> latest outcome
  std::vector<std::set<std::string>> pending_;             // per rung: keys asked, not told
  bool exhausted_ = false;
};

}  // namespace

Result<std::vector<double>> rung_fidelities(const HalvingOptions& options) {
  if (!(options.min_fidelity > 0)) return invalid_argument("halving: min_fidelity must be > 0");
  if (!(options.max_fidelity >= options.min_fidelity) || !std::isfinite(options.max_fidelity)) {
    return invalid_argument("halving: max_fidelity must be finite and >= min_fidelity");
  }
  if (!(options.eta > 1) || !std::isfinite(options.eta)) return invalid_argument("halving: eta must be > 1");
  const auto top = static_cast<int>(
      std::floor(std::log(options.max_fidelity / options.min_fidelity) / std::log(options.eta) + 1e-9));
  if (top > 30) return invalid_argument("halving: more than 30 rungs; raise eta or min_fidelity");
  std::vector<double> rungs;
  for (int k = 0; k <= top; ++k) rungs.push_back(options.max_fidelity * std::pow(options.eta, k - top));
  return rungs;
}

Result<std::unique_ptr<Strategy>> make_successive_halving(const Space& space, const HalvingOptions& options,
                                                          uint64_t seed) {
  if (space.empty()) return invalid_argument("halving: the search space has no dimensions");
  EFFITUNE_ASSIGN_OR_RETURN(std::vector<double> rungs, rung_fidelities(options));
  if (options.n_configs < 0) return invalid_argument("halving: n_configs must be >= 0");
  int64_t n = options.n_configs;
  if (n == 0) n = std::llround(std::pow(options.eta, static_cast<double>(rungs.size() - 1)));
  if (n > 1'000'000) return invalid_argument("halving: n_configs above 1000000; lower it or the number of rungs");
  return std::unique_ptr<Strategy>(std::make_unique<SuccessiveHalving>(space, std::move(rungs), options.eta, n, seed));
}

}  // namespace effitune::search
