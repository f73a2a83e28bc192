// Per-op accuracy of the CPU kernels against float64 computed here from the definitions.
// NMSE(a, ref) = sum((a - ref)^2) / sum(ref^2).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "../../engine/src/cpu/attention.h"
#include "../../engine/src/cpu/matmul.h"
#include "../../engine/src/cpu/ops.h"
#include "effitune/engine/dtype.h"
#include "support/numerics.h"
#include "support/reference_f64.h"

namespace effitune::engine::cpu {
namespace {

using testing::nmse;
using testing::random_normal;

struct MatmulCase {
  DType type;
  // Error budget, from the analysis in the comment of the test below.
  double max_nmse;
};

class MatmulTest : public ::testing::TestWithParam<MatmulCase> {};

// W is quantized to the type once; the reference is the exact f64 product of the *dequantized* W
// with the exact f32 activations, so the error measured is the kernel's own:
// - f32/f16/bf16: only f32 accumulation rounding, relative ~sqrt(cols) * 2^-24 per dot -> NMSE ~1e-13.
//   Bound 1e-10.
// - q8_0/q4_0/q4_k: plus the 8-bit activation quantization. Per element the rounding error is uniform
//   with variance d^2/12, d = max|x_block|/127 ~ 2.2 sigma/127 for Gaussian x, i.e. a relative
//   variance ~2.5e-5, which carries over to the dot products (independent errors) -> NMSE ~2.5e-5.
//   Bound 1e-4.
TEST_P(MatmulTest, MatchesFloat64ProductOfDequantizedWeights) {
  const MatmulCase c = GetParam();
  const int64_t cols = 512;                  // 16 q8 blocks, 2 q4_K super-blocks
  const int64_t rows_a = 67, rows_b = 13;    // not multiples of the 4-row tile
  ThreadPool pool(2);
  for (int64_t n_tokens : {1, 3, 9}) {       // 1-token decode, the token remainder, and 4-token tiles
    std::vector<float> x = random_normal(static_cast<size_t>(n_tokens * cols), 7 + n_tokens);
    std::vector<std::vector<uint8_t>> storage;
    std::vector<TensorView> ws;
    for (int64_t rows : {rows_a, rows_b}) {
      std::vector<float> wf = random_normal(static_cast<size_t>(rows * cols), 100 + rows, 0.05f);
      TensorView w;
      w.type = c.type;
      w.rows = rows;
      w.cols = cols;
      storage.emplace_back(static_cast<size_t>(w.row_bytes() * rows));
      if (c.type == DType::kQ4_K) {
        // No q4_K quantizer exists: random blocks with small scales are valid q4_K data.
        std::mt19937 rng(static_cast<uint32_t>(rows));
        for (uint8_t& byte : storage.back()) byte = static_cast<uint8_t>(rng());
        auto* blocks = reinterpret_cast<BlockQ4_K*>(storage.back().data());
        for (int64_t b = 0; b < rows * cols / kQK_K; ++b) {
          blocks[b].d = f32_to_fp16(0.002f);
          blocks[b].dmin = f32_to_fp16(0.001f);
        }
      } else {
        for (int64_t r = 0; r < rows; ++r)
          quantize_row(c.type, wf.data() + r * cols, storage.back().data() + r * w.row_bytes(), cols);
      }
      w.data = storage.back().data();
      ws.push_back(w);
    }
    std::vector<float> ya(static_cast<size_t>(n_tokens * rows_a)), yb(static_cast<size_t>(n_tokens * rows_b));
    const MatmulJob jobs[] = {{&ws[0], ya.data(), rows_a}, {&ws[1], yb.data(), rows_b}};
    std::vector<ActBlockQ8> scratch;
    matmul(pool, jobs, x.data(), n_tokens, cols, scratch);

    for (int j = 0; j < 2; ++j) {
      const TensorView& w = ws[static_cast<size_t>(j)];
      const std::vector<double> wd = effitune::testing::tensor_to_f64(w);
      std::vector<double> ref(static_cast<size_t>(n_tokens * w.rows));
      for (int64_t t = 0; t < n_tokens; ++t)
        for (int64_t r = 0; r < w.rows; ++r) {
          double s = 0.0;
          for (int64_t k = 0; k < cols; ++k) s += wd[static_cast<size_t>(r * cols + k)] * x[static_cast<size_t>(t * cols + k)];
          ref[static_cast<size_t>(t * w.rows + r)] = s;
        }
      const double e = nmse(j == 0 ? ya : yb, ref);
      EXPECT_LT(e, c.max_nmse) << dtype_name(c.type) << " tokens " << n_tokens << " job " << j;
      if (n_tokens == 9 && j == 0) std::printf("matmul %s: NMSE %.3g\n", std::string(dtype_name(c.type)).c_str(), e);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllTypes, MatmulTest,
                         ::testing::Values(MatmulCase{DType::kF32, 1e-10}, MatmulCase{DType::kF16, 1e-10},
                                           MatmulCase{DType::kBF16, 1e-10}, MatmulCase{DType::kQ8_0, 1e-4},
                                           MatmulCase{DType::kQ4_0, 1e-4}, MatmulCase{DType::kQ4_K, 1e-4}),
                         [](const auto& info) { return std::string(dtype_name(info.param.type)); });

TEST(MatmulTest, OddColumnCountUsesScalarTail) {
  // 172 = stories260K's hidden size: not a multiple of any SIMD width.
  const int64_t cols = 172, rows = 5, n_tokens = 2;
  std::vector<float> x = random_normal(static_cast<size_t>(n_tokens * cols), 1), wf = random_normal(static_cast<size_t>(rows * cols), 2);
  TensorView w{DType::kF32, wf.data(), rows, cols};
  std::vector<float> y(static_cast<size_t>(n_tokens * rows));
  Activations a{x.data(), n_tokens, cols, nullptr};
  matmul_rows(w, 0, rows, a, y.data(), rows);
  std::vector<double> ref(y.size());
  for (int64_t t = 0; t < n_tokens; ++t)
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t k = 0; k < cols; ++k)
        ref[static_cast<size_t>(t * rows + r)] += static_cast<double>(wf[static_cast<size_t>(r * cols + k)]) * x[static_cast<size_t>(t * cols + k)];
  EXPECT_LT(nmse(y, ref), 1e-10);
}

// The fused gate/up/SiLU region against f64: silu(Wg x) * (Wu x), q8_0 weights (error budget of the
// quantized matmul above: 1e-4; the activation adds only f32 rounding).
TEST(MatmulTest, FusedSwiGluMatchesFloat64) {
  const int64_t cols = 256, rows = 90, n_tokens = 5;
  std::vector<float> x = random_normal(static_cast<size_t>(n_tokens * cols), 40);
  std::vector<std::vector<uint8_t>> bufs;
  std::vector<TensorView> ws;
  for (int j = 0; j < 2; ++j) {
    std::vector<float> wf = random_normal(static_cast<size_t>(rows * cols), 41 + j, 0.1f);
    TensorView w{DType::kQ8_0, nullptr, rows, cols};
    bufs.emplace_back(static_cast<size_t>(w.bytes()));
    for (int64_t r = 0; r < rows; ++r) quantize_row(DType::kQ8_0, wf.data() + r * cols, bufs.back().data() + r * w.row_bytes(), cols);
    w.data = bufs.back().data();
    ws.push_back(w);
  }
  ThreadPool pool(2);
  std::vector<float> gate(static_cast<size_t>(n_tokens * rows)), up(gate.size());
  std::vector<ActBlockQ8> scratch;
  matmul_swiglu(pool, ws[0], ws[1], x.data(), n_tokens, cols, gate.data(), up.data(), rows, scratch);
  const auto wg = effitune::testing::tensor_to_f64(ws[0]), wu = effitune::testing::tensor_to_f64(ws[1]);
  std::vector<double> ref(gate.size());
  for (int64_t t = 0; t < n_tokens; ++t)
    for (int64_t r = 0; r < rows; ++r) {
      double g = 0.0, u = 0.0;
      for (int64_t k = 0; k < cols; ++k) {
        g += wg[static_cast<size_t>(r * cols + k)] * x[static_cast<size_t>(t * cols + k)];
        u += wu[static_cast<size_t>(r * cols + k)] * x[static_cast<size_t>(t * cols + k)];
      }
      ref[static_cast<size_t>(t * rows + r)] = g / (1.0 + std::exp(-g)) * u;
    }
  EXPECT_LT(nmse(gate, ref), 1e-4);
}

// Element-wise ops: a handful of f32 roundings per output -> NMSE ~1e-14; bound 1e-12.
TEST(CpuOpsTest, RmsNorm) {
  const int64_t n = 768;
  std::vector<float> x = random_normal(n, 3, 3.0f), w = random_normal(n, 4), out(n);
  rms_norm(x.data(), w.data(), n, 1e-5f, out.data());
  double ss = 0.0;
  for (float v : x) ss += static_cast<double>(v) * v;
  const double inv = 1.0 / std::sqrt(ss / n + 1e-5);
  std::vector<double> ref(n);
  for (int64_t i = 0; i < n; ++i) ref[i] = x[i] * inv * w[i];
  EXPECT_LT(nmse(out, ref), 1e-12);
}

TEST(CpuOpsTest, RopeWithAndWithoutFreqFactors) {
  const int32_t hd = 64, heads = 3;
  std::vector<float> factors(hd / 2);
  for (int i = 0; i < hd / 2; ++i) factors[i] = 1.0f + 0.25f * static_cast<float>(i % 5);
  for (bool use_factors : {false, true}) {
    for (int32_t pos : {0, 1, 17, 4000}) {
      std::vector<float> x = random_normal(static_cast<size_t>(hd * heads), 5 + pos), cs(hd);
      const std::vector<float> x0 = x;
      rope_table(pos, hd, 500000.0f, use_factors ? std::span<const float>(factors) : std::span<const float>(), cs.data());
      rope_apply(x.data(), heads, hd, cs.data());
      std::vector<double> ref(x.size());
      for (int h = 0; h < heads; ++h)
        for (int i = 0; i < hd / 2; ++i) {
          double f = std::pow(500000.0, -2.0 * i / hd);
          if (use_factors) f /= factors[i];
          const double c = std::cos(pos * f), s = std::sin(pos * f);
          const double a = x0[h * hd + 2 * i], b = x0[h * hd + 2 * i + 1];
          ref[h * hd + 2 * i] = a * c - b * s;
          ref[h * hd + 2 * i + 1] = a * s + b * c;
        }
      EXPECT_LT(nmse(x, ref), 1e-12) << "pos " << pos << " factors " << use_factors;
    }
  }
}

TEST(CpuOpsTest, SoftmaxAndSiluMul) {
  std::vector<float> x = random_normal(1000, 9, 4.0f);
  std::vector<double> ref(x.size());
  double mx = -INFINITY, sum = 0.0;
  for (float v : x) mx = std::max(mx, static_cast<double>(v));
  for (size_t i = 0; i < x.size(); ++i) sum += (ref[i] = std::exp(x[i] - mx));
  for (double& r : ref) r /= sum;
  softmax(x.data(), static_cast<int64_t>(x.size()));
  EXPECT_LT(nmse(x, ref), 1e-12);

  std::vector<float> g = random_normal(300, 10, 3.0f), u = random_normal(300, 11), out(300);
  silu_mul(g.data(), u.data(), 300, out.data());
  std::vector<double> sref(300);
  for (int i = 0; i < 300; ++i) sref[i] = g[i] / (1.0 + std::exp(-static_cast<double>(g[i]))) * u[i];
  EXPECT_LT(nmse(out, sref), 1e-12);
}

// GQA (8 query heads over 2 KV heads), 5 blocks of 4 slots in a scrambled table, queries at every
// position 0..17 (causal: each sees positions <= its own). f32 dot/softmax/accumulate of <= 18 terms:
// NMSE ~1e-13; bound 1e-10.
TEST(CpuOpsTest, PagedGqaAttention) {
  KvLayout layout;
  layout.n_layers = 2;
  layout.n_blocks = 7;
  layout.n_kv_heads = 2;
  layout.block_size = 4;
  layout.head_dim = 32;
  const int32_t n_heads = 8, group = n_heads / layout.n_kv_heads, layer = 1, n_pos = 18;
  const int32_t kvd = layout.n_kv_heads * layout.head_dim, hd = layout.head_dim;
  const std::vector<int32_t> table = {5, 2, 6, 0, 3};
  std::vector<float> kc(static_cast<size_t>(layout.total_floats()), NAN), vc(kc.size(), NAN);
  // NaN everywhere else: reading an unwritten slot or block would poison the result.
  std::vector<float> keys = random_normal(static_cast<size_t>(n_pos * kvd), 20), vals = random_normal(static_cast<size_t>(n_pos * kvd), 21);
  for (int32_t p = 0; p < n_pos; ++p) {
    kv_store(kc.data(), layout, layer, table, p, keys.data() + p * kvd);
    kv_store(vc.data(), layout, layer, table, p, vals.data() + p * kvd);
  }
  std::vector<float> q = random_normal(static_cast<size_t>(n_heads * hd), 22, 2.0f);
  std::vector<float> scores(n_pos), out(static_cast<size_t>(n_pos * n_heads * hd));
  std::vector<double> ref(out.size());
  for (int32_t p = 0; p < n_pos; ++p)
    for (int32_t h = 0; h < n_heads; ++h) {
      const int32_t g = h / group;
      attend_head(q.data() + h * hd, kc.data(), vc.data(), layout, layer, table, p, g, scores.data(),
                  out.data() + (p * n_heads + h) * hd);
      std::vector<double> s(static_cast<size_t>(p + 1));
      double mx = -INFINITY, sum = 0.0;
      for (int32_t j = 0; j <= p; ++j) {
        double d = 0.0;
        for (int32_t i = 0; i < hd; ++i) d += static_cast<double>(q[h * hd + i]) * keys[j * kvd + g * hd + i];
        s[j] = d / std::sqrt(static_cast<double>(hd));
        mx = std::max(mx, s[j]);
      }
      for (double& v : s) sum += (v = std::exp(v - mx));
      for (int32_t j = 0; j <= p; ++j)
        for (int32_t i = 0; i < hd; ++i) ref[(p * n_heads + h) * hd + i] += s[j] / sum * vals[j * kvd + g * hd + i];
    }
  EXPECT_LT(nmse(out, ref), 1e-10);
}

TEST(CpuOpsTest, ActivationQuantizationRoundTrip) {
  std::vector<float> x = random_normal(64, 30);
  x[5] = 0.0f;
  std::vector<ActBlockQ8> q(2);
  quantize_act_q8(x.data(), 64, q.data());
  for (int b = 0; b < 2; ++b) {
    float amax = 0.0f;
    for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(x[b * 32 + i]));
    EXPECT_FLOAT_EQ(q[b].d, amax / 127.0f);
    for (int i = 0; i < 32; ++i) EXPECT_LE(std::fabs(q[b].d * q[b].qs[i] - x[b * 32 + i]), q[b].d * 0.5f + 1e-7f);
  }
  std::vector<float> zeros(32, 0.0f);
  quantize_act_q8(zeros.data(), 32, q.data());
  EXPECT_EQ(q[0].d, 0.0f);
  for (int i = 0; i < 32; ++i) EXPECT_EQ(q[0].qs[i], 0);
}

}  // namespace
}  // namespace effitune::engine::cpu
