// The device sampler's kernels on host data, for tests/cuda/sampling_test.cpp and bench_cuda's
// sample mode. Host-visible (no CUDA headers); every function returns kUnavailable in builds without
// CUDA or without a device (sampling_fallback.cpp), and runs on the current device (0 by default).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "effitune/common/status.h"
#include "effitune/engine/sampling.h"

namespace effitune::engine::cuda_ops {

// launch_sample over `rows` rows of `logits` (rows x vocab): out[r] drawn with params[r].
Status sample_rows(std::span<const float> logits, int32_t rows, std::span<const RowSampling> params,
                   std::vector<int32_t>& out);

// One draw per params entry, all from the single row `logits` (uploaded once; launch_sample with a
// zero row stride): what goodness-of-fit tests need.
Status sample_one_row(std::span<const float> logits, std::span<const RowSampling> params, std::vector<int32_t>& out);

// launch_topk_logprobs: the k (1..128, <= vocab) largest log-softmax values of each row, descending.
Status topk_logprobs(std::span<const float> logits, int32_t rows, int32_t k, std::vector<int32_t>& ids,
                     std::vector<float>& logprobs);

// Per-step timings of the two ways to pick tokens from `rows` device-resident logits rows:
// launch_sample with `params` for every row (plus the ids' copy back), and copying the logits to
// pageable host memory (what Backend::forward does before engine::Sampler runs). Medians over `reps`.
struct SampleTiming {
  double device_sample_us = 0;
  double logits_copy_us = 0;
};
Result<SampleTiming> time_sample(std::span<const float> logits, int32_t rows, const RowSampling& params, int32_t reps);

}  // namespace effitune::engine::cuda_ops
