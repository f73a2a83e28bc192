// The arithmetic of EFFITUNE_CUDA_TRACE's summary (kernel_trace.h), apart from CUPTI so that it is
// tested without a GPU: per GPU and kernel name, launches and time; per GPU, busy time (the union of
// its kernels' intervals) and the idle gaps between them, short ones (a step's own launch and
// dependency latency) and long ones (the host between steps) apart; and under tensor parallelism how
// far apart the GPUs start and end each residual exchange.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace effitune::engine::cuda {

struct TracedKernel {
  uint64_t start = 0, end = 0;  // ns, one clock for every GPU
  int32_t name = 0;             // index into the names
};

// One JSON object (as text, one line each) per (GPU, kernel name), then one per GPU, then, when
// every GPU ran the same number of kernels whose name contains `exchange` (two or more GPUs), one
// with the mean spread of their k-th such kernels' starts and ends. Sorts each GPU's kernels by start.
std::vector<std::string> summarize_kernel_trace(std::map<uint32_t, std::vector<TracedKernel>>& by_device,
                                                const std::vector<std::string>& names, uint64_t short_gap_ns,
                                                const std::string& exchange = "p2p_add_kernel");

}  // namespace effitune::engine::cuda
