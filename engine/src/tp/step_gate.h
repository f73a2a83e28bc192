// A reusable all-or-nothing meeting point for the ranks of a tensor-parallel group: each rank's
// thread arrives once per step saying whether it is ready, and leaves when every rank has arrived,
// learning whether all were ready. The CUDA ranks meet here twice a step, before and after their
// launch (CudaBackendExtras::step_gate, CudaBackend::run).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>

namespace effitune::engine::tp {

class StepGate {
 public:
  explicit StepGate(int32_t ranks) : ranks_(ranks) {}
  // Blocks until all ranks have arrived for this round; true when every one arrived ready.
  bool arrive(bool ready);

 private:
  const int32_t ranks_;
  std::mutex mu_;
  std::condition_variable cv_;
  int32_t arrived_ = 0;
  bool all_ready_ = true;   // of the round in progress
  bool last_result_ = true;  // of the round that completed last
  uint64_t round_ = 0;
};

}  // namespace effitune::engine::tp
