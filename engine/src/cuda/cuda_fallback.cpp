// Builds without CUDA: the CUDA entry points exist and report that no device is usable, so that
// tests/cuda and tools link everywhere and skip at run time.
#ifndef EFFITUNE_WITH_CUDA

#include "cuda/cuda_backend_factory.h"
#include "cuda/cuda_ops.h"

namespace effitune::engine {

namespace {
Status no_cuda() { return unavailable("this build has no CUDA backend (configure with nvcc present)"); }
}  // namespace

Result<std::unique_ptr<Backend>> make_cuda_backend(std::shared_ptr<const ModelWeights>, const BackendOptions&) {
  return no_cuda();
}
Result<std::unique_ptr<Backend>> make_cuda_backend(std::shared_ptr<const ModelWeights>, const BackendOptions&,
                                                   const CudaBackendExtras&) {
  return no_cuda();
}
bool cuda_backend_available() { return false; }
int32_t cuda_device_count() { return 0; }
Result<std::vector<std::unique_ptr<Communicator>>> make_nccl_group(int32_t, int32_t) { return no_cuda(); }
Result<std::vector<std::unique_ptr<Communicator>>> make_cuda_tp_group(int32_t, int32_t) { return no_cuda(); }
Result<double> cuda_all_reduce_seconds(int32_t, int32_t, int64_t, int32_t) { return no_cuda(); }
Result<double> cuda_residual_add_seconds(int32_t, int32_t, int32_t, int32_t, bool, int32_t) { return no_cuda(); }
double cuda_measured_copy_bandwidth(int32_t) { return 0.0; }

namespace cuda_ops {
Status rmsnorm(std::span<const float>, int32_t, int32_t, std::span<const float>, float, DType, std::vector<float>&, bool) {
  return no_cuda();
}
Status swiglu(std::span<const float>, int32_t, int32_t, DType, std::vector<float>&) { return no_cuda(); }
Status rope_store(std::span<const float>, std::span<const int32_t>, int32_t, int32_t, int32_t, std::span<const double>,
                  DType, std::vector<float>&, std::vector<float>&, std::vector<float>&) {
  return no_cuda();
}
Status matmul(const TensorView&, std::span<const float>, int32_t, bool, std::vector<float>&) { return no_cuda(); }
Status gemm_stream(const TensorView&, std::span<const float>, int32_t, GemmOut, int32_t, std::vector<float>&) {
  return no_cuda();
}
Status attention(std::span<const float>, std::span<const float>, std::span<const float>, int32_t, int32_t, int32_t,
                 int32_t, int32_t, int32_t, bool, DType, std::vector<float>&, int32_t, int) {
  return no_cuda();
}
Status all_reduce(int32_t, const std::vector<std::vector<std::vector<float>>>&,
                  std::vector<std::vector<std::vector<float>>>&, ResidualAdd*) {
  return no_cuda();
}
Status lone_rank_exchange(int32_t, double, double&) { return no_cuda(); }
}  // namespace cuda_ops

}  // namespace effitune::engine

#endif  // EFFITUNE_WITH_CUDA
