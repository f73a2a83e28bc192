// The weight-streaming tensor-core GEMM (engine/src/cuda/gemm_stream.cu) against float64 references
// computed here from the weights as stored (ggml's published dequantization, d * q) and the
// activations as rounded to the activation type, so that input rounding is not counted as error.
//
// Error analysis (NMSE = sum (out - ref)^2 / sum ref^2):
//  - 16-bit weights reach the tensor cores unchanged; what remains is f32 accumulation over K <= 14336
//    (relative error per addition <= 2^-23, random signs: ~sqrt(K) * 2^-23 ~ 1.4e-5 relative at
//    worst per output, NMSE ~ 2e-10). Bound 1e-7.
//  - Q8_0/Q4_0: d * q is rounded to bf16 before the tensor cores (as the cuBLAS path's bf16 scratch
//    is): relative error <= 2^-9 per weight, spread uniformly, independent across k, so the NMSE of
//    the dot products is ~2^-18 / 3 = 1.3e-6. Bound 4e-6.
//  - kAct output adds one rounding of the result: bf16 2^-18 / 3 = 1.3e-6 more (bounds 4e-6 for
//    bf16 weights, 8e-6 for quantized ones), f16 2^-22 / 3 = 8e-8 (bound 1e-6).
// Split K sums the partial products in a fixed order, so two runs must agree bit for bit.
#include <cmath>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "../../engine/src/cuda/cuda_ops.h"
#include "cuda_test_util.h"
#include "effitune/engine/dtype.h"

namespace effitune::engine {
namespace {

using testing::nmse;
using testing::random_normal;

constexpr double kFloatWeightsF32 = 1e-7;
constexpr double kQuantWeightsF32 = 4e-6;
constexpr double kBf16Out = 4e-6;
constexpr double kQuantBf16Out = 8e-6;
constexpr double kF16Out = 1e-6;

bool is_quant(DType t) { return t == DType::kQ8_0 || t == DType::kQ4_0; }
DType act_of(DType w) { return w == DType::kF16 ? DType::kF16 : DType::kBF16; }

float round_act(DType act, float v) {
  return act == DType::kF16 ? fp16_to_f32(f32_to_fp16(v)) : bf16_to_f32(f32_to_bf16(v));
}

// A random [n, k] weight stored as `type`, and the same weights as stored, in float.
struct Weights {
  std::vector<uint8_t> bytes;
  std::vector<float> stored;
  TensorView view;
};

Weights make_weights(DType type, int64_t n, int64_t k, uint64_t seed) {
  Weights w;
  const auto f = random_normal(n * k, seed, 0.05f);
  const int64_t rb = dtype_row_bytes(type, k);
  w.bytes.resize(rb * n);
  w.stored.resize(n * k);
  for (int64_t r = 0; r < n; ++r) {
    quantize_row(type, f.data() + r * k, w.bytes.data() + r * rb, k);
    dequantize_row(type, w.bytes.data() + r * rb, w.stored.data() + r * k, k);
  }
  w.view = TensorView{type, w.bytes.data(), n, k};
  return w;
}

std::vector<float> make_x(DType act, int rows, int64_t k, uint64_t seed) {
  auto x = random_normal(rows * k, seed);
  for (float& v : x) v = round_act(act, v);
  return x;
}

// ref[b, n] = sum_k W[n, k] x[b, k] in float64.
std::vector<double> reference(const Weights& w, const std::vector<float>& x, int rows) {
  const int64_t n_out = w.view.rows, k = w.view.cols;
  std::vector<double> ref(rows * n_out);
  for (int b = 0; b < rows; ++b)
    for (int64_t n = 0; n < n_out; ++n) {
      const float* wr = w.stored.data() + n * k;
      const float* xr = x.data() + b * k;
      double s = 0;
      for (int64_t i = 0; i < k; ++i) s += static_cast<double>(wr[i]) * xr[i];
      ref[b * n_out + n] = s;
    }
  return ref;
}

bool bit_identical(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

std::string label(DType t, int64_t n, int64_t k, int rows, int splits, const char* mode) {
  return std::string(dtype_name(t)) + " N=" + std::to_string(n) + " K=" + std::to_string(k) +
         " rows=" + std::to_string(rows) + " splits=" + (splits ? std::to_string(splits) : "auto") + " " + mode;
}

constexpr DType kKinds[] = {DType::kBF16, DType::kF16, DType::kQ8_0, DType::kQ4_0};

// Every kind, K and batch size, f32 output. N = 200 is not a multiple of the 128-column slab, and
// two slabs make the kernel split K as far as it goes; each case runs twice and must repeat exactly.
// The quantized kinds run both their paths: wgmma (the default where built for sm_90a) and mma.sync
// (EFFITUNE_STREAM_WGMMA=0, the path of other builds), which round the weights identically.
TEST(GemmStream, EveryKindShapeAndBatchMatchesFloat64) {
  EFFITUNE_SKIP_WITHOUT_CUDA();
  constexpr int64_t kN = 200;
  constexpr int kMaxRows = 128;
  struct Unset {
    ~Unset() { unsetenv("EFFITUNE_STREAM_WGMMA"); }
  } unset;
  // (wgmma path, kind) pairs: 16-bit kinds have one path.
  std::vector<std::pair<const char*, DType>> cases;
  for (DType type : kKinds) cases.emplace_back("1", type);
  for (DType type : kKinds)
    if (is_quant(type)) cases.emplace_back("0", type);
  for (const auto& [wg, type] : cases) {
    setenv("EFFITUNE_STREAM_WGMMA", wg, 1);
    const DType act = act_of(type);
    for (int64_t k : {2048, 4096, 14336}) {
      const Weights w = make_weights(type, kN, k, 11 + k);
      const auto x = make_x(act, kMaxRows, k, 12 + k);
      const auto ref_all = reference(w, x, kMaxRows);  // rows are prefixes: one reference serves all
      for (int rows : {2, 5, 9, 16, 33, 64, 100, 128}) {
        const std::string what = label(type, kN, k, rows, 0, "f32") + " wgmma=" + wg;
        const std::vector<float> xr(x.begin(), x.begin() + rows * k);
        const std::vector<double> ref(ref_all.begin(), ref_all.begin() + rows * kN);
        std::vector<float> out, again;
        const Status st = cuda_ops::gemm_stream(w.view, xr, rows, cuda_ops::GemmOut::kF32, 0, out);
        ASSERT_TRUE(st.ok()) << what << ": " << st.message();
        const double e = nmse(out, ref);
        EXPECT_LE(e, is_quant(type) ? kQuantWeightsF32 : kFloatWeightsF32) << what;
        ASSERT_TRUE(cuda_ops::gemm_stream(w.view, xr, rows, cuda_ops::GemmOut::kF32, 0, again).ok()) << what;
        EXPECT_TRUE(bit_identical(out, again)) << what << ": two runs differ";
      }
    }
  }
}

// One split and several, on a wider N (1000: 8 slabs, the last partial): the same sums to within
// the bound, and each forced split count repeats exactly.
TEST(GemmStream, SplitCountsAgreeWithReference) {
  EFFITUNE_SKIP_WITHOUT_CUDA();
  constexpr int64_t kN = 1000, kK = 4096;
  constexpr int kRows = 64;
  for (DType type : kKinds) {
    const DType act = act_of(type);
    const Weights w = make_weights(type, kN, kK, 21);
    const auto x = make_x(act, kRows, kK, 22);
    const auto ref = reference(w, x, kRows);
    for (int splits : {1, 3, 7, 0}) {
      const std::string what = label(type, kN, kK, kRows, splits, "f32");
      std::vector<float> out, again;
      const Status st = cuda_ops::gemm_stream(w.view, x, kRows, cuda_ops::GemmOut::kF32, splits, out);
      ASSERT_TRUE(st.ok()) << what << ": " << st.message();
      EXPECT_LE(nmse(out, ref), is_quant(type) ? kQuantWeightsF32 : kFloatWeightsF32) << what;
      ASSERT_TRUE(cuda_ops::gemm_stream(w.view, x, kRows, cuda_ops::GemmOut::kF32, splits, again).ok()) << what;
      EXPECT_TRUE(bit_identical(out, again)) << what << ": two runs differ";
    }
  }
}

// The activation-type output and the residual accumulate, with and without split K.
TEST(GemmStream, OutputModes) {
  EFFITUNE_SKIP_WITHOUT_CUDA();
  constexpr int64_t kN = 328, kK = 2048;
  constexpr int kRows = 33;
  for (DType type : kKinds) {
    const DType act = act_of(type);
    const Weights w = make_weights(type, kN, kK, 31);
    const auto x = make_x(act, kRows, kK, 32);
    const auto ref = reference(w, x, kRows);
    for (int splits : {1, 0}) {
      std::vector<float> out;
      const std::string what = label(type, kN, kK, kRows, splits, "act");
      ASSERT_TRUE(cuda_ops::gemm_stream(w.view, x, kRows, cuda_ops::GemmOut::kAct, splits, out).ok()) << what;
      const double act_bound = act == DType::kF16 ? kF16Out : is_quant(type) ? kQuantBf16Out : kBf16Out;
      EXPECT_LE(nmse(out, ref), act_bound) << what;

      // Accumulate adds onto what is there (the residual add): start from a known residual.
      const auto resid = random_normal(kRows * kN, 33, 3.0f);
      std::vector<float> acc = resid;
      const std::string what_acc = label(type, kN, kK, kRows, splits, "accumulate");
      ASSERT_TRUE(cuda_ops::gemm_stream(w.view, x, kRows, cuda_ops::GemmOut::kF32Accumulate, splits, acc).ok())
          << what_acc;
      std::vector<double> ref_acc(ref);
      for (size_t i = 0; i < ref_acc.size(); ++i) ref_acc[i] += resid[i];
      std::vector<double> delta(acc.size());
      for (size_t i = 0; i < acc.size(); ++i) delta[i] = static_cast<double>(acc[i]) - resid[i];
      // The product part against the product alone (the residual would dilute the NMSE); the f32
      // add of the residual costs one rounding of |acc| ~ 4 (2^-24 relative): negligible.
      EXPECT_LE(nmse(delta, ref), is_quant(type) ? kQuantWeightsF32 : kFloatWeightsF32) << what_acc;
      EXPECT_LE(nmse(acc, ref_acc), is_quant(type) ? kQuantWeightsF32 : kFloatWeightsF32) << what_acc;
    }
  }
}

TEST(GemmStream, RejectsShapesItDoesNotTake) {
  EFFITUNE_SKIP_WITHOUT_CUDA();
  const Weights w = make_weights(DType::kBF16, 64, 96, 41);  // K not a multiple of the 64-wide K tile
  const auto x = make_x(DType::kBF16, 16, 96, 42);
  std::vector<float> out;
  EXPECT_FALSE(cuda_ops::gemm_stream(w.view, x, 16, cuda_ops::GemmOut::kF32, 0, out).ok());
  const Weights w2 = make_weights(DType::kBF16, 64, 128, 43);
  const auto x1 = make_x(DType::kBF16, 1, 128, 44);  // below the 2-row minimum (GEMV territory)
  EXPECT_FALSE(cuda_ops::gemm_stream(w2.view, x1, 1, cuda_ops::GemmOut::kF32, 0, out).ok());
  const auto x129 = make_x(DType::kBF16, 129, 128, 45);  // above the 128-row maximum
  EXPECT_FALSE(cuda_ops::gemm_stream(w2.view, x129, 129, cuda_ops::GemmOut::kF32, 0, out).ok());
}

}  // namespace
}  // namespace effitune::engine
