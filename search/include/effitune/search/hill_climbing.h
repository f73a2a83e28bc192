// Coordinate-ascent hill climbing on each dimension's levels.
//
// From the start point it tries the neighbours along one dimension at a time (the adjacent levels of
// a numeric dimension, every other choice of a categorical), moves to the best neighbour when it beats
// the current point by more than min_improvement and keeps going along that dimension, else moves on
// to the next dimension. When no dimension improves, it is at a local optimum: ask() returns nullopt
// and converged() is true. A failed neighbour ranks below everything and is never revisited; a
// climb that ends on a failed point (its start failed, and so did every neighbour) restarts from a
// fresh random point, up to 10 times.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <memory>
#include <optional>

#include "effitune/search/configuration.h"
#include "effitune/search/space.h"
#include "effitune/search/strategy.h"

namespace effitune::search {

struct HillClimbingOptions {
  std::optional<Configuration> start;  // nullopt: a random point drawn from the seed
  int resolution = 11;                 // levels per numeric dimension, as in GridOptions
  std::map<std::string, int> resolutions;  // per-dimension overrides of `resolution`
  double min_improvement = 0;          // in objective units; use the measurement noise here
  int64_t max_trials = 0;              // stop (not converged) after this many trials; 0: no limit
};

// kInvalidArgument for an empty space, a resolution < 1 or an override naming no numeric dimension, min_improvement < 0 or a start point that does
// not validate against the space (the message names the dimension).
Result<std::unique_ptr<Strategy>> make_hill_climbing(const Space& space, const HillClimbingOptions& options,
                                                     uint64_t seed);

}  // namespace effitune::search
