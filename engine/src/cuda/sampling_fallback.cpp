// Builds without CUDA: the device sampler's host entry points report that no device is usable.
#ifndef EFFITUNE_WITH_CUDA

#include "cuda/sampling_ops.h"

namespace effitune::engine::cuda_ops {
namespace {
Status no_cuda() { return unavailable("this build has no CUDA backend (configure with nvcc present)"); }
}  // namespace

Status sample_rows(std::span<const float>, int32_t, std::span<const RowSampling>, std::vector<int32_t>&) {
  return no_cuda();
}
Status sample_one_row(std::span<const float>, std::span<const RowSampling>, std::vector<int32_t>&) { return no_cuda(); }
Status topk_logprobs(std::span<const float>, int32_t, int32_t, std::vector<int32_t>&, std::vector<float>&) {
  return no_cuda();
}
Result<SampleTiming> time_sample(std::span<const float>, int32_t, const RowSampling&, int32_t) { return no_cuda(); }

}  // namespace effitune::engine::cuda_ops

#endif  // EFFITUNE_WITH_CUDA
