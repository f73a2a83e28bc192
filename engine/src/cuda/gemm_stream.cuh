// Weight-streaming tensor-core GEMM for decode batches of 2-128 rows: out[M, N] = x[M, K] W[N, K]^T
// where reading W once is the whole cost. Each CTA owns a slab of 128 output columns (W rows) and
// streams them, K-tile by K-tile, through a multi-stage cp.async pipeline together with the matching
// x tile; quantized tiles are dequantized to bf16 in registers (never to global memory) and
// multiplied by wgmma with the x tile read from shared memory (sm_90a builds; mma.sync m16n8k16
// elsewhere, and for 16-bit weights), f32 accumulators. When the slabs are too few to spread over the SMs, K is
// split and the partial products are summed in a fixed order by the last CTA of each slab, so that
// repeated runs are bit-identical.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "device_types.cuh"
#include "effitune/common/status.h"
#include "gemv.cuh"

namespace effitune::engine::cuda {

constexpr int kGemmStreamMinRows = 2;
constexpr int kGemmStreamMaxRows = 128;

// Split-K scratch, allocated once (MatmulContext::init) because launches run inside graph capture.
// `counters` must start zeroed; each launch leaves them zeroed again.
struct GemmStreamWorkspace {
  float* partials = nullptr;
  int64_t partial_floats = 0;
  int32_t* counters = nullptr;
  int32_t n_counters = 0;
};

// Bytes of a GemmStreamWorkspace as gemm_stream_alloc makes it.
int64_t gemm_stream_workspace_bytes();
Status gemm_stream_alloc(GemmStreamWorkspace& ws);
void gemm_stream_free(GemmStreamWorkspace& ws);

// Whether launch_gemm_stream takes this product: weights bf16 (bf16 activations), f16 (f16
// activations), Q8_0 or Q4_0 (bf16 activations, as in the quantized GEMV); MatIn::kPlain;
// kGemmStreamMinRows <= n_rows <= kGemmStreamMaxRows; output kAct, kF32 or kF32Accumulate, no argmax; cols a multiple of the K tile (64 float,
// 128 quantized); 16-byte aligned activation rows.
bool gemm_stream_supports(ActType act, const DeviceMatrix& w, const MatArgs& a);

// The product, for a shape gemm_stream_supports accepts. `splits` > 0 forces the number of K splits
// (clamped to what the workspace and K allow; tests use it); 0 chooses from the shape and SM count.
void launch_gemm_stream(const DeviceMatrix& w, const MatArgs& a, const GemmStreamWorkspace& ws, cudaStream_t s,
                        int32_t splits = 0);

}  // namespace effitune::engine::cuda
