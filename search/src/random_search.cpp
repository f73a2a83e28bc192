#include "effitune/search/random_search.h"

#include <climits>

#include "effitune/search/grid_search.h"
#include "history.h"
#include "rng.h"

namespace effitune::search {
namespace {

// Draws before falling back to enumerating a finite space for an untried point.
constexpr int kMaxAttempts = 1000;
// Finite spaces up to this size are enumerated when random draws keep hitting tried points.
constexpr uint64_t kMaxEnumerated = 1'000'000;

class RandomSearch final : public StrategyBase {
 public:
  RandomSearch(const Space& space, const RandomOptions& options, uint64_t seed)
      : StrategyBase(space, seed), options_(options), cardinality_(space.cardinality()) {}

  Result<std::optional<Trial>> ask() override {
    const int64_t id = history_.next_id();
    if (options_.max_trials > 0 && id >= options_.max_trials) return std::optional<Trial>();
    Rng rng(seed_, kRandomSample, static_cast<uint64_t>(id));
    std::vector<double> unit(space_.size());
    std::optional<Configuration> fallback;  // a repeat, but never of a failed configuration
    for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
      for (auto& u : unit) u = rng.uniform();
      Configuration c = space_.decode(unit);
      const std::string key = c.key();
      if (!history_.seen(key)) return std::optional<Trial>(history_.issue(std::move(c)));
      if (!fallback && !history_.failed(key) && !history_.pending(key)) fallback = std::move(c);
      if (cardinality_ && attempt + 1 >= static_cast<int>(std::min<uint64_t>(*cardinality_ * 4, kMaxAttempts))) break;
    }
    if (cardinality_ && *cardinality_ <= kMaxEnumerated) {
      // Nearly exhausted small space: take the first untried point, or finish.
      if (all_points_.empty()) all_points_ = grid_points(space_, {INT_MAX, {}, false, kMaxEnumerated}).value();
      for (auto& p : all_points_) {
        if (!history_.seen(p.key())) return std::optional<Trial>(history_.issue(p));
      }
      return std::optional<Trial>();
    }
    if (!fallback) return std::optional<Trial>();
    return std::optional<Trial>(history_.issue(std::move(*fallback)));
  }

  std::string_view name() const override { return "random"; }

 private:
  RandomOptions options_;
  std::optional<uint64_t> cardinality_;
  std::vector<Configuration> all_points_;
};

}  // namespace

Result<std::unique_ptr<Strategy>> make_random_search(const Space& space, const RandomOptions& options,
                                                     uint64_t seed) {
  if (space.empty()) return invalid_argument("random: the search space has no dimensions");
  if (options.max_trials < 0) return invalid_argument("random: max_trials must be >= 0");
  return std::unique_ptr<Strategy>(std::make_unique<RandomSearch>(space, options, seed));
}

}  // namespace effitune::search
