// Small-batch matrix-vector products for decode: each weight byte is read once per launch with
// 16-byte streaming loads, and up to kGemvMaxBatch activation rows share that read.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "device_types.cuh"

namespace effitune::engine::cuda {

constexpr int kGemvMaxBatch = 8;

enum class MatIn {
  kPlain,   // x[b, k]
  kSwiGlu,  // x is gate|up rows of width 2K: input = silu(gate[k]) * up[k]
};
enum class MatOut {
  kAct,            // out[b, n] in the activation type
  kF32,            // out[b, n] f32
  kF32Accumulate,  // out[b, n] += result (f32): the residual add
};

struct MatArgs {
  const void* x = nullptr;
  int64_t ldx = 0;  // elements between activation rows
  int32_t n_rows = 0;
  MatIn in = MatIn::kPlain;
  void* out = nullptr;
  int64_t ldo = 0;  // elements between output rows
  MatOut out_mode = MatOut::kAct;
};

// out = W x for n_rows <= kGemvMaxBatch activation rows. The activation type is implied by the
// weight kind (f32 -> f32, f16 -> f16, bf16/Q8/Q4 -> bf16).
void launch_gemv(const DeviceMatrix& w, const MatArgs& a, cudaStream_t s);

}  // namespace effitune::engine::cuda
