// Successive halving: many cheap, short probes first; longer measurements only for the survivors.
//
// Rung k runs at fidelity r_k = max_fidelity * eta^-(K-k), k = 0..K, K = floor(log_eta(max/min)),
// so the top rung is max_fidelity and each rung is eta times the one below. Rung 0 gets n_configs
// random configurations; after rung k is fully told, the best floor(n_k / eta) (at least 1) of it,
// failed and pruned trials excluded, run at rung k+1. Trial::fidelity says the level to run at.
// ask() returns kUnavailable while a rung waits for pending outcomes and nullopt after the top rung.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "effitune/search/space.h"
#include "effitune/search/strategy.h"

namespace effitune::search {

struct HalvingOptions {
  double min_fidelity = 1;   // e.g. seconds of load test or number of requests; > 0
  double max_fidelity = 27;  // >= min_fidelity
  double eta = 3;            // > 1
  int64_t n_configs = 0;     // configurations at rung 0; 0: eta^K (one survivor reaches the top)
};

// The rung fidelities, lowest first. kInvalidArgument naming the option when out of range.
Result<std::vector<double>> rung_fidelities(const HalvingOptions& options);

// kInvalidArgument for an empty space or options out of range (named in the message).
Result<std::unique_ptr<Strategy>> make_successive_halving(const Space& space, const HalvingOptions& options,
                                                          uint64_t seed);

}  // namespace effitune::search
