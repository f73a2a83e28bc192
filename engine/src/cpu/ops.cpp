#include "cpu/ops.h"

#include <algorithm>
#include <cmath>

#include "cpu/simd.h"

namespace effitune::engine::cpu {

void rms_norm(const float* x, const float* w, int64_t n, float eps, float* out) {
  // The mean of squares is accumulated in double: it costs nothing at these sizes and keeps the
  // normalization exact to f32 rounding for any width.
  double ss = 0.0;
  for (int64_t i = 0; i < n; ++i) ss += static_cast<double>(x[i]) * x[i];
  const float scale = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(n) + eps));
  for (int64_t i = 0; i < n; ++i) out[i] = x[i] * scale * w[i];
}

void rope_table(int32_t pos, int32_t head_dim, float theta, std::span<const float> freq_factors, float* cs) {
  const int32_t half = head_dim / 2;
  for (int32_t i = 0; i < half; ++i) {
    double freq = std::pow(static_cast<double>(theta), -2.0 * i / head_dim);
    if (!freq_factors.empty()) freq /= static_cast<double>(freq_factors[static_cast<size_t>(i)]);
    const double angle = static_cast<double>(pos) * freq;
    cs[2 * i] = static_cast<float>(std::cos(angle));
    cs[2 * i + 1] = static_cast<float>(std::sin(angle));
  }
}

void rope_apply(float* x, int32_t n_heads, int32_t head_dim, const float* cs) {
  for (int32_t h = 0; h < n_heads; ++h) {
    float* v = x + static_cast<int64_t>(h) * head_dim;
    for (int32_t i = 0; i < head_dim / 2; ++i) {
      const float c = cs[2 * i], s = cs[2 * i + 1];
      const float a = v[2 * i], b = v[2 * i + 1];
      v[2 * i] = a * c - b * s;
      v[2 * i + 1] = a * s + b * c;
    }
  }
}

void softmax(float* x, int64_t n) {
  if (n <= 0) return;
  const float mx = *std::max_element(x, x + n);
  // A f32 running sum over thousands of positions loses ~sqrt(n) ulps; double keeps it exact.
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - mx);
    sum += x[i];
  }
  const float inv = static_cast<float>(1.0 / sum);
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

void silu_mul(const float* gate, const float* up, int64_t n, float* out) {
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    out[i] = g / (1.0f + std::exp(-g)) * up[i];
  }
}

void embedding_row(const TensorView& emb, int32_t token, float* out) {
  dequantize_row(emb.type, emb.row(token), out, emb.cols);
}

float dot_f32(const float* a, const float* b, int64_t n) {
  int64_t i = 0;
  float s = 0.0f;
#if EFFITUNE_SIMD_VF
  VF acc = vf_zero();
  for (; i + kVW <= n; i += kVW) acc = vf_fma(vf_load_f32(a + i), vf_load_f32(b + i), acc);
  s = vf_hsum(acc);
#endif
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

}  // namespace effitune::engine::cpu
