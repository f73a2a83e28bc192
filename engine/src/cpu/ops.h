// Element-wise and row ops of the Llama forward pass, single-threaded over one row (the backend
// parallelizes over rows). All math in f32 except where a comment says otherwise.
#pragma once

#include <cstdint>
#include <span>

#include "effitune/engine/weights.h"

namespace effitune::engine::cpu {

// out[i] = x[i] * w[i] / sqrt(mean(x^2) + eps). out may alias x.
void rms_norm(const float* x, const float* w, int64_t n, float eps, float* out);

// cos/sin of every rotary pair at position `pos`: cs[2i] = cos(pos * f_i), cs[2i+1] = sin(pos * f_i),
// f_i = theta^(-2i/head_dim) / freq_factors[i] (factors optional, length head_dim/2 when given).
// Angles are formed in double so that long positions keep full f32 accuracy.
void rope_table(int32_t pos, int32_t head_dim, float theta, std::span<const float> freq_factors, float* cs);

// Rotates the interleaved pairs (x[2i], x[2i+1]) of each of `n_heads` heads of `x` by the table.
void rope_apply(float* x, int32_t n_heads, int32_t head_dim, const float* cs);

// In-place softmax of x[0..n) (max-subtracted).
void softmax(float* x, int64_t n);

// out[i] = silu(gate[i]) * up[i], silu(g) = g / (1 + exp(-g)). out may alias gate or up.
void silu_mul(const float* gate, const float* up, int64_t n, float* out);

// Dequantizes embedding row `token` (caller checked the range) into out[0..emb.cols).
void embedding_row(const TensorView& emb, int32_t token, float* out);

// dot(a, b) of n floats, SIMD with f32 accumulation.
float dot_f32(const float* a, const float* b, int64_t n);

}  // namespace effitune::engine::cpu
