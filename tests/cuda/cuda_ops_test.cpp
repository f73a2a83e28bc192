// Per-op checks of the CUDA kernels against float64 references written here.
// Thresholds (NMSE): f32 elementwise 1e-7 and f32 matmul/attention 5e-4 (test-backend-ops). For
// 16-bit activations the reference takes the same rounded inputs, so only the op's own output
// rounding remains: one bf16 rounding has relative error <= 2^-9, uniformly spread, so its NMSE is
// about 2^-18 / 3 = 1.3e-6; the bound used is 4e-6 (f16: 2^-22 / 3, bound 1e-6 covers both). The
// tensor-core prefill attention (16-bit, head_dim 64/128) also rounds the softmax weights P to bf16
// before P V, as FlashAttention does: an independent relative error <= 2^-9 on each weight moves
// o = sum p v / l by the same NMSE again, so two roundings: bound 8e-6 (measured up to 4.5e-6).
#include <algorithm>
#include <cmath>

#include "../../engine/src/cuda/cuda_ops.h"
#include "../../engine/src/cuda/decode_attn_choice.h"
#include "../../engine/src/cuda/matmul_route.h"
#include "cuda_test_util.h"
#include "effitune/engine/dtype.h"

namespace effitune::engine {
namespace {

using testing::nmse;
using testing::random_normal;

constexpr double kF32Elementwise = 1e-7;
constexpr double kF32Matmul = 5e-4;
constexpr double kHalfRounding = 4e-6;
constexpr double kHalfTwoRoundings = 8e-6;

float round_to(DType act, float v) {
  if (act == DType::kBF16) return bf16_to_f32(f32_to_bf16(v));
  if (act == DType::kF16) return fp16_to_f32(f32_to_fp16(v));
  return v;
}

std::vector<float> rounded(std::vector<float> v, DType act) {
  for (float& x : v) x = round_to(act, x);
  return v;
}

// Both kernels of launch_rmsnorm at every width class: the float4 one holds 1, 2, 4 or 8 float4s per
// thread (64, 2048, 4096, 8192 wide) and falls back to the scalar one at widths not a multiple of 4.
TEST(CudaOps, RmsNorm) {
  EFFITUNE_SKIP_WITHOUT_CUDA();
  const int rows = 5;
  for (int dim : {4096, 64, 2048, 8192, 1002}) {
    const auto x = random_normal(rows * dim, 1), w = random_normal(dim, 2);
    std::vector<double> ref(rows * dim);
    for (int r = 0; r < rows; ++r) {
      double ss = 0;
      for (int i = 0; i < dim; ++i) ss += double(x[r * dim + i]) * x[r * dim + i];
      const double s = 1.0 / std::sqrt(ss / dim + 1e-5);
      for (int i = 0; i < dim; ++i) ref[r * dim + i] = x[r * dim + i] * s * w[i];
    }
    for (bool vec : {false, true})
      for (DType act : {DType::kF32, DType::kBF16, DType::kF16}) {
        std::vector<float> out;
        ASSERT_TRUE(cuda_ops::rmsnorm(x, rows, dim, w, 1e-5f, act, out, vec).ok());
        EXPECT_LE(nmse(out, ref), act == DType::kF32 ? kF32Elementwise : kHalfRounding)
            << dtype_name(act) << " dim " << dim << (vec ? " (float4 kernel)" : " (scalar kernel)");
      }
  }
}

TEST(CudaOps, SwiGlu) {
  EFFITUNE_SKIP_WITHOUT_CUDA();
  // 70,000 tokens: more than a grid's y dimension takes (65,535), as a 64 x 1,024-token prefill has
  // (it failed with "invalid argument" when the tokens were the grid's y).
  for (const auto [tokens, hidden] : {std::pair{3, 1000}, std::pair{70000, 8}})
  for (DType act : {DType::kF32, DType::kBF16}) {
    const auto gu = rounded(random_normal(tokens * 2 * hidden, 3, 2.0f), act);
    std::vector<double> ref(tokens * hidden);
    for (int t = 0; t < tokens; ++t)
      for (int i = 0; i < hidden; ++i) {
        const double g = gu[t * 2 * hidden + i], u = gu[t * 2 * hidden + hidden + i];
        ref[t * hidden + i] = g / (1.0 + std::exp(-g)) * u;
      }
    std::vector<float> out;
    ASSERT_TRUE(cuda_ops::swiglu(gu, tokens, hidden, act, out).ok());
    EXPECT_LE(nmse(out, ref), act == DType::kF32 ? kF32Elementwise : kHalfRounding) << dtype_name(act) << " tokens " << tokens;
  }
}

TEST(CudaOps, RopeAndCacheStore) {
  EFFITUNE_SKIP_WITHOUT_CUDA();
  const int n_heads = 8, n_kv = 2, hd = 64, q_dim = n_heads * hd, kv_dim = n_kv * hd, width = q_dim + 2 * kv_dim;
  const std::vector<int32_t> pos = {0, 1, 7, 300, 4095};
  const int tokens = static_cast<int>(pos.size());
  std::vector<double> inv(hd / 2);
  for (int i = 0; i < hd / 2; ++i) inv[i] = std::pow(500000.0, -2.0 * i / hd) / (1.0 + 0.5 * (i % 3));
  const auto qkv = random_normal(tokens * width, 4);
  std::vector<double> ref(qkv.begin(), qkv.end());
  for (int t = 0; t < tokens; ++t)
    for (int h = 0; h < n_heads + n_kv; ++h)
      for (int i = 0; i < hd / 2; ++i) {
        double* v = ref.data() + t * width + h * hd + 2 * i;
        const double a = pos[t] * inv[i], x0 = v[0], x1 = v[1];
        v[0] = x0 * std::cos(a) - x1 * std::sin(a);
        v[1] = x0 * std::sin(a) + x1 * std::cos(a);
      }
  std::vector<float> out, kc, vc;
  ASSERT_TRUE(cuda_ops::rope_store(qkv, pos, n_heads, n_kv, hd, inv, DType::kF32, out, kc, vc).ok());
  EXPECT_LE(nmse(out, ref), kF32Elementwise);
  for (int t = 0; t < tokens; ++t)
    for (int i = 0; i < kv_dim; ++i) {
      ASSERT_EQ(kc[t * kv_dim + i], out[t * width + q_dim + i]) << "cached k differs from the rotated k";
      ASSERT_EQ(vc[t * kv_dim + i], qkv[t * width + q_dim + kv_dim + i]) << "cached v differs from v";
    }
}

// Activations as the quantized GEMV sees them: per 32-block, d = max|x| / 127, q = round(x / d).
std::vector<double> q8_blocks(const std::vector<float>& x) {
  std::vector<double> out(x.size());
  for (size_t b0 = 0; b0 < x.size(); b0 += 32) {
    double amax = 0;
    for (size_t i = b0; i < b0 + 32; ++i) amax = std::max(amax, std::abs(double(x[i])));
    const double d = amax / 127.0;
    for (size_t i = b0; i < b0 + 32; ++i) out[i] = d > 0 ? std::nearbyint(x[i] / d) * d : 0.0;
  }
  return out;
}

struct MatCase {
  DType type;
  int64_t n, k;
};

TEST(CudaOps, MatmulAllTypesAndBatches) {
  EFFITUNE_SKIP_WITHOUT_CUDA();
  // Shapes exercise 16-byte rows, stories260K's unaligned hidden 172 (f32/bf16), and batches on
  // both sides of the GEMV/GEMM switch (1 row for float weights, 8 for Q8_0, 4 for Q4_0; past those,
  // quantized products this small go to dequantize + cuBLAS, matmul_route.h; the streaming GEMM that
  // larger products take has tests of its own in gemm_stream_test.cpp).
  // The quantized K = 128 and 384 are the task model's row-parallel shards at gpu_count 2 (O and
  // down); N = 77 is an odd count of weight rows. K = 8,192 and 14,336 are the 1B and 8B down
  // projections (their activation prologue quantizes 2-4 loads a thread).
  const MatCase cases[] = {{DType::kF32, 300, 1024}, {DType::kF32, 64, 172},  {DType::kF16, 256, 512},
                           {DType::kBF16, 384, 768}, {DType::kBF16, 64, 172}, {DType::kQ8_0, 320, 1024},
                           {DType::kQ4_0, 320, 1024}, {DType::kQ8_0, 256, 128}, {DType::kQ4_0, 256, 384},
                           {DType::kQ8_0, 77, 256},   {DType::kQ4_0, 77, 256}, {DType::kQ4_0, 96, 8192},
                           {DType::kQ8_0, 64, 14336}};
  for (const MatCase& c : cases) {
    const auto wf = random_normal(c.n * c.k, 5, 0.05f);
    std::vector<uint8_t> wbytes(dtype_row_bytes(c.type, c.k) * c.n);
    for (int64_t r = 0; r < c.n; ++r)
      quantize_row(c.type, wf.data() + r * c.k, wbytes.data() + r * dtype_row_bytes(c.type, c.k), c.k);
    std::vector<float> wdq(c.n * c.k);  // the weights as stored, for the reference
    for (int64_t r = 0; r < c.n; ++r)
      dequantize_row(c.type, wbytes.data() + r * dtype_row_bytes(c.type, c.k), wdq.data() + r * c.k, c.k);
    TensorView w{c.type, wbytes.data(), c.n, c.k};
    const DType act = c.type == DType::kF32 ? DType::kF32 : c.type == DType::kF16 ? DType::kF16 : DType::kBF16;
    const bool quant = c.type == DType::kQ8_0 || c.type == DType::kQ4_0;
    // 130 rows: past the streaming GEMM (quantized weights dequantized to bf16 for cuBLAS).
    for (int rows : {1, 3, 4, 8, 9, 33, 40, 130}) {
      const auto x = rounded(random_normal(rows * c.k, 6 + rows), act);
      // The quantized GEMV (up to 8 rows for Q8_0, 4 for Q4_0) multiplies int8 activations (llama.cpp's
      // q8_1): the reference applies that published rounding in float64, so what remains is accumulation.
      const bool quant_gemv = quant && cuda_ops::matmul_uses_gemv(c.type, c.k, rows);
      const std::vector<double> xr = quant_gemv ? q8_blocks(x) : std::vector<double>(x.begin(), x.end());
      std::vector<double> ref(rows * c.n);
      for (int b = 0; b < rows; ++b)
        for (int64_t n = 0; n < c.n; ++n) {
          double s = 0;
          for (int64_t k = 0; k < c.k; ++k) s += double(wdq[n * c.k + k]) * xr[b * c.k + k];
          ref[b * c.n + n] = s;
        }
      std::vector<float> out;
      ASSERT_TRUE(cuda_ops::matmul(w, x, rows, false, out).ok());
      // Inputs are exact in the reference; only f32 accumulation (and cuBLAS's order) differs,
      // except that past the GEMV the streaming GEMM or the dequantization for cuBLAS rounds
      // quantized weights to bf16 for the tensor cores: d * q rounded to bf16 (relative error
      // <= 2^-9) adds ~2^-18 / 3 = 1.3e-6 per product (3e-6 seen).
      const bool quant_gemm = quant && !quant_gemv;
      const double bound = c.type == DType::kF32 ? kF32Matmul * 1e-3 : quant_gemm ? 1e-5 : 1e-6;
      EXPECT_LE(nmse(out, ref), bound)
          << dtype_name(c.type) << " " << c.n << "x" << c.k << " rows " << rows;
      // Accumulate mode adds onto what is there (the residual add).
      std::vector<float> acc(out.size(), 1.0f);
      ASSERT_TRUE(cuda_ops::matmul(w, x, rows, true, acc).ok());
      for (double& r : ref) r += 1.0;
      EXPECT_LE(nmse(acc, ref), bound) << "accumulate " << dtype_name(c.type) << " rows " << rows;
    }
  }
}

// The cuBLAS path's dequantization: every weight is ggml's d * q in f32 rounded to bf16 once, bit
// for bit, at sizes whose 8-weight pieces do not fill the last warp or CTA.
TEST(CudaOps, DequantBf16IsGgmlRoundedOnce) {
  EFFITUNE_SKIP_WITHOUT_CUDA();
  for (DType t : {DType::kQ8_0, DType::kQ4_0}) {
    for (const auto& [n, k] : {std::pair<int64_t, int64_t>{3, 32}, {37, 96}, {129, 4096}}) {
      auto wf = random_normal(n * k, 11, 0.05f);
      wf[5] = 0.0f;  // zero and extreme quants
      wf[6] = 1.0f;
      wf[7] = -1.0f;
      std::vector<uint8_t> wbytes(dtype_row_bytes(t, k) * n);
      for (int64_t r = 0; r < n; ++r) quantize_row(t, wf.data() + r * k, wbytes.data() + r * dtype_row_bytes(t, k), k);
      std::vector<float> ref(n * k);
      for (int64_t r = 0; r < n; ++r) dequantize_row(t, wbytes.data() + r * dtype_row_bytes(t, k), ref.data() + r * k, k);
      ref = rounded(ref, DType::kBF16);
      std::vector<float> out;
      ASSERT_TRUE(cuda_ops::dequant_bf16(TensorView{t, wbytes.data(), n, k}, out).ok());
      ASSERT_EQ(out.size(), ref.size());
      int64_t diff = 0;
      for (size_t i = 0; i < ref.size(); ++i) diff += out[i] != ref[i];
      EXPECT_EQ(diff, 0) << dtype_name(t) << " " << n << "x" << k;
    }
  }
}

std::vector<double> attention_ref(const std::vector<float>& q, const std::vector<float>& k, const std::vector<float>& v,
                                  int len, int n_new, int nh, int nkv, int hd) {
  const int g = nh / nkv, q_dim = nh * hd, kv_dim = nkv * hd;
  std::vector<double> out(n_new * q_dim);
  for (int t = 0; t < n_new; ++t) {
    const int pos = len - n_new + t;
    for (int h = 0; h < nh; ++h) {
      std::vector<double> s(pos + 1);
      double m = -1e300;
      for (int p = 0; p <= pos; ++p) {
        double d = 0;
        for (int i = 0; i < hd; ++i) d += double(q[t * q_dim + h * hd + i]) * k[p * kv_dim + (h / g) * hd + i];
        s[p] = d / std::sqrt(double(hd));
        m = std::max(m, s[p]);
      }
      double l = 0;
      for (double& x : s) l += (x = std::exp(x - m));
      for (int i = 0; i < hd; ++i) {
        double o = 0;
        for (int p = 0; p <= pos; ++p) o += s[p] * v[p * kv_dim + (h / g) * hd + i];
        out[t * q_dim + h * hd + i] = o / l;
      }
    }
  }
  return out;
}

// RoPE at position `pos` on interleaved pairs (2i, 2i + 1) of every head_dim row, in float64: the
// convention of the engine's fused decode step (AttnArgs::inv_freq).
std::vector<float> rope_rows_ref(std::vector<float> x, int hd, int pos, double theta) {
  for (size_t r = 0; r < x.size() / hd; ++r)
    for (int i = 0; i < hd / 2; ++i) {
      const double f = pos * std::pow(theta, -2.0 * i / hd), c = std::cos(f), sn = std::sin(f);
      const double x0 = x[r * hd + 2 * i], x1 = x[r * hd + 2 * i + 1];
      x[r * hd + 2 * i] = static_cast<float>(x0 * c - x1 * sn);
      x[r * hd + 2 * i + 1] = static_cast<float>(x0 * sn + x1 * c);
    }
  return x;
}

struct AttnCase {
  int len, n_new, nh, nkv, hd, block;
  bool decode;
};

TEST(CudaOps, PagedAttention) {
  EFFITUNE_SKIP_WITHOUT_CUDA();
  const AttnCase cases[] = {
      {1, 1, 8, 4, 8, 16, true},      {37, 1, 32, 8, 128, 16, true}, {700, 1, 32, 8, 128, 16, true},
      {1100, 1, 8, 2, 64, 7, true},   {700, 1, 8, 8, 64, 16, true},  {300, 1, 16, 2, 128, 16, true},
      {37, 1, 32, 8, 128, 16, false},
      {100, 37, 32, 8, 128, 16, false}, {130, 130, 8, 4, 8, 16, false}, {90, 20, 12, 12, 64, 5, false},
      // Several 64-position K/V tiles and full causal triangles (the tensor-core prefill kernel).
      {512, 512, 32, 8, 128, 16, false}, {300, 300, 16, 4, 64, 16, false}, {200, 70, 16, 2, 128, 16, false}};
  for (DType act : {DType::kF32, DType::kBF16}) {
    for (const AttnCase& c : cases) {
      const auto q = rounded(random_normal(c.n_new * c.nh * c.hd, 10), act);
      const auto k = rounded(random_normal(c.len * c.nkv * c.hd, 11), act);
      const auto v = rounded(random_normal(c.len * c.nkv * c.hd, 12), act);
      const auto ref = attention_ref(q, k, v, c.len, c.n_new, c.nh, c.nkv, c.hd);
      const bool tensor_core = !c.decode && (c.hd == 64 || c.hd == 128);
      // The tensor-core decode kernel at `chunk` positions a split (16-bit, head_dim 64 / 128). P is
      // rounded to bf16 before P V, as in the tensor-core prefill: two roundings.
      // wide: its wide variant (8 warps, the first 256 positions' tiles copied ahead).
      const auto check_decode_mma = [&](int32_t chunk, int wide = 0) {
        std::vector<float> out_mma;
        ASSERT_TRUE(cuda_ops::attention(q, k, v, c.len, c.n_new, c.nh, c.nkv, c.hd, c.block, c.decode, act, out_mma,
                                        chunk, -1, 1, wide)
                        .ok());
        EXPECT_LE(nmse(out_mma, ref), kHalfTwoRoundings)
            << dtype_name(act) << " len " << c.len << " heads " << c.nh << "/" << c.nkv << " hd " << c.hd
            << " tensor-core decode, splits of " << chunk << (wide ? ", wide" : "");
      };
      const bool decode_mma = c.decode && act != DType::kF32 && (c.hd == 64 || c.hd == 128);
      // Decode runs with both split lengths (64 positions, and the 256 of large batches) and both
      // ways of holding a K row for the scores in the scalar kernel (which must give the same bits),
      // and through the tensor-core decode kernel where it applies.
      for (int32_t chunk : {64, 256}) {
        if (!c.decode && chunk != 64) continue;
        std::vector<float> out, out_light;
        ASSERT_TRUE(cuda_ops::attention(q, k, v, c.len, c.n_new, c.nh, c.nkv, c.hd, c.block, c.decode, act, out, chunk,
                                        1, 0)
                        .ok());
        EXPECT_LE(nmse(out, ref), act == DType::kF32 ? kF32Matmul * 1e-3 : tensor_core ? kHalfTwoRoundings : kHalfRounding)
            << dtype_name(act) << " len " << c.len << " new " << c.n_new << " heads " << c.nh << "/" << c.nkv
            << " hd " << c.hd << (c.decode ? " decode, splits of " + std::to_string(chunk) : " prefill");
        if (!c.decode) continue;
        ASSERT_TRUE(cuda_ops::attention(q, k, v, c.len, c.n_new, c.nh, c.nkv, c.hd, c.block, c.decode, act, out_light,
                                        chunk, 0, 0)
                        .ok());
        EXPECT_EQ(out_light, out) << dtype_name(act) << " len " << c.len << " heads " << c.nh << "/" << c.nkv
                                  << " hd " << c.hd << ": the registers-light scores differ";
        if (decode_mma) check_decode_mma(chunk);
      }
      // The one-wave rule's other lengths run on the tensor-core decode kernel only (two cp.async
      // stages above 64 positions; 384 and 768 leave a shorter last split, or one split).
      if (decode_mma)
        for (int32_t chunk : {128, 192, 384, 768}) check_decode_mma(chunk);
      // The wide variant: one split (len <= 256) and, at longer lengths, several (the merge's units);
      // splits past 256 positions take each warp's tiles round the two stages (700 in splits of 768:
      // six rounds of 128 positions, the last one short).
      if (decode_mma)
        for (int32_t chunk : {128, 256, 512, 768}) check_decode_mma(chunk, 1);
      // RoPE fused into the decode kernels (the backend's decode steps): q and the new K row arrive
      // unrotated and the kernel rotates them and stores the new K/V (into shared memory too, in the
      // tensor-core kernel). The float64 reference rotates the same rounded inputs; the kernel rounds
      // the rotated q and K once more (16-bit: three roundings).
      if (c.decode && c.hd % 2 == 0) {
        constexpr double kTheta = 10000.0;
        auto k_rot = k;
        const int kv_dim = c.nkv * c.hd;
        const auto last = rope_rows_ref(std::vector<float>(k.end() - kv_dim, k.end()), c.hd, c.len - 1, kTheta);
        std::copy(last.begin(), last.end(), k_rot.end() - kv_dim);
        const auto ref_rot = attention_ref(rope_rows_ref(q, c.hd, c.len - 1, kTheta), k_rot, v, c.len, 1, c.nh, c.nkv, c.hd);
        const double tol = act == DType::kF32 ? kF32Matmul * 1e-3 : 1.5 * kHalfTwoRoundings;
        struct Way {
          int chunk, mma, wide;
        };
        // The wide variant in splits of 768: the new row falls in a round copied after the wait.
        for (const Way w : {Way{64, 0, 0}, Way{256, 0, 0}, Way{64, 1, 0}, Way{256, 1, 0}, Way{256, 1, 1}, Way{128, 1, 1},
                            Way{768, 1, 1}}) {
          if (w.mma && !decode_mma) continue;
          std::vector<float> out;
          ASSERT_TRUE(cuda_ops::attention(q, k, v, c.len, 1, c.nh, c.nkv, c.hd, c.block, true, act, out, w.chunk, -1, w.mma,
                                          w.wide, kTheta)
                          .ok());
          EXPECT_LE(nmse(out, ref_rot), tol) << dtype_name(act) << " len " << c.len << " heads " << c.nh << "/" << c.nkv
                                             << " hd " << c.hd << " fused RoPE, splits of " << w.chunk << " mma " << w.mma
                                             << " wide " << w.wide;
        }
      }
    }
  }
}

// Host arithmetic: runs without a GPU. matmul_route.h's rules at the H100 measurements behind them
// (bench/README.md, session 16; 8B and 1B projections, their TP shards, 132 SMs).
TEST(CudaOps, MatmulRouteRules) {
  using cuda::quant_gemv_max_rows;
  using cuda::quant_prefers_cublas;
  using cuda::stream_two_ctas;
  EXPECT_EQ(quant_gemv_max_rows(true), 4);   // Q4_0: 6 and 8 rows ran faster off the GEMV
  EXPECT_EQ(quant_gemv_max_rows(false), 8);  // Q8_0: 8B batch 8 ran faster on it
  const auto w = [](int64_t n, int64_t k) { return n * k; };
  // 16 rows: TP=4 qkv and 1B o to cuBLAS (17.8 vs 22.1 us, 14.8 vs 19.7), TP=4 down streams (23.5 vs 27.5).
  EXPECT_TRUE(quant_prefers_cublas(w(1536, 4096), 16));
  EXPECT_TRUE(quant_prefers_cublas(w(2048, 2048), 16));
  EXPECT_FALSE(quant_prefers_cublas(w(4096, 3584), 16));
  // 64 rows: TP=4 o and down, 1B qkv to cuBLAS; 8B qkv, 1B gate|up, TP=4 gate|up stream.
  EXPECT_TRUE(quant_prefers_cublas(w(4096, 1024), 64));
  EXPECT_TRUE(quant_prefers_cublas(w(4096, 3584), 64));
  EXPECT_TRUE(quant_prefers_cublas(w(3072, 2048), 64));
  EXPECT_FALSE(quant_prefers_cublas(w(6144, 4096), 64));
  EXPECT_FALSE(quant_prefers_cublas(w(16384, 2048), 64));
  EXPECT_FALSE(quant_prefers_cublas(w(7168, 4096), 64));
  // 128 rows: 8B o and qkv, TP=2 down to cuBLAS (35.9 vs 52.6, 49.4 vs 54.3, 59.8 vs 66.0); 1B gate|up
  // (64.8 vs 41.9) and 8B down streams.
  EXPECT_TRUE(quant_prefers_cublas(w(4096, 4096), 128));
  EXPECT_TRUE(quant_prefers_cublas(w(6144, 4096), 128));
  EXPECT_TRUE(quant_prefers_cublas(w(4096, 7168), 128));
  EXPECT_FALSE(quant_prefers_cublas(w(16384, 2048), 128));
  EXPECT_FALSE(quant_prefers_cublas(w(4096, 14336), 128));
  // Two CTAs an SM: 8B gate|up (224 slabs of 128) and the LM head; not TP=2 gate|up (112) or qkv (48).
  EXPECT_TRUE(stream_two_ctas(28672, 128, 132));
  EXPECT_TRUE(stream_two_ctas(128256, 128, 132));
  EXPECT_FALSE(stream_two_ctas(14336, 128, 132));
  EXPECT_FALSE(stream_two_ctas(6144, 128, 132));
  EXPECT_FALSE(stream_two_ctas(132 * 128, 128, 132));  // the edge: exactly one slab an SM
}

// Host arithmetic: runs without a GPU. The shapes are the H100 measurements behind the rule (132 SMs;
// 3 tensor-core and 5 scalar CTAs an SM at head_dim 128).
TEST(CudaOps, DecodeAttentionKernelChoice) {
  using cuda::use_decode_mma;
  // TP=4 rank batch 64 (2 KV heads x 64 = 128 CTAs), batch 1 (8 x 4 splits): one wave either way.
  EXPECT_TRUE(use_decode_mma(-1, -1, 128, 132, 3, 5));
  EXPECT_TRUE(use_decode_mma(-1, -1, 32, 132, 3, 5));
  // 8B TP=1 batch 64 (8 x 64 = 512): a second wave for the tensor-core kernel only: scalar.
  EXPECT_FALSE(use_decode_mma(-1, -1, 512, 132, 3, 5));
  // Long contexts at batch 64 (4,096 CTAs): both need several waves: tensor cores.
  EXPECT_TRUE(use_decode_mma(-1, -1, 4096, 132, 3, 5));
  // The edges: exactly one wave of tensor-core CTAs; exactly one of scalar ones.
  EXPECT_TRUE(use_decode_mma(-1, -1, 396, 132, 3, 5));
  EXPECT_FALSE(use_decode_mma(-1, -1, 660, 132, 3, 5));
  EXPECT_TRUE(use_decode_mma(-1, -1, 661, 132, 3, 5));
  // AttnArgs::decode_mma, then the variable, override the rule.
  EXPECT_TRUE(use_decode_mma(1, 0, 512, 132, 3, 5));
  EXPECT_FALSE(use_decode_mma(0, 1, 128, 132, 3, 5));
  EXPECT_TRUE(use_decode_mma(-1, 1, 512, 132, 3, 5));
  EXPECT_FALSE(use_decode_mma(-1, 0, 128, 132, 3, 5));
}

TEST(CudaOps, DecodeWideVariantChoice) {
  using cuda::use_decode_wide;
  // Splits of 256 whose CTAs fit one wave of it (one an SM at head_dim 128): 8B batch 1 at 160 and
  // 4,096 positions (8 and 128 CTAs); 136 CTAs do not fit.
  EXPECT_TRUE(use_decode_wide(-1, true, 256, 8, 132, 1));
  EXPECT_TRUE(use_decode_wide(-1, true, 256, 128, 132, 1));
  EXPECT_FALSE(use_decode_wide(-1, true, 256, 136, 132, 1));
  EXPECT_TRUE(use_decode_wide(-1, true, 256, 396, 132, 3));  // several an SM: a wave of 396
  // The ring lengths (512, 1,024, 2,048) within one wave of the ring variant (one an SM at head_dim
  // 128, two at 64).
  EXPECT_TRUE(use_decode_wide(-1, true, 512, 128, 132, 1));
  EXPECT_TRUE(use_decode_wide(-1, true, 2048, 132, 132, 1));
  EXPECT_FALSE(use_decode_wide(-1, true, 1024, 133, 132, 1));
  EXPECT_TRUE(use_decode_wide(-1, true, 512, 264, 132, 2));
  EXPECT_FALSE(use_decode_wide(-1, true, 512, 265, 132, 2));
  // Any other split length never.
  EXPECT_FALSE(use_decode_wide(-1, true, 128, 8, 132, 1));
  EXPECT_FALSE(use_decode_wide(-1, true, 384, 8, 132, 1));
  EXPECT_FALSE(use_decode_wide(-1, true, 768, 8, 132, 1));
  // EFFITUNE_ATTN_WIDE=0 turns the default off; AttnArgs::decode_wide decides before both.
  EXPECT_FALSE(use_decode_wide(-1, false, 256, 8, 132, 1));
  EXPECT_TRUE(use_decode_wide(1, false, 128, 500, 132, 1));
  EXPECT_FALSE(use_decode_wide(0, true, 256, 8, 132, 1));
}

TEST(CudaOps, DecodeSplitLengthChoice) {
  using cuda::decode_split_length;
  using cuda::next_split_length;
  std::vector<int64_t> lengths{64};
  while (lengths.size() < 9) lengths.push_back(next_split_length(lengths.back()));
  EXPECT_EQ(lengths, (std::vector<int64_t>{64, 128, 192, 256, 384, 512, 768, 1024, 1536}));
  // (KV head, sequence) pairs that give every SM a CTA take 256-position splits whatever the rest.
  EXPECT_EQ(decode_split_length(512, 200, 132, 3, 3), 256);
  EXPECT_EQ(decode_split_length(132, 2080, 132, 0, 0), 256);
  // Below that, a tensor-core kernel that cannot run (0 an SM): 64.
  EXPECT_EQ(decode_split_length(64, 544, 132, 0, 0), 64);
  // A TP=4 rank at batch 64 (128 pairs), 3 CTAs an SM at either stage count: 396 slots.
  EXPECT_EQ(decode_split_length(128, 544, 132, 3, 3), 192);   // 3 splits: 384 CTAs (128: 640)
  EXPECT_EQ(decode_split_length(128, 1056, 132, 3, 3), 384);  // 3 splits (256: 5, 640 CTAs)
  EXPECT_EQ(decode_split_length(128, 2080, 132, 3, 3), 768);
  EXPECT_EQ(decode_split_length(128, 33, 132, 3, 3), 64);     // one split of 64 each
  // A TP=4 rank at batch 32 (64 pairs), 544 positions: 128 (5 splits, 320 CTAs; 64: 576).
  EXPECT_EQ(decode_split_length(64, 544, 132, 3, 3), 128);
  // The edge of one wave at 1,024 positions: 99 x 4 = 396 CTAs of 256; 100 pairs need 384.
  EXPECT_EQ(decode_split_length(99, 1024, 132, 3, 3), 256);
  EXPECT_EQ(decode_split_length(100, 1024, 132, 3, 3), 384);
  // Up to 256 positions, pairs for half the SMs or more: one split of 256 (8B batch 16 at 160);
  // 64 pairs on 132 SMs keep 64 (3 splits), and so does 257 (128: 3 splits, 384 CTAs).
  EXPECT_EQ(decode_split_length(128, 160, 132, 3, 3), 256);
  EXPECT_EQ(decode_split_length(66, 256, 132, 3, 3), 256);
  EXPECT_EQ(decode_split_length(64, 160, 132, 3, 3), 64);
  EXPECT_EQ(decode_split_length(128, 257, 132, 3, 3), 128);
  // Batch 1 on the 8B shape (8 pairs): 64 while 64's CTAs fit (160 positions: 24 CTAs; 1,088: 136);
  // at 4,000 positions 64 would need 504 CTAs, 128 takes 256.
  EXPECT_EQ(decode_split_length(8, 160, 132, 3, 3), 64);
  EXPECT_EQ(decode_split_length(8, 1088, 132, 3, 3), 64);
  EXPECT_EQ(decode_split_length(8, 4000, 132, 3, 3), 128);
  // More slots at one stage than two (head_dim 64, 1B batch 16): 64 where its own wave holds the grid.
  EXPECT_EQ(decode_split_length(128, 300, 132, 5, 3), 64);   // 5 x 128 = 640 <= 660
  EXPECT_EQ(decode_split_length(128, 400, 132, 5, 3), 192);  // 7 x 128 > 660; 128: 4 x 128 > 396
  EXPECT_EQ(decode_split_length(128, 544, 132, 5, 5), 128);  // 5 x 128 = 640 <= 660
  // One slot an SM and 131 pairs: only one split a pair fits, the first candidate past the length.
  EXPECT_EQ(decode_split_length(131, 5000, 132, 1, 1), 6144);
  EXPECT_EQ(decode_split_length(131, 64, 132, 1, 1), 64);
  // The wide variant (one CTA an SM): splits of 256 from 65 positions while pairs x splits fit one
  // wave, 132 CTAs (batch 1 at 160: one split, no merge launch; at 1,088: 8 x 5 = 40 CTAs; 8 pairs at
  // 4,096 positions: 128); 64 up to 64 positions, and past one wave the rules without it.
  EXPECT_EQ(decode_split_length(8, 160, 132, 3, 3, 1), 256);
  EXPECT_EQ(decode_split_length(2, 65, 132, 3, 3, 1), 256);
  EXPECT_EQ(decode_split_length(64, 256, 132, 3, 3, 1), 256);
  EXPECT_EQ(decode_split_length(8, 64, 132, 3, 3, 1), 64);
  EXPECT_EQ(decode_split_length(8, 1088, 132, 3, 3, 1), 256);
  EXPECT_EQ(decode_split_length(8, 4096, 132, 3, 3, 1), 256);
  EXPECT_EQ(decode_split_length(32, 1056, 132, 3, 3, 1), 128);  // 32 x 5 = 160 CTAs of 256
  EXPECT_EQ(decode_split_length(128, 544, 132, 3, 3, 1), 192);
  EXPECT_EQ(decode_split_length(128, 160, 132, 3, 3, 1), 256);
  // Its ring lengths (head_dim 128: one ring CTA an SM): past 4,096 positions where 256 needs a second
  // wave, 512 if it fits (8 pairs at 4,128: 72 CTAs; 16 pairs: 144 do not, so the rules without it);
  // past 6,144 the shortest of 512, 1,024, 2,048 that fits (2 pairs at 8,192: 512; 16 at 8,192:
  // 1,024; 32 at 8,192: 2,048; 32 at 16,384: none, the rules without it); 2 pairs at 6,144 keep 256
  // (48 CTAs fit); no ring variant (0 an SM), no ring length.
  EXPECT_EQ(decode_split_length(8, 4128, 132, 3, 3, 1, 1), 512);
  EXPECT_EQ(decode_split_length(8, 6144, 132, 3, 3, 1, 1), 512);
  EXPECT_EQ(decode_split_length(16, 4128, 132, 3, 3, 1, 1), 192);
  EXPECT_EQ(decode_split_length(2, 6144, 132, 3, 3, 1, 1), 256);
  EXPECT_EQ(decode_split_length(2, 8192, 132, 3, 3, 1, 1), 512);
  EXPECT_EQ(decode_split_length(16, 8192, 132, 3, 3, 1, 1), 1024);
  EXPECT_EQ(decode_split_length(32, 8192, 132, 3, 3, 1, 1), 2048);
  EXPECT_EQ(decode_split_length(32, 16384, 132, 3, 3, 1, 1), 1536);
  EXPECT_EQ(decode_split_length(8, 8192, 132, 3, 3, 1, 0), 192);
  // Head_dim 64 (two wide CTAs an SM, two ring CTAs): 8 pairs at 8,192 take 512 (128 CTAs), at 16,384
  // 512 (256); 16 pairs at 4,128 (272 CTAs of 256 past 264) 512 (144); 32 pairs at 4,128 none fits
  // (288), at 8,192 1,024 (256); 8 pairs at 4,128 keep 256 (136 CTAs fit).
  EXPECT_EQ(decode_split_length(8, 8192, 132, 3, 3, 2, 2), 512);
  EXPECT_EQ(decode_split_length(8, 16384, 132, 3, 3, 2, 2), 512);
  EXPECT_EQ(decode_split_length(16, 4128, 132, 3, 3, 2, 2), 512);
  EXPECT_EQ(decode_split_length(32, 4128, 132, 3, 3, 2, 2), 384);
  EXPECT_EQ(decode_split_length(32, 8192, 132, 3, 3, 2, 2), 1024);
  EXPECT_EQ(decode_split_length(8, 4128, 132, 3, 3, 2, 2), 256);
  // It needs the 4-warp kernel's occupancy too (the tensor-core kernel runs at all).
  EXPECT_EQ(decode_split_length(8, 160, 132, 0, 0, 1), 64);
}

}  // namespace
}  // namespace effitune::engine
