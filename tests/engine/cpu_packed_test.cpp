// The repacked (16-row interleaved) q8_0/q4_0/f16 kernels of the CPU backend against float64 products of
// the dequantized weights, through the same entry points the backend uses (matmul with packed jobs,
// matmul_swiglu with packed gate/up). Skipped on builds without the AVX-512 VNNI kernels.
// Error budgets as in cpu_ops_test: q8_0/q4_0 add the 8-bit activation quantization (NMSE ~2.5e-5;
// bound 1e-4); f16 only f32 accumulation rounding (~sqrt(cols) * 2^-24 relative; bound 1e-10).
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "../../engine/src/cpu/matmul.h"
#include "../../engine/src/cpu/packed.h"
#include "effitune/engine/dtype.h"
#include "support/numerics.h"
#include "support/reference_f64.h"

namespace effitune::engine::cpu {
namespace {

using testing::nmse;
using testing::random_normal;

struct Quantized {
  std::vector<uint8_t> bytes;
  TensorView view;
};

Quantized quantize(DType type, int64_t rows, int64_t cols, uint64_t seed) {
  Quantized q;
  const std::vector<float> wf = random_normal(static_cast<size_t>(rows * cols), seed, 0.05f);
  q.view = TensorView{type, nullptr, rows, cols};
  q.bytes.resize(static_cast<size_t>(q.view.bytes()));
  for (int64_t r = 0; r < rows; ++r)
    quantize_row(type, wf.data() + r * cols, q.bytes.data() + r * q.view.row_bytes(), cols);
  q.view.data = q.bytes.data();
  return q;
}

// ref[t][r] = sum_k w[r][k] x[t][k] in float64.
std::vector<double> product_f64(const TensorView& w, const std::vector<float>& x, int64_t n_tokens) {
  const std::vector<double> wd = effitune::testing::tensor_to_f64(w);
  std::vector<double> ref(static_cast<size_t>(n_tokens * w.rows));
  for (int64_t t = 0; t < n_tokens; ++t)
    for (int64_t r = 0; r < w.rows; ++r) {
      double s = 0.0;
      for (int64_t k = 0; k < w.cols; ++k)
        s += wd[static_cast<size_t>(r * w.cols + k)] * x[static_cast<size_t>(t * w.cols + k)];
      ref[static_cast<size_t>(t * w.rows + r)] = s;
    }
  return ref;
}

struct PackedCase {
  DType type;
  double max_nmse;
};

class PackedMatmulTest : public ::testing::TestWithParam<PackedCase> {};

TEST_P(PackedMatmulTest, MatchesFloat64AcrossPanelsAndTokenTiles) {
  const DType type = GetParam().type;
  const double bound = GetParam().max_nmse;
  const int64_t cols = 512;
  // 67: four full panels and a partial one; 13: a single partial panel; 48: exact panels.
  const int64_t rows[] = {67, 13, 48};
  std::vector<Quantized> ws;
  for (int64_t r : rows) ws.push_back(quantize(type, r, cols, 200 + r));
  if (!PackedMatrix::can_pack(ws[0].view)) GTEST_SKIP() << "this build has no packed kernels";
  std::vector<PackedMatrix> packed;
  for (const Quantized& q : ws) packed.push_back(PackedMatrix::pack(q.view));
  ThreadPool pool(2);
  for (int64_t n_tokens : {1, 3, 4, 9, 17}) {  // decode, remainder tiles, full tiles, tiles + remainder
    const std::vector<float> x = random_normal(static_cast<size_t>(n_tokens * cols), 11 + n_tokens);
    std::vector<std::vector<float>> ys;
    for (int64_t r : rows) ys.emplace_back(static_cast<size_t>(n_tokens * r), NAN);
    const MatmulJob jobs[] = {{&ws[0].view, ys[0].data(), rows[0], &packed[0]},
                              {&ws[1].view, ys[1].data(), rows[1], &packed[1]},
                              {&ws[2].view, ys[2].data(), rows[2], &packed[2]}};
    std::vector<ActBlockQ8> scratch;
    matmul(pool, jobs, x.data(), n_tokens, cols, scratch);
    for (size_t j = 0; j < ws.size(); ++j) {
      const double e = nmse(ys[j], product_f64(ws[j].view, x, n_tokens));
      EXPECT_LT(e, bound) << dtype_name(type) << " tokens " << n_tokens << " job " << j;
    }
  }
}

TEST_P(PackedMatmulTest, FusedSwiGluMatchesFloat64) {
  const DType type = GetParam().type;
  const int64_t cols = 256, rows = 90, n_tokens = 6;
  const Quantized g = quantize(type, rows, cols, 41), u = quantize(type, rows, cols, 42);
  if (!PackedMatrix::can_pack(g.view)) GTEST_SKIP() << "this build has no packed kernels";
  const PackedMatrix pg = PackedMatrix::pack(g.view), pu = PackedMatrix::pack(u.view);
  const std::vector<float> x = random_normal(static_cast<size_t>(n_tokens * cols), 40);
  ThreadPool pool(2);
  std::vector<float> gate(static_cast<size_t>(n_tokens * rows)), up(gate.size());
  std::vector<ActBlockQ8> scratch;
  matmul_swiglu(pool, g.view, u.view, x.data(), n_tokens, cols, gate.data(), up.data(), rows, scratch, &pg, &pu);
  const std::vector<double> rg = product_f64(g.view, x, n_tokens), ru = product_f64(u.view, x, n_tokens);
  std::vector<double> ref(gate.size());
  for (size_t i = 0; i < ref.size(); ++i) ref[i] = rg[i] / (1.0 + std::exp(-rg[i])) * ru[i];
  EXPECT_LT(nmse(gate, ref), GetParam().max_nmse);
}

INSTANTIATE_TEST_SUITE_P(PackedTypes, PackedMatmulTest,
                         ::testing::Values(PackedCase{DType::kQ8_0, 1e-4}, PackedCase{DType::kQ4_0, 1e-4},
                                           PackedCase{DType::kF16, 1e-10}),
                         [](const auto& info) { return std::string(dtype_name(info.param.type)); });

}  // namespace
}  // namespace effitune::engine::cpu
