// Builds without CUDA: the CUDA entry points exist and report that no device is usable, so that
// tests/cuda and tools link everywhere and skip at run time.
#ifndef EFFITUNE_WITH_CUDA

#include "cuda/cuda_backend_factory.h"
#include "cuda/cuda_ops.h"

// Qualified definitions: each must match a declaration in the headers, so a signature changed there
// and not here fails to compile (in the sanitizer and fuzz builds of CI, which have no CUDA), instead
// of adding an overload that leaves the real one undefined at link time.
namespace {
effitune::Status no_cuda() { return effitune::unavailable("this build has no CUDA backend (configure with nvcc present)"); }
}  // namespace

using effitune::Result;
using effitune::Status;
using effitune::engine::Backend;
using effitune::engine::BackendOptions;
using effitune::engine::Communicator;
using effitune::engine::CudaBackendExtras;
using effitune::engine::DType;
using effitune::engine::ModelWeights;
using effitune::engine::TensorView;

Result<std::unique_ptr<Backend>> effitune::engine::make_cuda_backend(std::shared_ptr<const ModelWeights>,
                                                                     const BackendOptions&) {
  return no_cuda();
}
Result<std::unique_ptr<Backend>> effitune::engine::make_cuda_backend(std::shared_ptr<const ModelWeights>,
                                                                     const BackendOptions&, const CudaBackendExtras&) {
  return no_cuda();
}
bool effitune::engine::cuda_backend_available() { return false; }
int32_t effitune::engine::cuda_device_count() { return 0; }
Result<std::vector<std::unique_ptr<Communicator>>> effitune::engine::make_nccl_group(int32_t, int32_t) { return no_cuda(); }
Result<std::vector<std::unique_ptr<Communicator>>> effitune::engine::make_cuda_tp_group(int32_t, int32_t) {
  return no_cuda();
}
Result<double> effitune::engine::cuda_all_reduce_seconds(int32_t, int32_t, int64_t, int32_t) { return no_cuda(); }
Result<double> effitune::engine::cuda_residual_add_seconds(int32_t, int32_t, int32_t, int32_t, bool, int32_t) {
  return no_cuda();
}
double effitune::engine::cuda_measured_copy_bandwidth(int32_t) { return 0.0; }

namespace ops = effitune::engine::cuda_ops;
Status ops::rmsnorm(std::span<const float>, int32_t, int32_t, std::span<const float>, float, DType, std::vector<float>&,
                    bool) {
  return no_cuda();
}
Status ops::swiglu(std::span<const float>, int32_t, int32_t, DType, std::vector<float>&) { return no_cuda(); }
Status ops::rope_store(std::span<const float>, std::span<const int32_t>, int32_t, int32_t, int32_t,
                       std::span<const double>, DType, std::vector<float>&, std::vector<float>&, std::vector<float>&) {
  return no_cuda();
}
Status ops::matmul(const TensorView&, std::span<const float>, int32_t, bool, std::vector<float>&) { return no_cuda(); }
bool ops::matmul_uses_gemv(DType, int64_t, int32_t) { return false; }
Status ops::dequant_bf16(const TensorView&, std::vector<float>&) { return no_cuda(); }
Status ops::gemm_stream(const TensorView&, std::span<const float>, int32_t, ops::GemmOut, int32_t, std::vector<float>&) {
  return no_cuda();
}
Status ops::attention(std::span<const float>, std::span<const float>, std::span<const float>, int32_t, int32_t, int32_t,
                      int32_t, int32_t, int32_t, bool, DType, std::vector<float>&, int32_t, int, int, int, double) {
  return no_cuda();
}
Status ops::all_reduce(int32_t, const std::vector<std::vector<std::vector<float>>>&,
                       std::vector<std::vector<std::vector<float>>>&, ops::ResidualAdd*) {
  return no_cuda();
}
Status ops::lone_rank_exchange(int32_t, bool, double, double&) { return no_cuda(); }

#endif  // EFFITUNE_WITH_CUDA
