// y = W x for a batch of activation rows, W of any supported weight type, used block by block in
// place (never dequantized as a whole). Quantized weights (q8_0, q4_0) meet activations quantized once
// per row to 8-bit blocks, and the block dot products run in int8 as ggml's vec_dot_q8_0_q8_0 does.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "effitune/engine/weights.h"
#include "thread_pool.h"

namespace effitune::engine::cpu {

class PackedMatrix;

// An activation block: 32 values = d * qs. The scale stays f32 (ggml rounds it to f16), which removes
// one rounding from the activation side at no cost.
// `sum` (the sum of qs) lets q4_0 use its unsigned nibbles directly: sum((n - 8) x) = sum(n x) - 8 sum(x).
struct ActBlockQ8 {
  float d;
  int32_t sum;
  int8_t qs[32];
};

// The input of a matmul: `n_tokens` rows of `cols` f32 values, and their q8 blocks when a quantized
// weight will consume them (cols % 32 == 0).
struct Activations {
  const float* x = nullptr;
  int64_t n_tokens = 0;
  int64_t cols = 0;
  const ActBlockQ8* q8 = nullptr;  // [n_tokens][cols / 32]
};

// Quantizes `n` floats (n % 32 == 0) to q8 blocks: d = max|x| / 127, q = round(x / d), sum = sum(q).
void quantize_act_q8(const float* x, int64_t n, ActBlockQ8* out);

// True when matmul() supports `t` (f32, f16, bf16, q8_0, q4_0, q4_k).
bool matmul_supports(DType t);

// y[t * ldy + r] = dot(W row r, x row t) for rows [r0, r1) of w, every token; single-threaded.
// Quantized types need a.q8. Rows of `w` have a.cols elements.
void matmul_rows(const TensorView& w, int64_t r0, int64_t r1, const Activations& a, float* y, int64_t ldy);

// One projection of a fused multi-matmul: its weights and where its output rows go. When `packed`
// is set (the same weights repacked, packed.h) its kernels are used instead of `w`'s.
struct MatmulJob {
  const TensorView* w = nullptr;
  float* y = nullptr;  // [n_tokens][ldy], columns 0..w->rows
  int64_t ldy = 0;
  const PackedMatrix* packed = nullptr;
};

// Runs every job over the same input on the pool, splitting the jobs' concatenated output rows
// evenly between threads (one parallel region for e.g. Q, K and V together). `q8_scratch` is reused
// between calls to hold the quantized activations.
void matmul(ThreadPool& pool, std::span<const MatmulJob> jobs, const float* x, int64_t n_tokens, int64_t cols,
            std::vector<ActBlockQ8>& q8_scratch);

// The SwiGLU input half in one parallel region: gate = silu(W_gate x) * (W_up x). Each thread computes
// the same rows of both projections and applies the activation to them, so no second region (and no
// serial pass over hidden_dim values per token) is needed. `up` is scratch; both are [n_tokens][ld].
// `packed_gate` / `packed_up` (both or neither) are the repacked weights, used when given.
void matmul_swiglu(ThreadPool& pool, const TensorView& w_gate, const TensorView& w_up, const float* x, int64_t n_tokens,
                   int64_t cols, float* gate, float* up, int64_t ld, std::vector<ActBlockQ8>& q8_scratch,
                   const PackedMatrix* packed_gate = nullptr, const PackedMatrix* packed_up = nullptr);

}  // namespace effitune::engine::cpu
