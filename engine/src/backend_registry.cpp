// The backend registry: the one place that knows which backends exist in this build.
#include <string>

#include "cpu/cpu_backend.h"
#include "cuda/cuda_backend_factory.h"
#include "effitune/engine/backend.h"
#include "tp/tp_backend.h"

namespace effitune::engine {

Result<std::unique_ptr<Backend>> make_backend(std::shared_ptr<const ModelWeights> weights,
                                              const BackendOptions& options) {
  if (!weights) return invalid_argument("make_backend: no model weights");
  if (options.gpu_count < 1)
    return invalid_argument("gpu_count must be >= 1, got " + std::to_string(options.gpu_count));
  if (options.kind == "cpu") {
    if (options.gpu_count > 1) return tp::make_tensor_parallel_backend(std::move(weights), options);
    EFFITUNE_ASSIGN_OR_RETURN(auto cpu, cpu::CpuBackend::create(std::move(weights), options));
    return std::unique_ptr<Backend>(std::move(cpu));
  }
  if (options.kind == "cuda") {
#if defined(EFFITUNE_WITH_CUDA)
    return make_cuda_backend(std::move(weights), options);
#else
    return unavailable("this build has no CUDA backend (rebuild with nvcc and -DEFFITUNE_CUDA=ON, or use backend 'cpu')");
#endif
  }
  return invalid_argument("unknown backend kind '" + options.kind + "' (expected 'cpu' or 'cuda')");
}

bool backend_available(const std::string& kind) {
  if (kind == "cpu") return true;
#if defined(EFFITUNE_WITH_CUDA)
  if (kind == "cuda") return cuda_backend_available();
#endif
  return false;
}

}  // namespace effitune::engine
