// GGUF -> ModelWeights: tiny Llama files written with GgufWriter, loaded with load_model.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <random>

#include "effitune/engine/gguf.h"
#include "effitune/engine/model_loader.h"
#include "support/paths.h"

namespace effitune::engine {
namespace {

struct Tiny {
  int dim = 64, hidden = 96, layers = 2, heads = 4, kv_heads = 2, vocab = 40, ctx = 128;
  int head_dim() const { return dim / heads; }
};

// Writes a tiny llama GGUF of f32 tensors (norms in `norm_type`) and returns every tensor's values.
class TinyFile {
 public:
  explicit TinyFile(Tiny t = {}) : t_(t), dir_(testing::make_temp_dir("gguf-model")) {
    w_.set_string("general.architecture", "llama");
    w_.set_string("general.name", "tiny-test");
    w_.set_u32("llama.embedding_length", t.dim);
    w_.set_u32("llama.feed_forward_length", t.hidden);
    w_.set_u32("llama.block_count", t.layers);
    w_.set_u32("llama.attention.head_count", t.heads);
    w_.set_u32("llama.attention.head_count_kv", t.kv_heads);
    w_.set_u32("llama.context_length", t.ctx);
    w_.set_f32("llama.attention.layer_norm_rms_epsilon", 1e-6f);
    w_.set_f32("llama.rope.freq_base", 500000.0f);
    w_.set_u32("tokenizer.ggml.bos_token_id", 11);
    w_.set_u32("tokenizer.ggml.eos_token_id", 12);
  }
  ~TinyFile() { std::filesystem::remove_all(dir_); }

  // Adds the standard tensors; `skip` names one to leave out, `override_rows` changes one's rows.
  void add_all(const std::string& skip = "", const std::string& bad = "", DType norm_type = DType::kF32) {
    const int q = t_.heads * t_.head_dim(), kv = t_.kv_heads * t_.head_dim();
    add("token_embd.weight", t_.vocab, t_.dim, skip, bad);
    add("output_norm.weight", 1, t_.dim, skip, bad, norm_type);
    for (int l = 0; l < t_.layers; ++l) {
      const std::string p = "blk." + std::to_string(l) + ".";
      add(p + "attn_norm.weight", 1, t_.dim, skip, bad, norm_type);
      add(p + "attn_q.weight", q, t_.dim, skip, bad);
      add(p + "attn_k.weight", kv, t_.dim, skip, bad);
      add(p + "attn_v.weight", kv, t_.dim, skip, bad);
      add(p + "attn_output.weight", t_.dim, q, skip, bad);
      add(p + "ffn_norm.weight", 1, t_.dim, skip, bad, norm_type);
      add(p + "ffn_gate.weight", t_.hidden, t_.dim, skip, bad);
      add(p + "ffn_down.weight", t_.dim, t_.hidden, skip, bad);
      add(p + "ffn_up.weight", t_.hidden, t_.dim, skip, bad);
    }
  }

  void add(const std::string& name, int64_t rows, int64_t cols, const std::string& skip = "",
           const std::string& bad = "", DType type = DType::kF32) {
    if (name == skip) return;
    if (name == bad) rows += 1;
    std::vector<float> v(static_cast<size_t>(rows * cols));
    // Norms and RoPE factors are near 1 (and positive), projections have std 0.02.
    const bool near_one = name.find("norm") != std::string::npos || name.find("rope") != std::string::npos;
    std::normal_distribution<float> nd(near_one ? 1.0f : 0.0f, 0.02f);
    for (auto& x : v) x = nd(rng_);
    std::vector<uint8_t> bytes(static_cast<size_t>(dtype_row_bytes(type, rows * cols)));
    if (type == DType::kF32) {
      std::memcpy(bytes.data(), v.data(), bytes.size());
    } else {
      EXPECT_EQ(type, DType::kF16);
      for (size_t i = 0; i < v.size(); ++i) {
        const uint16_t h = f32_to_fp16(v[i]);
        std::memcpy(bytes.data() + 2 * i, &h, 2);
        v[i] = fp16_to_f32(h);
      }
    }
    std::vector<int64_t> ne = rows == 1 && name.find("norm") != std::string::npos ? std::vector<int64_t>{cols}
                                                                                    : std::vector<int64_t>{cols, rows};
    w_.add_tensor(name, type, ne, bytes.data(), bytes.size());
    values_[name] = std::move(v);
  }

  std::string write() {
    const std::string path = dir_ + "/tiny.gguf";
    EXPECT_TRUE(w_.write(path).ok());
    return path;
  }

  GgufWriter& writer() { return w_; }
  const std::vector<float>& values(const std::string& name) { return values_.at(name); }
  const Tiny& shape() const { return t_; }

 private:
  Tiny t_;
  std::string dir_;
  GgufWriter w_;
  std::mt19937 rng_{42};
  std::map<std::string, std::vector<float>> values_;
};

std::vector<float> row_values(const TensorView& v, int64_t r) {
  std::vector<float> out(static_cast<size_t>(v.cols));
  dequantize_row(v.type, v.row(r), out.data(), v.cols);
  return out;
}

TEST(GgufModel, LoadsConfigAndTiesOutput) {
  TinyFile f;
  f.add_all();
  auto r = load_model(f.write());
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  const ModelWeights& w = **r;
  const ModelConfig& c = w.config;
  EXPECT_EQ(c.name, "tiny-test");
  EXPECT_EQ(c.dim, 64);
  EXPECT_EQ(c.hidden_dim, 96);
  EXPECT_EQ(c.n_layers, 2);
  EXPECT_EQ(c.n_heads, 4);
  EXPECT_EQ(c.n_kv_heads, 2);
  EXPECT_EQ(c.vocab_size, 40);
  EXPECT_EQ(c.max_seq_len, 128);
  EXPECT_FLOAT_EQ(c.rms_eps, 1e-6f);
  EXPECT_FLOAT_EQ(c.rope_theta, 500000.0f);
  EXPECT_EQ(c.bos_id, 11);
  EXPECT_EQ(c.eos_id, 12);
  EXPECT_TRUE(c.tied_output);
  EXPECT_TRUE(c.rope_freq_factors.empty());
  EXPECT_EQ(w.output.data, w.token_embedding.data);
  ASSERT_EQ(w.layers.size(), 2u);
  const LayerWeights& l1 = w.layers[1];
  EXPECT_EQ(l1.wk.rows, 32);
  EXPECT_EQ(l1.wk.cols, 64);
  EXPECT_EQ(l1.w_down.rows, 64);
  EXPECT_EQ(l1.w_down.cols, 96);
  EXPECT_EQ(l1.wq.type, DType::kF32);
  // Row r of a [rows, cols] view is row r of the tensor as written (ne[0] contiguous).
  const auto& down = f.values("blk.1.ffn_down.weight");
  EXPECT_EQ(row_values(l1.w_down, 3), std::vector<float>(down.begin() + 3 * 96, down.begin() + 4 * 96));
  EXPECT_EQ(w.output_norm.type, DType::kF32);
  EXPECT_EQ(std::vector<float>(w.output_norm.f32(), w.output_norm.f32() + 64), f.values("output_norm.weight"));
  // Parameters: embedding + 2 layers of (2 norms + q,k,v,o + 3 ffn) + final norm; tied output once.
  const int64_t per_layer = 2 * 64 + 64 * 64 + 2 * 32 * 64 + 64 * 64 + 3 * 96 * 64;
  EXPECT_EQ(c.parameter_count(), 40 * 64 + 2 * per_layer + 64);
  EXPECT_EQ(w.bytes(), c.parameter_count() * 4);
}

TEST(GgufModel, UntiedOutputRopeFactorsAndF16Norms) {
  TinyFile f;
  f.add_all("", "", DType::kF16);
  f.add("output.weight", 40, 64);
  f.add("rope_freqs.weight", 1, 8);  // head_dim / 2 factors (name has no "norm": written as [8, 1])
  auto r = load_model(f.write());
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  const ModelWeights& w = **r;
  EXPECT_FALSE(w.config.tied_output);
  EXPECT_NE(w.output.data, w.token_embedding.data);
  EXPECT_EQ(row_values(w.output, 39), std::vector<float>(f.values("output.weight").end() - 64, f.values("output.weight").end()));
  EXPECT_EQ(w.layers[0].ffn_norm.type, DType::kF32);  // converted from f16
  EXPECT_EQ(std::vector<float>(w.layers[0].ffn_norm.f32(), w.layers[0].ffn_norm.f32() + 64), f.values("blk.0.ffn_norm.weight"));
  ASSERT_EQ(w.config.rope_freq_factors.size(), 8u);
  EXPECT_EQ(w.config.rope_freq_factors, std::vector<float>(f.values("rope_freqs.weight")));
}

TEST(GgufModel, WeightTypeConvertsProjectionsOnce) {
  TinyFile f;
  f.add_all();
  const std::string path = f.write();
  for (DType t : {DType::kQ8_0, DType::kQ4_0, DType::kF16, DType::kBF16}) {
    LoadOptions opt;
    opt.weight_type = t;
    auto r = load_model(path, opt);
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    const ModelWeights& w = **r;
    EXPECT_EQ(w.token_embedding.type, t);
    EXPECT_EQ(w.output.data, w.token_embedding.data);  // still tied after conversion
    for (const auto& l : w.layers) {
      for (const TensorView* v : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_down, &l.w_up}) EXPECT_EQ(v->type, t);
      EXPECT_EQ(l.attn_norm.type, DType::kF32);
    }
    // Converted values stay within the type's rounding of the originals (std 0.02 weights): q4_0
    // steps are |max|/8 ~ 0.008, so 0.01 bounds the half-step error with margin.
    const double tol = t == DType::kQ4_0 ? 1e-2 : t == DType::kQ8_0 ? 1e-3 : 2e-4;
    const auto got = row_values(w.layers[0].w_up, 5);
    const auto& want = f.values("blk.0.ffn_up.weight");
    for (int i = 0; i < 64; ++i) EXPECT_NEAR(got[i], want[5 * 64 + i], tol) << dtype_name(t) << " " << i;
  }
  LoadOptions q4k;
  q4k.weight_type = DType::kQ4_K;
  auto r = load_model(path, q4k);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnimplemented);
  EXPECT_NE(r.status().message().find("token_embd.weight"), std::string::npos) << r.status().message();
}

TEST(GgufModel, WrongShapeNamesTheTensor) {
  TinyFile f;
  f.add_all("", "blk.1.attn_k.weight");
  auto r = load_model(f.write());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("tensor 'blk.1.attn_k.weight' has shape [64, 33]"), std::string::npos)
      << r.status().message();
  EXPECT_NE(r.status().message().find("tiny.gguf"), std::string::npos);
}

TEST(GgufModel, MissingTensorIsNamed) {
  TinyFile f;
  f.add_all("blk.0.ffn_up.weight");
  auto r = load_model(f.write());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("missing tensor 'blk.0.ffn_up.weight'"), std::string::npos) << r.status().message();
}

TEST(GgufModel, BadMetadataIsNamed) {
  TinyFile f;
  f.add_all();
  f.writer().set_u32("llama.attention.head_count_kv", 3);  // does not divide 4 heads
  auto r = load_model(f.write());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("n_kv_heads 3"), std::string::npos) << r.status().message();

  TinyFile g;
  g.add_all();
  g.writer().set_string("llama.block_count", "two");
  r = load_model(g.write());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("'llama.block_count' must be an integer"), std::string::npos) << r.status().message();

  TinyFile h;
  h.add_all();
  h.writer().set_u32("tokenizer.ggml.eos_token_id", 40);
  r = load_model(h.write());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("eos_token_id 40 is outside"), std::string::npos) << r.status().message();
}

TEST(GgufModel, NonLlamaArchitectureIsUnimplemented) {
  TinyFile f;
  f.add_all();
  f.writer().set_string("general.architecture", "qwen2");
  auto r = load_model(f.write());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnimplemented);
  EXPECT_NE(r.status().message().find("architecture 'qwen2' is not supported"), std::string::npos);

  auto gpt2 = load_model(testing::tokenizer_dir() + "/ggml-vocab-gpt-2.gguf");
  EXPECT_EQ(gpt2.status().code(), StatusCode::kUnimplemented);
  auto spm = load_model(testing::tokenizer_dir() + "/ggml-vocab-llama-spm.gguf");  // llama, but no tensors
  ASSERT_FALSE(spm.ok());
  EXPECT_NE(spm.status().message().find("missing tensor 'token_embd.weight'"), std::string::npos) << spm.status().message();
}

TEST(GgufModel, MissingFileIsNotFound) {
  EXPECT_EQ(load_model("/nonexistent/model.gguf").status().code(), StatusCode::kNotFound);
}

TEST(ModelConfig, ParameterCountsOfPublishedModels) {
  ModelConfig llama2_7b;  // Llama-2-7B: 6,738,415,616 parameters (Hugging Face model card / safetensors index)
  llama2_7b.dim = 4096;
  llama2_7b.hidden_dim = 11008;
  llama2_7b.n_layers = 32;
  llama2_7b.n_heads = 32;
  llama2_7b.n_kv_heads = 32;
  llama2_7b.vocab_size = 32000;
  EXPECT_EQ(llama2_7b.parameter_count(), 6738415616LL);
  ModelConfig llama3_8b = llama2_7b;  // Llama-3-8B: 8,030,261,248 parameters
  llama3_8b.hidden_dim = 14336;
  llama3_8b.n_kv_heads = 8;
  llama3_8b.vocab_size = 128256;
  EXPECT_EQ(llama3_8b.parameter_count(), 8030261248LL);
}

TEST(RandomModel, SeededShapedAndScaled) {
  ModelConfig c;
  c.name = "rand";
  c.dim = 64;
  c.hidden_dim = 128;
  c.n_layers = 3;
  c.n_heads = 4;
  c.n_kv_heads = 1;
  c.vocab_size = 100;
  c.max_seq_len = 64;
  c.tied_output = true;
  auto a = make_random_model(c, DType::kF32, 7);
  auto b = make_random_model(c, DType::kF32, 7);
  auto d = make_random_model(c, DType::kF32, 8);
  ASSERT_TRUE(a.ok() && b.ok() && d.ok()) << a.status().to_string();
  const ModelWeights& w = **a;
  EXPECT_EQ(w.layers.size(), 3u);
  EXPECT_EQ(w.layers[2].wk.rows, 16);
  EXPECT_EQ(w.output.data, w.token_embedding.data);
  EXPECT_EQ(w.bytes(), c.parameter_count() * 4);
  const auto x = row_values(w.layers[1].w_gate, 77), y = row_values((*b)->layers[1].w_gate, 77);
  const auto z = row_values((*d)->layers[1].w_gate, 77);
  EXPECT_EQ(x, y);
  EXPECT_NE(x, z);
  EXPECT_NE(row_values(w.layers[1].w_gate, 76), x);
  double sum = 0, sum2 = 0;
  int64_t n = 0;
  for (int64_t r = 0; r < w.token_embedding.rows; ++r) {
    for (float v : row_values(w.token_embedding, r)) {
      sum += v;
      sum2 += double{v} * v;
      ++n;
    }
  }
  const double mean = sum / n, sd = std::sqrt(sum2 / n - mean * mean);
  EXPECT_NEAR(mean, 0.0, 0.001);  // 6400 draws: sd of the mean 0.02/80
  EXPECT_NEAR(sd, 0.02, 0.001);
  EXPECT_EQ(w.layers[0].attn_norm.f32()[5], 1.0f);

  auto q = make_random_model(c, DType::kQ4_0, 7);
  ASSERT_TRUE(q.ok());
  EXPECT_EQ((*q)->layers[0].wq.type, DType::kQ4_0);
  EXPECT_EQ((*q)->layers[0].attn_norm.type, DType::kF32);
  EXPECT_LT((*q)->bytes(), w.bytes() / 5);

  c.hidden_dim = 100;  // not a multiple of 32
  EXPECT_EQ(make_random_model(c, DType::kQ8_0, 1).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(make_random_model(c, DType::kQ4_K, 1).status().code(), StatusCode::kUnimplemented);
  c.n_kv_heads = 3;
  EXPECT_EQ(make_random_model(c, DType::kF32, 1).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace effitune::engine
