// Skinny 16-bit GEMM for decode batches of 1-64 rows: out[M, N] = x[M, K] W[N, K]^T where streaming W
// once is the whole cost and cuBLAS, at the narrow widths of tensor-parallel shards, keeps too few
// CTAs busy (0.9-1.8 TB/s; bench/README.md, session 5; no cuBLASLt configuration does better).
//
// Each warp owns 16 W rows of one K chunk. Its lanes load their W bytes straight from global memory
// into mma.sync A-fragment registers, 8 k32 steps ahead, and the activations of the chunk sit in
// shared memory for the whole CTA (one copy, one barrier, none inside the main loop). K is split into
// chunks so that every SM holds a few warps' worth of loads in flight; the chunks' partial sums are
// added in split order by a second kernel, so repeated runs give the same bits.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "device_types.cuh"
#include "effitune/common/status.h"
#include "gemv.cuh"

namespace effitune::engine::cuda {

constexpr int kGemmSkinnyMaxRows = 64;

// Whether launch_gemm_skinny takes this product: bf16 weights with bf16 activations or f16 with f16,
// MatIn::kPlain, 1 <= n_rows <= 64, output kAct, kF32 or kF32Accumulate without argmax, N a multiple
// of 64, K a multiple of 256 (at most 16 chunks of what fits in shared memory), 16-byte aligned rows.
// Whether it is faster than cuBLAS for the shape is the caller's decision.
bool gemm_skinny_supports(ActType act, const DeviceMatrix& w, const MatArgs& a);

// Floats of split-K partial sums the launch uses for this product (0 when it runs unsplit).
int64_t gemm_skinny_partial_floats(const DeviceMatrix& w, const MatArgs& a, int32_t splits = 0);

// The product. `partials` holds gemm_skinny_partial_floats floats. `splits` > 0 forces the number of
// K chunks (tests, bench); 0 chooses from the shape and the SM count.
void launch_gemm_skinny(const DeviceMatrix& w, const MatArgs& a, float* partials, cudaStream_t s, int32_t splits = 0);

}  // namespace effitune::engine::cuda
