// The communicator of a tensor-parallel group: how N shards of one model sum their partial results.
// A backend shard calls it without knowing what carries the data: NCCL between GPUs, or shared
// memory between threads for the CPU backend (so CI can test TP=2 against TP=1 without a GPU).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "effitune/common/status.h"

namespace effitune::engine {

// Time one rank spent in collectives since timing started, as that rank measured it: for the
// in-process communicator the wall time inside its calls (waiting for the other ranks included);
// for the CUDA one the residual exchange kernels' own time on the GPU from the end of their PDL wait
// (before it the kernel before them is still running), their fused residual add and RMSNorm
// included (calls 0 where a communicator does not measure).
struct CollectiveTime {
  int64_t calls = 0;
  double seconds = 0;
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int32_t rank() const = 0;
  virtual int32_t size() const = 0;
  virtual std::string name() const = 0;  // "in-process", "nccl"
  // Replaces data[0..count) on every rank with the element-wise sum over all ranks. Every rank must
  // call it with the same count, in the same order of calls. The result is bit-identical on all
  // ranks. `data` lives where the rank's backend computes (device memory for NCCL); `stream` is that
  // backend's queue (a cudaStream_t for NCCL, which only enqueues; null for the CPU, which blocks).
  virtual Status all_reduce_sum(float* data, int64_t count, void* stream) = 0;
  // Starts measuring from zero. Off until asked, since the CUDA kernels' timer stores are on their
  // critical path; call it before the work to measure is first run (CUDA graphs keep what they were
  // captured with). Every rank of a group, while none of them is running a step.
  virtual void start_timing() {}
  // What was measured since start_timing(), read after the measured steps have finished.
  virtual CollectiveTime timing() const { return {}; }
};

// N communicators that sum through shared host memory, one per rank, each used by its own thread.
// Sums are taken in rank order, so every rank gets the same bits. Calls block until all ranks arrive.
std::vector<std::unique_ptr<Communicator>> make_in_process_group(int32_t size);

}  // namespace effitune::engine
