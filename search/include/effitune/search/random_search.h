// Random search: independent uniform samples (log-uniform on log dimensions), no repeats.
#pragma once

#include <cstdint>
#include <memory>

#include "effitune/search/space.h"
#include "effitune/search/strategy.h"

namespace effitune::search {

struct RandomOptions {
  int64_t max_trials = 0;  // ask() returns nullopt after this many trials; 0: no limit
};

// Trial i is drawn from (seed, i), skipping configurations already told or pending. ask() returns
// nullopt when max_trials is reached or a finite space is exhausted. kInvalidArgument for an empty
// space or max_trials < 0.
Result<std::unique_ptr<Strategy>> make_random_search(const Space& space, const RandomOptions& options,
                                                     uint64_t seed);

}  // namespace effitune::search
