// Grid search: the full factorial over each dimension's levels, conditionals respected.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "effitune/search/space.h"
#include "effitune/search/strategy.h"

namespace effitune::search {

struct GridOptions {
  // Levels per numeric dimension: an integer dimension with at most this many values uses them all;
  // otherwise evenly spaced values (log-spaced for log dimensions) including lo and hi.
  int resolution = 5;
  std::map<std::string, int> resolutions;  // per-dimension overrides of `resolution`
  bool shuffle = false;  // visit in a seeded random order (when the budget may end first)
  uint64_t max_points = 1'000'000;
};

// The grid in visit order (first dimension slowest; unshuffled). kInvalidArgument naming the option
// for a resolution < 1 or an override of an unknown or categorical dimension; kResourceExhausted when
// the grid has more than max_points points (lower the resolutions or the space).
Result<std::vector<Configuration>> grid_points(const Space& space, const GridOptions& options);

// ask() proposes each grid point once (skipping points already told, e.g. on replay) and returns
// nullopt when every point is told or pending. Errors as grid_points.
Result<std::unique_ptr<Strategy>> make_grid_search(const Space& space, const GridOptions& options, uint64_t seed);

}  // namespace effitune::search
