// Fused elementwise ops of the Llama block: embedding gather, RMSNorm, RoPE + KV-cache store, SwiGLU.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "device_types.cuh"

namespace effitune::engine::cuda {

// x[t, :] = dequantized emb row tokens[t] (f32 residual stream).
void launch_embed(const DeviceMatrix& emb, const int32_t* tokens, int32_t n_tokens, float* x, cudaStream_t s);

// out[r, :] = x[rows ? rows[r] : r, :] * rsqrt(mean(x^2) + eps) * w, for r < n_rows; out in `act`.
// `vectorized`: the float4 kernel that holds each row in registers (dim % 4 == 0, dim <= 8192,
// 16-byte aligned), one memory round trip instead of a dependent loop and a second read. ncu put
// the scalar kernel at 7.4 us for 64 rows of 4096 on an H100; the float4 one took 8B bf16 batch 64
// from 9,432-9,457 to 9,756-9,790 tok/s and one TP=4 rank's share from 24,083-24,380 to
// 26,822-26,900 (session 9). false: the scalar kernel (wider rows take it anyway; tests compare).
void launch_rmsnorm(ActType act, const float* x, const int32_t* rows, int32_t n_rows, int32_t dim, const float* w,
                    float eps, void* out, cudaStream_t s, bool vectorized = true);

// Paged KV storage of one layer: [blocks][block_size][kv_dim] for K and for V, in the act type.
struct KvLayer {
  void* k = nullptr;
  void* v = nullptr;
};

struct RopeStoreArgs {
  void* qkv = nullptr;          // [n_tokens][q_dim + 2 kv_dim] (q | k | v), act type; q, k rotated in place
  const int32_t* pos = nullptr;  // [n_tokens] absolute position
  const int32_t* seq = nullptr;  // [n_tokens] step index of each token
  const int32_t* block_tables = nullptr;  // [n_steps][bt_stride]
  int32_t bt_stride = 0;
  int32_t n_tokens = 0;
  int32_t n_heads = 0, n_kv_heads = 0, head_dim = 0;
  int32_t block_size = 0;
  const double* inv_freq = nullptr;  // [head_dim/2]: theta^(-2i/hd) / freq_factor[i]; angles in double as the CPU reference
  KvLayer kv;
};
// Rotates interleaved pairs (x[2i], x[2i+1]) of q and k by pos * inv_freq[i], then writes k and v
// into their cache slots (block_tables[seq][pos / block_size], pos % block_size).
void launch_rope_store(ActType act, const RopeStoreArgs& a, cudaStream_t s);

// p[0, n) = 0 (a kernel rather than cudaMemsetAsync, so that it joins the launch_pdl chain).
void launch_zero(float* p, int64_t n, cudaStream_t s);

// h[t, i] = silu(gu[t, i]) * gu[t, hidden + i]  (gate | up concatenated per row).
void launch_swiglu(ActType act, const void* gu, int32_t n_tokens, int32_t hidden, void* h, cudaStream_t s);

}  // namespace effitune::engine::cuda
