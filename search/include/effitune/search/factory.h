// make_strategy: builds a strategy by name from loosely typed parameters (an experiment file's
// `strategy:` section).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "effitune/search/configuration.h"
#include "effitune/search/space.h"
#include "effitune/search/strategy.h"

namespace effitune::search {

using StrategyParams = std::map<std::string, Value>;

// The names make_strategy accepts: grid, random, hill, halving, tpe.
std::vector<std::string> strategy_names();

// Parameters (integers are accepted where reals are expected):
//   grid:    resolution, resolution.<dim>, shuffle (0/1 or true/false), max_points
//   random:  max_trials
//   hill:    resolution, resolution.<dim>, min_improvement, max_trials, start.<dim> (all active dims, or none)
//   halving: min_fidelity, max_fidelity, eta, n_configs
//   tpe:     n_startup_trials, n_ei_candidates, gamma_fraction, gamma_max, prior_weight,
//            consider_magic_clip, consider_endpoints, max_trials
// kInvalidArgument for an unknown name (listing the known ones), an unknown parameter (listing the
// strategy's parameters), a parameter of the wrong type, or whatever the strategy rejects.
Result<std::unique_ptr<Strategy>> make_strategy(std::string_view name, const StrategyParams& params,
                                                const Space& space, uint64_t seed);

}  // namespace effitune::search
