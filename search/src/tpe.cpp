#include "effitune/search/tpe.h"

#include <algorithm>
#include <cmath>

#include "history.h"
#include "parzen_estimator.h"
#include "rng.h"

namespace effitune::search {
namespace {

// Random draws tried for an untold configuration before giving up on novelty.
constexpr int kMaxAttempts = 100;

class Tpe final : public StrategyBase {
 public:
  Tpe(const Space& space, const TpeOptions& options, uint64_t seed) : StrategyBase(space, seed), options_(options) {}

  Result<std::optional<Trial>> ask() override {
    const int64_t id = history_.next_id();
    if (options_.max_trials > 0 && id >= options_.max_trials) return std::optional<Trial>();
    const auto& outcomes = history_.outcomes();
    if (static_cast<int64_t>(outcomes.size()) >= options_.n_startup_trials && !outcomes.empty()) {
      if (auto c = propose(id)) return std::optional<Trial>(history_.issue(std::move(*c)));
    }
    Rng rng(seed_, kTpeFallback, static_cast<uint64_t>(id));
    std::vector<double> unit(space_.size());
    std::optional<Configuration> repeat;
    for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
      for (auto& u : unit) u = rng.uniform();
      Configuration c = space_.decode(unit);
      if (!history_.seen(c.key())) return std::optional<Trial>(history_.issue(std::move(c)));
      if (!repeat && !history_.failed(c.key())) repeat = std::move(c);
    }
    // Every draw was already tried: the space is (nearly) exhausted. Repeat a non-failed point
    // (measurements are noisy, a repeat is not wasted) or finish.
    if (!repeat) return std::optional<Trial>();
    return std::optional<Trial>(history_.issue(std::move(*repeat)));
  }

  std::string_view name() const override { return "tpe"; }

 private:
  struct Split {
    std::vector<const TrialOutcome*> below, above;  // each in trial order
  };

  Split split() const {
    const auto& outcomes = history_.outcomes();
    std::vector<const TrialOutcome*> ranked;
    for (const auto& o : outcomes) ranked.push_back(&o);
    std::stable_sort(ranked.begin(), ranked.end(), [](const TrialOutcome* a, const TrialOutcome* b) {
      const OutcomeRank ra = rank_of(*a), rb = rank_of(*b);
      if (better(ra, rb)) return true;
      if (better(rb, ra)) return false;
      return a->trial_id < b->trial_id;
    });
    const auto n_below = static_cast<size_t>(std::min<double>(
        std::ceil(options_.gamma_fraction * static_cast<double>(ranked.size())), static_cast<double>(options_.gamma_max)));
    Split s;
    s.below.assign(ranked.begin(), ranked.begin() + static_cast<std::ptrdiff_t>(std::min(n_below, ranked.size())));
    s.above.assign(ranked.begin() + static_cast<std::ptrdiff_t>(s.below.size()), ranked.end());
    auto by_id = [](const TrialOutcome* a, const TrialOutcome* b) { return a->trial_id < b->trial_id; };
    std::stable_sort(s.below.begin(), s.below.end(), by_id);
    std::stable_sort(s.above.begin(), s.above.end(), by_id);
    return s;
  }

  ParzenEstimator estimator(size_t index, const std::vector<const TrialOutcome*>& group) const {
    const Dimension& dim = space_.dimensions()[index];
    std::vector<double> obs;
    for (const auto* o : group) {
      auto it = o->configuration.values.find(dim.name);
      if (it != o->configuration.values.end()) obs.push_back(space_.encode_one(index, it->second));
    }
    if (dim.kind == DimensionKind::kCategorical) {
      const size_t n = dim.choices.size();
      std::vector<size_t> idx;
      for (double u : obs) idx.push_back(std::min(static_cast<size_t>(u * static_cast<double>(n)), n - 1));
      return ParzenEstimator::categorical(idx, n, options_);
    }
    if (dim.kind == DimensionKind::kInteger && !dim.log) {
      // Cell centres of the unit encoding: a discrete estimator, as Optuna's for stepped integers.
      const double k = static_cast<double>(*dim.count());
      return ParzenEstimator::numeric(obs, 0.5 / k, 1.0 - 0.5 / k, 1.0 / k, options_);
    }
    return ParzenEstimator::numeric(obs, 0.0, 1.0, 0.0, options_);
  }

  // Unit coordinate of a categorical choice index drawn by an estimator.
  double to_unit(size_t index, double x) const {
    const Dimension& dim = space_.dimensions()[index];
    if (dim.kind != DimensionKind::kCategorical) return x;
    return (x + 0.5) / static_cast<double>(dim.choices.size());
  }

  std::optional<Configuration> propose(int64_t id) const {
    const Split s = split();
    std::vector<ParzenEstimator> below, above;
    for (size_t i = 0; i < space_.size(); ++i) {
      below.push_back(estimator(i, s.below));
      above.push_back(estimator(i, s.above));
    }
    Rng rng(seed_, kTpeSample, static_cast<uint64_t>(id));
    const auto n_cand = static_cast<size_t>(options_.n_ei_candidates);
    // Univariate TPE: per dimension, the candidate from l with the best log l - log g.
    Configuration best;
    for (size_t i = 0; i < space_.size(); ++i) {
      if (!space_.is_active(i, best)) continue;
      double chosen = 0, chosen_score = -INFINITY;
      for (size_t c = 0; c < n_cand; ++c) {
        const double x = below[i].sample(rng);
        const double score = below[i].log_pdf(x) - above[i].log_pdf(x);
        if (c == 0 || score > chosen_score) {
          chosen = x;
          chosen_score = score;
        }
      }
      best.values[space_.dimensions()[i].name] = space_.decode_one(i, to_unit(i, chosen));
    }
    if (!history_.seen(best.key())) return best;
    // Already tried: the best untried joint candidate by summed score.
    std::vector<std::pair<double, Configuration>> joint;
    for (size_t c = 0; c < n_cand; ++c) {
      Configuration cand;
      double score = 0;
      for (size_t i = 0; i < space_.size(); ++i) {
        if (!space_.is_active(i, cand)) continue;
        const double x = below[i].sample(rng);
        score += below[i].log_pdf(x) - above[i].log_pdf(x);
        cand.values[space_.dimensions()[i].name] = space_.decode_one(i, to_unit(i, x));
      }
      if (!history_.seen(cand.key())) joint.emplace_back(score, std::move(cand));
    }
    if (joint.empty()) return std::nullopt;
    auto top = std::max_element(joint.begin(), joint.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    return top->second;
  }

  TpeOptions options_;
};

}  // namespace

Result<std::unique_ptr<Strategy>> make_tpe(const Space& space, const TpeOptions& options, uint64_t seed) {
  if (space.empty()) return invalid_argument("tpe: the search space has no dimensions");
  if (options.n_startup_trials < 0) return invalid_argument("tpe: n_startup_trials must be >= 0");
  if (options.n_ei_candidates < 1) return invalid_argument("tpe: n_ei_candidates must be >= 1");
  if (!(options.gamma_fraction > 0 && options.gamma_fraction <= 1)) {
    return invalid_argument("tpe: gamma_fraction must be in (0, 1]");
  }
  if (options.gamma_max < 1) return invalid_argument("tpe: gamma_max must be >= 1");
  if (!(options.prior_weight > 0) || !std::isfinite(options.prior_weight)) {
    return invalid_argument("tpe: prior_weight must be > 0");
  }
  if (options.max_trials < 0) return invalid_argument("tpe: max_trials must be >= 0");
  return std::unique_ptr<Strategy>(std::make_unique<Tpe>(space, options, seed));
}

}  // namespace effitune::search
