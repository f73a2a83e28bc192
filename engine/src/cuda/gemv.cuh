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
  kSwiGlu,  // quantized GEMV only: x is gate|up rows of width 2K, input = silu(gate[k]) * up[k]
  kRmsNorm,  // x is the f32 residual stream: input = RMSNorm(x) * norm_w (see gemv_fuses_rmsnorm)
};
enum class MatOut {
  kAct,            // out[b, n] in the activation type
  kF32,            // out[b, n] f32
  kF32Accumulate,  // out[b, n] += result (f32): the residual add
  kSwiGluAct,      // float GEMV only, W = gate|up [2H, K]: out[b, j] = silu(gate_j) * up_j, activation type
};

struct MatArgs {
  const void* x = nullptr;
  int64_t ldx = 0;  // elements between activation rows
  int32_t n_rows = 0;
  MatIn in = MatIn::kPlain;
  void* out = nullptr;
  int64_t ldo = 0;  // elements between output rows
  MatOut out_mode = MatOut::kAct;
  // kF32 output and kPlain input only (float or quantized weights): also fold each activation row's
  // largest output (lowest index on ties) into argmax[b] (zero before the first use; see
  // launch_finish_argmax).
  unsigned long long* argmax = nullptr;
  const float* norm_w = nullptr;  // MatIn::kRmsNorm: the norm's weight [K] and epsilon
  float norm_eps = 0.0f;
};

// Whether the GEMV takes MatIn::kRmsNorm for this weight and batch (16-bit float or quantized kinds,
// the normalized rows of one launch fit in shared memory); otherwise run the RMSNorm kernel first
// and pass kPlain.
bool gemv_fuses_rmsnorm(const DeviceMatrix& w, int32_t n_rows);
// Whether the fused GEMV variants (MatIn::kRmsNorm, MatOut::kSwiGluAct) are faster than the
// unfused kernels for this batch: only within one GEMV launch (measured; see gemv.cu).
bool gemv_fusion_pays(int32_t n_rows);
bool gemv_quant_fuses_rmsnorm(const DeviceMatrix& w, int32_t n_rows);

// out = W x for n_rows <= kGemvMaxBatch activation rows. The activation type is implied by the
// weight kind (f32 -> f32, f16 -> f16, bf16/Q8/Q4 -> bf16).
void launch_gemv(const DeviceMatrix& w, const MatArgs& a, cudaStream_t s);

// out[r] = the token id held in keys[r] (from a GEMV with MatArgs::argmax), then keys[r] = 0.
void launch_finish_argmax(unsigned long long* keys, int32_t rows, int32_t* out, cudaStream_t s);

// The Q8_0/Q4_0 case of launch_gemv (gemv_quant.cu): each CTA first quantizes the activation rows
// (after SwiGLU, if asked) to int8 blocks of 32 with an f32 scale in shared memory, as llama.cpp's
// q8_1 does, then streams the packed weights with 16-byte loads and multiplies with dp4a. The
// activations' own rounding (relative ~2^-8 per element) is the price of reading each weight byte
// once at a few instructions per 32 weights; the CPU backend quantizes activations the same way.
// Needs cols % 32 == 0 and 16-byte aligned activation rows (ldx % 8 == 0).
void launch_gemv_quant(const DeviceMatrix& w, const MatArgs& a, cudaStream_t s);

}  // namespace effitune::engine::cuda
