// cuBLASLt GEMMs for 16-bit activations with the algorithm measured per shape: cuBLAS's default
// choice for decode's skinny products (16-256 rows against 4096-28672 weight rows) leaves bandwidth
// unused, most of all on tensor-parallel shards whose matrices are half as wide. The first product
// of a shape outside graph capture times the heuristic's top candidates and keeps the fastest;
// during capture an untimed shape returns false and the caller uses plain cuBLAS.
#pragma once

#include <cublasLt.h>
#include <cuda_runtime.h>

#include <map>
#include <tuple>

#include "device_types.cuh"
#include "effitune/common/status.h"

namespace effitune::engine::cuda {

// Y[t, n] (ldc) = alpha * sum_k X[t, k] (ldb) W[n, k] + beta * Y, types: A/B = ab, C/D = c.
struct LtProblem {
  int64_t n = 0, t = 0, k = 0, ldb = 0, ldc = 0;
  cudaDataType_t ab = CUDA_R_16BF, c = CUDA_R_32F;
  const void* w = nullptr;
  const void* x = nullptr;
  void* y = nullptr;
  float beta = 0.0f;
};

class LtTuner {
 public:
  LtTuner() = default;
  ~LtTuner();
  LtTuner(const LtTuner&) = delete;
  LtTuner& operator=(const LtTuner&) = delete;

  // `workspace` (not owned) is shared with the cuBLAS handle on the same stream.
  Status init(void* workspace, size_t workspace_bytes);
  // Runs the product with this shape's measured algorithm. Ok(false) when the shape has none yet
  // and the stream is capturing (nothing enqueued); the caller then runs its own GEMM.
  Result<bool> run(const LtProblem& p, cudaStream_t s);

 private:
  struct Plan {
    cublasLtMatmulDesc_t desc = nullptr;
    cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
    cublasLtMatmulAlgo_t algo{};
    bool usable = false;  // false: no candidate ran; the caller's GEMM is used for this shape
  };
  using Key = std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t, int, int, bool, int>;
  Status tune(const LtProblem& p, int align, Plan& plan, cudaStream_t s);

  cublasLtHandle_t lt_ = nullptr;
  void* workspace_ = nullptr;
  size_t workspace_bytes_ = 0;
  void* scratch_ = nullptr;  // timing output, so that tuning never touches the caller's Y
  size_t scratch_bytes_ = 0;
  std::map<Key, Plan> plans_;
};

}  // namespace effitune::engine::cuda
