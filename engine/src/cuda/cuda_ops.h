// Single CUDA ops on host data, for the per-op tests against float64 references (tests/cuda/).
// Host-visible (no CUDA headers). Every function returns kUnavailable in builds without CUDA or
// without a device; `act` picks the activation type (kF32, kF16 or kBF16) the op runs in, and
// results come back as f32.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "effitune/common/status.h"
#include "effitune/engine/dtype.h"
#include "effitune/engine/weights.h"

namespace effitune::engine::cuda_ops {

// out[r, :] = x[r, :] / rms(x[r, :]) * w; `vectorized` picks launch_rmsnorm's float4 kernel.
Status rmsnorm(std::span<const float> x, int32_t rows, int32_t dim, std::span<const float> w, float eps, DType act,
               std::vector<float>& out, bool vectorized = false);

// h[t, i] = silu(gu[t, i]) * gu[t, hidden + i].
Status swiglu(std::span<const float> gu, int32_t tokens, int32_t hidden, DType act, std::vector<float>& out);

// RoPE on a [tokens][q_dim + 2 kv_dim] q|k|v buffer at `pos`, with inv_freq[i] per pair; returns the
// rotated buffer and the cache's copy of k and v ([tokens][kv_dim] each, read back from the blocks).
Status rope_store(std::span<const float> qkv, std::span<const int32_t> pos, int32_t n_heads, int32_t n_kv_heads,
                  int32_t head_dim, std::span<const double> inv_freq, DType act, std::vector<float>& qkv_out,
                  std::vector<float>& k_cache, std::vector<float>& v_cache);

// out[b, n] = sum_k W[n, k] x[b, k] for `rows` activation rows, with W uploaded as the backend would
// (f32 stays f32, f16 f16, bf16/Q8_0/Q4_0 with bf16 activations). `accumulate` adds into `out`
// (which must then hold rows x W.rows values) as the residual projections do.
Status matmul(const TensorView& w, std::span<const float> x, int32_t rows, bool accumulate, std::vector<float>& out);

// A Q8_0 or Q4_0 matrix as the cuBLAS path dequantizes it (launch_dequant_bf16): the bf16 values,
// widened to f32, row by row.
Status dequant_bf16(const TensorView& w, std::vector<float>& out);

// Whether `matmul` takes the GEMV for a `type` matrix of `cols` columns at `rows` activation rows (for
// quantized weights the GEMV multiplies int8-quantized activations, the other paths bf16 ones).
bool matmul_uses_gemv(DType type, int64_t cols, int32_t rows);

enum class GemmOut { kAct, kF32, kF32Accumulate };

// The weight-streaming GEMM alone (gemm_stream.cuh; 2-128 rows, bf16/f16/Q8_0/Q4_0 weights), W
// uploaded as `matmul` does. `splits` > 0 forces that many K splits, 0 lets the kernel choose.
// kAct returns the activation-type output widened to f32; kF32Accumulate adds onto `out` (which
// must then hold rows x W.rows values). kInvalidArgument for a shape the kernel does not take.
Status gemm_stream(const TensorView& w, std::span<const float> x, int32_t rows, GemmOut mode, int32_t splits,
                   std::vector<float>& out);

// Attention of `q` ([n_new][n_heads * head_dim], positions len - n_new .. len - 1) over one
// sequence's `len` cached positions (k, v: [len][n_kv_heads * head_dim]) stored in shuffled blocks of
// `block_size`. `decode_kernel` (n_new == 1 only) uses the split-K decode kernel with splits of
// `decode_chunk` positions (a multiple of 64; above 256 only with decode_mma = 1), else the prefill one. `k_row_in_regs` picks the decode
// kernel's scores variant (AttnArgs::k_row_in_regs; -1 as the backend chooses), `decode_mma` the
// tensor-core decode kernel (AttnArgs::decode_mma), `decode_wide` its wide variant (AttnArgs::decode_wide).
// `rope_theta` > 0 (decode): q and k[len - 1] are unrotated, and the decode kernel applies RoPE at
// position len - 1 (interleaved pairs, inv_freq theta^(-2i / head_dim)) and stores the new K/V itself,
// as the backend's fused decode step does (AttnArgs::inv_freq).
Status attention(std::span<const float> q, std::span<const float> k, std::span<const float> v, int32_t len,
                 int32_t n_new, int32_t n_heads, int32_t n_kv_heads, int32_t head_dim, int32_t block_size,
                 bool decode_kernel, DType act, std::vector<float>& out, int32_t decode_chunk = 64,
                 int k_row_in_regs = -1, int decode_mma = -1, int decode_wide = -1, double rope_theta = 0.0);

// Runs the calls in order through the tensor-parallel group of devices 0 .. ranks - 1
// (make_cuda_tp_group), one host thread per rank, each on its own stream: inputs[c][r] is rank r's
// data for call c (every rank the same length). outputs[c][r] is what rank r holds afterwards.
// With `add`, every call is the residual update of p2p_comm.h's all_reduce_add instead: inputs[c][r]
// is rank r's partial product ([add->rows][add->dim], uploaded as add->part; into the communicator's
// partial_buffer for even calls, a buffer of its own for odd ones), add->residual[c] the
// residual every rank starts from, outputs[c][r] rank r's residual afterwards, and with a norm
// weight (add->w not empty) add->normed[c][r] rank r's RMSNorm(residual) * w in add->act, as floats.
struct ResidualAdd {
  int32_t rows = 0, dim = 0;
  DType part = DType::kF32;
  std::vector<std::vector<float>> residual;
  std::vector<float> w;
  float eps = 1e-5f;
  DType act = DType::kF32;
  bool norm_from_registers = true;  // NormingCommunicator::set_norm_from_registers (its default)
  bool push = true;                 // NormingCommunicator::set_push_exchange (its default)
  bool two_shot = false;            // NormingCommunicator::set_two_shot: x = residual + the rank-order sum rounded to `part`
  std::vector<std::vector<std::vector<float>>> normed;
};
Status all_reduce(int32_t ranks, const std::vector<std::vector<std::vector<float>>>& inputs,
                  std::vector<std::vector<std::vector<float>>>& outputs, ResidualAdd* add = nullptr);

// The exchange's watchdog: in a fresh group of devices 0 and 1, rank 0 alone makes one residual
// update of `rows` rows (through the push exchange or the pull one) with the given wait, and
// rank 1 never takes part. Returns what rank 0's communicator reports afterwards (check()), and in
// `waited_s` how long the update took to come back.
Status lone_rank_exchange(int32_t rows, bool push, double timeout_s, double& waited_s);

}  // namespace effitune::engine::cuda_ops
