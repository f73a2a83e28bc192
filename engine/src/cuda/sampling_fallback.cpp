// Builds without CUDA: the device sampler's host entry points report that no device is usable.
// Qualified definitions, as in cuda_fallback.cpp: a signature changed in sampling_ops.h and not here
// fails to compile instead of failing to link.
#ifndef EFFITUNE_WITH_CUDA

#include "cuda/sampling_ops.h"

namespace {
effitune::Status no_cuda() { return effitune::unavailable("this build has no CUDA backend (configure with nvcc present)"); }
}  // namespace

namespace ops = effitune::engine::cuda_ops;
using effitune::Result;
using effitune::Status;
using effitune::engine::RowSampling;

Status ops::sample_rows(std::span<const float>, int32_t, std::span<const RowSampling>, std::vector<int32_t>&) {
  return no_cuda();
}
Status ops::sample_one_row(std::span<const float>, std::span<const RowSampling>, std::vector<int32_t>&) {
  return no_cuda();
}
Status ops::topk_logprobs(std::span<const float>, int32_t, int32_t, std::vector<int32_t>&, std::vector<float>&) {
  return no_cuda();
}
Result<ops::SampleTiming> ops::time_sample(std::span<const float>, int32_t, const RowSampling&, int32_t) {
  return no_cuda();
}

#endif  // EFFITUNE_WITH_CUDA
