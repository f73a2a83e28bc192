#include "effitune/search/grid_search.h"

#include <algorithm>

#include "history.h"
#include "levels.h"
#include "rng.h"

namespace effitune::search {
namespace {

struct Enumerator {
  const Space& space;
  std::vector<std::vector<Value>> per_dim;
  uint64_t max_points;
  std::vector<Configuration> out;
  bool overflow = false;

  void run(size_t index, Configuration& partial) {
    if (overflow) return;
    if (index == space.size()) {
      if (out.size() >= max_points) {
        overflow = true;
        return;
      }
      out.push_back(partial);
      return;
    }
    if (!space.is_active(index, partial)) {
      run(index + 1, partial);
      return;
    }
    const std::string& name = space.dimensions()[index].name;
    for (const auto& v : per_dim[index]) {
      partial.values[name] = v;
      run(index + 1, partial);
    }
    partial.values.erase(name);
  }
};

class GridSearch final : public StrategyBase {
 public:
  GridSearch(const Space& space, std::vector<Configuration> points, uint64_t seed)
      : StrategyBase(space, seed), points_(std::move(points)) {
    keys_.reserve(points_.size());
    for (const auto& p : points_) keys_.push_back(p.key());
  }

  Result<std::optional<Trial>> ask() override {
    // Told and pending only grow, so the cursor never needs to look back.
    while (cursor_ < points_.size() && history_.seen(keys_[cursor_])) ++cursor_;
    if (cursor_ == points_.size()) return std::optional<Trial>();
    return std::optional<Trial>(history_.issue(points_[cursor_]));
  }

  std::string_view name() const override { return "grid"; }

 private:
  std::vector<Configuration> points_;
  std::vector<std::string> keys_;
  size_t cursor_ = 0;
};

}  // namespace

Result<std::vector<Configuration>> grid_points(const Space& space, const GridOptions& options) {
  if (options.resolution < 1) {
    return invalid_argument("grid: resolution must be >= 1, got " + std::to_string(options.resolution));
  }
  for (const auto& [name, res] : options.resolutions) {
    auto index = space.index_of(name);
    if (!index) return invalid_argument("grid: resolution." + name + " names no dimension of the space");
    if (space.dimensions()[*index].kind == DimensionKind::kCategorical) {
      return invalid_argument("grid: resolution." + name + " is set but '" + name +
                              "' is categorical (all its choices are used)");
    }
    if (res < 1) return invalid_argument("grid: resolution." + name + " must be >= 1, got " + std::to_string(res));
  }
  Enumerator e{space, {}, options.max_points, {}};
  for (const auto& dim : space.dimensions()) {
    auto it = options.resolutions.find(dim.name);
    e.per_dim.push_back(levels(dim, it == options.resolutions.end() ? options.resolution : it->second));
  }
  Configuration partial;
  e.run(0, partial);
  if (e.overflow) {
    return resource_exhausted("grid: more than " + std::to_string(options.max_points) +
                              " points; lower the resolution or the number of dimensions, or raise max_points");
  }
  return std::move(e.out);
}

Result<std::unique_ptr<Strategy>> make_grid_search(const Space& space, const GridOptions& options, uint64_t seed) {
  if (space.empty()) return invalid_argument("grid: the search space has no dimensions");
  EFFITUNE_ASSIGN_OR_RETURN(std::vector<Configuration> points, grid_points(space, options));
  if (options.shuffle) {
    Rng rng(seed, kGridShuffle, 0);
    for (size_t i = points.size(); i > 1; --i) std::swap(points[i - 1], points[rng.below(i)]);
  }
  return std::unique_ptr<Strategy>(std::make_unique<GridSearch>(space, std::move(points), seed));
}

}  // namespace effitune::search
