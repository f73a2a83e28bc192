// Matrix products for any batch: the GEMV kernels at 1 row for float weights and up to 8 rows for
// Q8_0 (4 for Q4_0), the weight-streaming GEMM (gemm_stream.cuh) for the larger quantized products
// past that up to 128 rows, cuBLAS (tensor cores for f16/bf16, plain fp32 for f32) for float weights
// from 2 rows and the other quantized products (dequantized to a bf16 scratch first). The rules are
// measured (matmul_route.h, gemm.cu).
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "device_types.cuh"
#include "effitune/common/status.h"
#include "gemm_stream.cuh"
#include "gemv.cuh"

namespace effitune::engine::cuda {

class MatmulContext {
 public:
  MatmulContext() = default;
  ~MatmulContext();
  MatmulContext(const MatmulContext&) = delete;
  MatmulContext& operator=(const MatmulContext&) = delete;

  // `dequant_elems`: the largest quantized matrix (0 when there is none); its bf16 scratch, the
  // cuBLAS workspace and the streaming GEMM's split-K workspace are allocated here.
  // kResourceExhausted when they do not fit.
  Status init(int64_t dequant_elems, cudaStream_t stream);
  // Bytes init() allocates for a given dequant scratch size.
  static int64_t bytes_needed(int64_t dequant_elems);

  // out = x W^T over a.n_rows rows (any count), as MatArgs describes. Decides GEMV vs GEMM.
  Status matmul(ActType act, const DeviceMatrix& w, const MatArgs& a, cudaStream_t s);
  // Whether matmul() takes the GEMV path (which supports the fused input modes) for this batch.
  static bool uses_gemv(const DeviceMatrix& w, int32_t n_rows);
  // EFFITUNE_GEMM_STREAM, read once: unset routes the larger quantized products past the GEMV (up
  // to 128 rows) to the streaming GEMM (where it supports the shape); "1" also float weights at 2-128
  // rows (slower than cuBLAS there today: for A/B runs); "0" keeps cuBLAS for everything above the GEMV (and quantized
  // weights on the GEMV up to 32 rows).
  static bool stream_enabled();

 private:
  Status gemm(ActType act, const DeviceMatrix& w, const MatArgs& a, cudaStream_t s);
  // 0: off, 1: quantized and float weights, 2 (unset): quantized only.
  static int stream_mode();

  cublasHandle_t handle_ = nullptr;
  void* workspace_ = nullptr;
  void* dequant_ = nullptr;
  int64_t dequant_elems_ = 0;
  GemmStreamWorkspace stream_ws_;
};

// Writes w dequantized into `out` ([rows, cols] bf16).
void launch_dequant_bf16(const DeviceMatrix& w, void* out, cudaStream_t s);

}  // namespace effitune::engine::cuda
