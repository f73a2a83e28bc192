// llama2.c checkpoint parsing: layout, shared/unshared classifier, conversion, and error messages.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "effitune/engine/model_loader.h"

namespace effitune::engine {
namespace {

// A checkpoint whose float k (0-based, after the header) has the value k, so every tensor's offset
// can be checked by its first element.
std::vector<uint8_t> checkpoint(int32_t dim, int32_t hidden, int32_t layers, int32_t heads, int32_t kv_heads,
                                int32_t vocab, int32_t seq_len, bool shared) {
  const int64_t hs = dim / heads, kvd = hs * kv_heads;
  const int64_t n = int64_t{vocab} * dim + 2 * layers * dim + 2 * int64_t{layers} * dim * dim + 2 * layers * dim * kvd +
                    3 * int64_t{layers} * hidden * dim + dim + seq_len * hs + (shared ? 0 : int64_t{vocab} * dim);
  std::vector<uint8_t> buf(28 + static_cast<size_t>(n) * 4);
  const int32_t hdr[7] = {dim, hidden, layers, heads, kv_heads, shared ? vocab : -vocab, seq_len};
  std::memcpy(buf.data(), hdr, 28);
  for (int64_t k = 0; k < n; ++k) {
    const float v = static_cast<float>(k);
    std::memcpy(buf.data() + 28 + k * 4, &v, 4);
  }
  return buf;
}

float first(const TensorView& t) { return t.f32()[0]; }

TEST(Llama2cLoaderTest, ParsesLayoutAndUnsharedClassifier) {
  const int32_t d = 8, f = 16, L = 2, H = 2, KV = 1, V = 5, S = 3;
  auto buf = checkpoint(d, f, L, H, KV, V, S, /*shared=*/false);
  auto r = parse_llama2c(buf.data(), buf.size(), "tiny.bin");
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  const ModelWeights& w = **r;
  EXPECT_EQ(w.config.name, "tiny");
  EXPECT_FALSE(w.config.tied_output);
  EXPECT_EQ(w.config.eos_id, -1);
  const int64_t kvd = 4;
  int64_t off = 0;
  EXPECT_EQ(first(w.token_embedding), off);
  off += V * d;
  EXPECT_EQ(first(w.layers[1].attn_norm), off + d);
  off += L * d;
  EXPECT_EQ(first(w.layers[1].wq), off + d * d);
  off += L * d * d;
  EXPECT_EQ(first(w.layers[1].wk), off + kvd * d);
  EXPECT_EQ(w.layers[1].wk.rows, kvd);
  off += L * kvd * d;
  EXPECT_EQ(first(w.layers[0].wv), off);
  off += L * kvd * d;
  EXPECT_EQ(first(w.layers[1].wo), off + d * d);
  off += L * d * d;
  EXPECT_EQ(first(w.layers[1].ffn_norm), off + d);
  off += L * d;
  EXPECT_EQ(first(w.layers[1].w_gate), off + f * d);
  off += L * f * d;
  EXPECT_EQ(first(w.layers[1].w_down), off + d * f);
  EXPECT_EQ(w.layers[1].w_down.cols, f);
  off += L * d * f;
  EXPECT_EQ(first(w.layers[1].w_up), off + f * d);
  off += L * f * d;
  EXPECT_EQ(first(w.output_norm), off);
  off += d + S * (d / H);  // rms_final, then the two freq_cis halves
  EXPECT_EQ(first(w.output), off);
  EXPECT_EQ(w.output.rows, V);
}

TEST(Llama2cLoaderTest, ConvertsProjectionsToTheRequestedType) {
  auto buf = checkpoint(32, 48, 1, 4, 2, 6, 2, true);
  LoadOptions opt;
  opt.weight_type = DType::kQ8_0;
  auto r = parse_llama2c(buf.data(), buf.size(), "q.bin", opt);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  const ModelWeights& w = **r;
  EXPECT_EQ(w.layers[0].wq.type, DType::kQ8_0);
  EXPECT_EQ(w.layers[0].w_gate.type, DType::kQ8_0);
  EXPECT_EQ(w.layers[0].w_down.type, DType::kF16);  // 48 columns: not whole q8_0 blocks -> f16
  EXPECT_EQ(w.layers[0].attn_norm.type, DType::kF32);
  EXPECT_EQ(w.token_embedding.type, DType::kQ8_0);
  EXPECT_EQ(w.output.data, w.token_embedding.data);
  std::vector<float> row(32);
  dequantize_row(DType::kQ8_0, w.token_embedding.row(1), row.data(), 32);
  for (int i = 0; i < 32; ++i) EXPECT_NEAR(row[i], 32 + i, 63.0 / 127 / 2 * 1.01);
}

TEST(Llama2cLoaderTest, ErrorsNameTheFileAndField) {
  auto buf = checkpoint(8, 16, 1, 2, 1, 5, 3, true);
  auto truncated = parse_llama2c(buf.data(), buf.size() - 4, "cut.bin");
  EXPECT_EQ(truncated.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(truncated.status().message().find("cut.bin"), std::string::npos);

  auto bad = buf;
  const int32_t heads = 3;  // does not divide dim 8
  std::memcpy(bad.data() + 12, &heads, 4);
  auto r = parse_llama2c(bad.data(), bad.size(), "bad.bin");
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("n_heads"), std::string::npos);

  const int32_t zero = 0;
  std::memcpy(bad.data(), &zero, 4);
  r = parse_llama2c(bad.data(), bad.size(), "bad.bin");
  EXPECT_NE(r.status().message().find("'dim'"), std::string::npos);

  EXPECT_EQ(parse_llama2c(buf.data(), 10, "short.bin").status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(load_llama2c("/nonexistent/dir/model.bin").status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace effitune::engine
