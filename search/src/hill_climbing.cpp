// Hill climbing keeps no state besides the history: every ask() replays the climb from the start
// point, looking up each visited configuration's outcome, until it meets one not yet measured. That
// makes resume-by-replay exact at the cost of a walk that is tiny next to a trial.
#include "effitune/search/hill_climbing.h"

#include "history.h"
#include "levels.h"
#include "rng.h"

namespace effitune::search {
namespace {

// Random restarts after a climb that ends on a failed configuration, before giving up.
constexpr uint64_t kMaxFailedRestarts = 10;

class HillClimbing final : public StrategyBase {
 public:
  HillClimbing(const Space& space, const HillClimbingOptions& options, uint64_t seed, Configuration start,
               std::vector<double> start_unit)
      : StrategyBase(space, seed), options_(options), start_(std::move(start)), start_unit_(std::move(start_unit)) {
    for (const auto& dim : space_.dimensions()) {
      auto it = options_.resolutions.find(dim.name);
      levels_.push_back(levels(dim, it == options_.resolutions.end() ? options_.resolution : it->second));
    }
  }

  Result<std::optional<Trial>> ask() override {
    if (options_.max_trials > 0 && history_.next_id() >= options_.max_trials) return std::optional<Trial>();
    Step step = walk();
    switch (step.kind) {
      case StepKind::kPropose: return std::optional<Trial>(history_.issue(std::move(step.config)));
      case StepKind::kWait:
        return unavailable("hill climbing needs the outcome of pending trial(s) before it can move; tell them first");
      case StepKind::kConverged: break;
    }
    converged_ = true;
    return std::optional<Trial>();
  }

  std::string_view name() const override { return "hill"; }
  bool converged() const override { return converged_; }

 private:
  enum class StepKind { kPropose, kWait, kConverged };
  struct Step {
    StepKind kind;
    Configuration config;
  };

  std::vector<Configuration> neighbours(const Configuration& center, size_t index,
                                         const std::vector<double>& unit) const {
    std::vector<Configuration> out;
    if (!space_.is_active(index, center)) return out;
    const Dimension& dim = space_.dimensions()[index];
    const Value& current = center.values.at(dim.name);
    auto with = [&](const Value& v) {
      Configuration c = center;
      c.values[dim.name] = v;
      // A new categorical choice may switch conditional children on (filled from the start point's
      // coordinates) or off.
      out.push_back(space_.complete(c, unit));
    };
    if (dim.kind == DimensionKind::kCategorical) {
      for (const auto& choice : dim.choices) {
        if (Value(choice) != current) with(choice);
      }
      return out;
    }
    Bracket b = bracket(dim, levels_[index], current);
    if (b.below) with(*b.below);
    if (b.above) with(*b.above);
    return out;
  }

  // Climbs from each start in turn: the given (or seeded random) one, then, while the climb ends on
  // a failed configuration (nothing to climb from), fresh random starts.
  Step walk() const {
    for (uint64_t restart = 0; restart <= kMaxFailedRestarts; ++restart) {
      Configuration start = start_;
      std::vector<double> unit = start_unit_;
      if (restart > 0) {
        Rng rng(seed_, kHillStart, restart);
        for (auto& u : unit) u = rng.uniform();
        start = space_.decode(unit);
      }
      OutcomeRank end;
      Step step = climb(start, unit, end);
      if (step.kind != StepKind::kConverged || end.tier > 0) return step;
    }
    return {StepKind::kConverged, {}};
  }

  Step climb(const Configuration& start, const std::vector<double>& unit, OutcomeRank& end) const {
    const std::string start_key = start.key();
    const TrialOutcome* start_outcome = history_.latest(start_key);
    if (!start_outcome) {
      return history_.pending(start_key) ? Step{StepKind::kWait, {}} : Step{StepKind::kPropose, start};
    }
    Configuration center = start;
    OutcomeRank center_rank = rank_of(*start_outcome);
    const size_t n = space_.size();
    size_t index = 0;
    size_t without_improvement = 0;
    while (without_improvement < n) {
      const std::vector<Configuration> around = neighbours(center, index, unit);
      bool waiting = false;
      for (const auto& c : around) {
        const std::string key = c.key();
        if (history_.told(key)) continue;
        if (!history_.pending(key)) return {StepKind::kPropose, c};
        waiting = true;
      }
      if (waiting) return {StepKind::kWait, {}};
      const Configuration* best = nullptr;
      OutcomeRank best_rank;
      for (const auto& c : around) {
        const OutcomeRank r = rank_of(*history_.latest(c.key()));
        if (!best || better(r, best_rank)) {
          best = &c;
          best_rank = r;
        }
      }
      const double margin = best_rank.tier == 2 && center_rank.tier == 2 ? options_.min_improvement : 0.0;
      if (best && better(best_rank, center_rank, margin)) {
        // Strict improvement each move, so the climb cannot cycle.
        center = *best;
        center_rank = best_rank;
        without_improvement = 0;
        continue;  // keep climbing along the same dimension
      }
      ++without_improvement;
      index = (index + 1) % n;
    }
    end = center_rank;
    return {StepKind::kConverged, {}};
  }

  HillClimbingOptions options_;
  Configuration start_;
  std::vector<double> start_unit_;
  std::vector<std::vector<Value>> levels_;
  bool converged_ = false;
};

}  // namespace

Result<std::unique_ptr<Strategy>> make_hill_climbing(const Space& space, const HillClimbingOptions& options,
                                                     uint64_t seed) {
  if (space.empty()) return invalid_argument("hill: the search space has no dimensions");
  if (options.resolution < 1) return invalid_argument("hill: resolution must be >= 1");
  for (const auto& [name, res] : options.resolutions) {
    auto index = space.index_of(name);
    if (!index || space.dimensions()[*index].kind == DimensionKind::kCategorical || res < 1) {
      return invalid_argument("hill: resolution." + name + " must name a numeric dimension and be >= 1");
    }
  }
  if (!(options.min_improvement >= 0)) return invalid_argument("hill: min_improvement must be >= 0");
  if (options.max_trials < 0) return invalid_argument("hill: max_trials must be >= 0");
  Rng rng(seed, kHillStart, 0);
  std::vector<double> unit(space.size());
  for (auto& u : unit) u = rng.uniform();
  Configuration start;
  if (options.start) {
    Result<Configuration> given = space.canonicalize(*options.start);
    if (!given.ok()) return given.status().with_context("hill: start point");
    start = std::move(given).value();
    for (size_t i = 0; i < space.size(); ++i) {
      auto it = start.values.find(space.dimensions()[i].name);
      if (it != start.values.end()) unit[i] = space.encode_one(i, it->second);
    }
  } else {
    start = space.decode(unit);
  }
  return std::unique_ptr<Strategy>(std::make_unique<HillClimbing>(space, options, seed, std::move(start), unit));
}

}  // namespace effitune::search
