// The skinny GEMM (engine/src/cuda/gemm_skinny.cu) against float64 references computed here
// from the 16-bit weights and the activations as rounded to the activation type.
//
// Error analysis (NMSE = sum (out - ref)^2 / sum ref^2): the 16-bit operands reach the tensor cores
// unchanged and accumulate in f32 over K <= 12288 (per-addition relative error <= 2^-23, random
// signs: NMSE ~ 1e-10 at worst); bound 1e-7, as for the streaming GEMM. kAct output adds one rounding
// of the result (bf16: 2^-18 / 3 = 1.3e-6, bound 4e-6; f16: 8e-8, bound 1e-6). The split partial sums
// are added in a fixed order, so two runs must agree bit for bit. A wrong fragment or shared-memory
// layout gives an NMSE near 1 or 2, far above the bounds.
#include <cstring>
#include <string>
#include <vector>

#include "../../engine/src/cuda/cuda_ops.h"
#include "cuda_test_util.h"
#include "effitune/engine/dtype.h"

namespace effitune::engine {
namespace {

using testing::nmse;
using testing::random_normal;

float round_act(DType act, float v) {
  return act == DType::kF16 ? fp16_to_f32(f32_to_fp16(v)) : bf16_to_f32(f32_to_bf16(v));
}

struct Case {
  std::vector<uint8_t> bytes;
  std::vector<float> w;  // as stored
  std::vector<float> x;  // as rounded
  TensorView view;
};

Case make_case(DType type, int64_t n, int64_t k, int rows, uint64_t seed) {
  Case c;
  const auto f = random_normal(n * k, seed, 0.05f);
  const int64_t rb = dtype_row_bytes(type, k);
  c.bytes.resize(rb * n);
  c.w.resize(n * k);
  for (int64_t r = 0; r < n; ++r) {
    quantize_row(type, f.data() + r * k, c.bytes.data() + r * rb, k);
    dequantize_row(type, c.bytes.data() + r * rb, c.w.data() + r * k, k);
  }
  c.view = TensorView{type, c.bytes.data(), n, k};
  c.x = random_normal(rows * k, seed + 1);
  for (float& v : c.x) v = round_act(type, v);
  return c;
}

std::vector<double> reference(const Case& c, int rows) {
  const int64_t n = c.view.rows, k = c.view.cols;
  std::vector<double> ref(rows * n);
  for (int b = 0; b < rows; ++b)
    for (int64_t o = 0; o < n; ++o) {
      double s = 0;
      for (int64_t i = 0; i < k; ++i) s += static_cast<double>(c.w[o * k + i]) * c.x[b * k + i];
      ref[b * n + o] = s;
    }
  return ref;
}

std::string label(DType t, int64_t n, int64_t k, int rows, int splits) {
  return std::string(dtype_name(t)) + " N=" + std::to_string(n) + " K=" + std::to_string(k) +
         " rows=" + std::to_string(rows) + " splits=" + (splits ? std::to_string(splits) : "auto");
}

// Both token widths (32 and 64 activation rows per tile set), partial token tiles, one and several K chunks
// (including an uneven last chunk: K = 1280 in chunks of 512), more W rows than one CTA's 128.
TEST(GemmSkinny, ShapesBatchesAndSplitsMatchFloat64) {
  EFFITUNE_SKIP_WITHOUT_CUDA();
  for (DType type : {DType::kBF16, DType::kF16}) {
    for (auto [n, k] : {std::pair<int64_t, int64_t>{64, 256}, {192, 1280}, {320, 4096}}) {
      const Case c = make_case(type, n, k, 64, 7 + n + k);
      const auto ref_all = reference(c, 64);
      for (int rows : {1, 9, 32, 33, 64}) {
        for (int splits : {1, 2, 3, 0}) {
          const std::string what = label(type, n, k, rows, splits);
          const std::vector<float> xr(c.x.begin(), c.x.begin() + rows * k);
          const std::vector<double> ref(ref_all.begin(), ref_all.begin() + rows * n);
          std::vector<float> out, again;
          const Status st = cuda_ops::gemm_skinny(c.view, xr, rows, cuda_ops::GemmOut::kF32, splits, out);
          ASSERT_TRUE(st.ok()) << what << ": " << st.message();
          EXPECT_LE(nmse(out, ref), 1e-7) << what;
          ASSERT_TRUE(cuda_ops::gemm_skinny(c.view, xr, rows, cuda_ops::GemmOut::kF32, splits, again).ok()) << what;
          EXPECT_EQ(std::memcmp(out.data(), again.data(), out.size() * 4), 0) << what << ": two runs differ";
        }
      }
    }
  }
}

// The activation-type output and the residual accumulate, unsplit and split.
TEST(GemmSkinny, OutputModes) {
  EFFITUNE_SKIP_WITHOUT_CUDA();
  constexpr int64_t kN = 128, kK = 1024;
  constexpr int kRows = 40;
  for (DType type : {DType::kBF16, DType::kF16}) {
    const Case c = make_case(type, kN, kK, kRows, 31);
    const auto ref = reference(c, kRows);
    for (int splits : {1, 4}) {
      const std::string what = label(type, kN, kK, kRows, splits);
      std::vector<float> out;
      ASSERT_TRUE(cuda_ops::gemm_skinny(c.view, c.x, kRows, cuda_ops::GemmOut::kAct, splits, out).ok()) << what;
      EXPECT_LE(nmse(out, ref), type == DType::kF16 ? 1e-6 : 4e-6) << what << " act";
      const auto resid = random_normal(kRows * kN, 33, 3.0f);
      std::vector<float> acc = resid;
      ASSERT_TRUE(cuda_ops::gemm_skinny(c.view, c.x, kRows, cuda_ops::GemmOut::kF32Accumulate, splits, acc).ok()) << what;
      std::vector<double> delta(acc.size());
      for (size_t i = 0; i < acc.size(); ++i) delta[i] = static_cast<double>(acc[i]) - resid[i];
      EXPECT_LE(nmse(delta, ref), 1e-7) << what << " accumulate";
    }
  }
}

TEST(GemmSkinny, RejectsShapesItDoesNotTake) {
  EFFITUNE_SKIP_WITHOUT_CUDA();
  std::vector<float> out;
  const Case odd_n = make_case(DType::kBF16, 96, 256, 16, 41);  // N not a multiple of 64
  EXPECT_FALSE(cuda_ops::gemm_skinny(odd_n.view, odd_n.x, 16, cuda_ops::GemmOut::kF32, 0, out).ok());
  const Case odd_k = make_case(DType::kBF16, 64, 320, 16, 42);  // K not a multiple of 256
  EXPECT_FALSE(cuda_ops::gemm_skinny(odd_k.view, odd_k.x, 16, cuda_ops::GemmOut::kF32, 0, out).ok());
  const Case wide = make_case(DType::kBF16, 64, 256, 65, 43);  // more than 64 rows
  EXPECT_FALSE(cuda_ops::gemm_skinny(wide.view, wide.x, 65, cuda_ops::GemmOut::kF32, 0, out).ok());
  const Case q8 = make_case(DType::kQ8_0, 64, 256, 16, 44);  // 16-bit weights only
  EXPECT_FALSE(cuda_ops::gemm_skinny(q8.view, q8.x, 16, cuda_ops::GemmOut::kF32, 0, out).ok());
}

}  // namespace
}  // namespace effitune::engine
