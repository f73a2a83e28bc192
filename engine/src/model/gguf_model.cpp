// GGUF -> ModelWeights for the "llama" architecture (llama.cpp's LLM_ARCH_LLAMA tensor names).
// Weights stay in the file mapping unless a conversion was asked for; Q/K rows are already in
// llama.cpp's interleaved-pair RoPE order, so no permutation is needed.
#include <cmath>
#include <filesystem>

#include "effitune/engine/gguf.h"
#include "effitune/engine/model_loader.h"
#include "model/weight_utils.h"

namespace effitune::engine {
namespace {

using model_detail::convert_view;

class GgufModelBuilder {
 public:
  GgufModelBuilder(const GgufFile& f, const LoadOptions& options) : f_(f), options_(options), name_(f.path()) {}

  Result<std::shared_ptr<const ModelWeights>> build(std::shared_ptr<const GgufFile> keep_alive) {
    auto w = std::make_shared<ModelWeights>();
    w->storage.push_back(std::move(keep_alive));
    EFFITUNE_RETURN_IF_ERROR(read_config(w->config));
    ModelConfig& c = w->config;
    const int64_t q_dim = int64_t{c.n_heads} * c.head_dim();

    EFFITUNE_ASSIGN_OR_RETURN(w->token_embedding, matrix(*w, "token_embd.weight", c.vocab_size, c.dim));
    EFFITUNE_ASSIGN_OR_RETURN(w->output_norm, vector(*w, "output_norm.weight", c.dim));
    if (f_.find_tensor("output.weight") != nullptr) {
      EFFITUNE_ASSIGN_OR_RETURN(w->output, matrix(*w, "output.weight", c.vocab_size, c.dim));
    } else {
      c.tied_output = true;
      w->output = w->token_embedding;
    }
    for (int32_t l = 0; l < c.n_layers; ++l) {
      const std::string p = "blk." + std::to_string(l) + ".";
      LayerWeights lw;
      EFFITUNE_ASSIGN_OR_RETURN(lw.attn_norm, vector(*w, p + "attn_norm.weight", c.dim));
      EFFITUNE_ASSIGN_OR_RETURN(lw.wq, matrix(*w, p + "attn_q.weight", q_dim, c.dim));
      EFFITUNE_ASSIGN_OR_RETURN(lw.wk, matrix(*w, p + "attn_k.weight", c.kv_dim(), c.dim));
      EFFITUNE_ASSIGN_OR_RETURN(lw.wv, matrix(*w, p + "attn_v.weight", c.kv_dim(), c.dim));
      EFFITUNE_ASSIGN_OR_RETURN(lw.wo, matrix(*w, p + "attn_output.weight", c.dim, q_dim));
      EFFITUNE_ASSIGN_OR_RETURN(lw.ffn_norm, vector(*w, p + "ffn_norm.weight", c.dim));
      EFFITUNE_ASSIGN_OR_RETURN(lw.w_gate, matrix(*w, p + "ffn_gate.weight", c.hidden_dim, c.dim));
      EFFITUNE_ASSIGN_OR_RETURN(lw.w_down, matrix(*w, p + "ffn_down.weight", c.dim, c.hidden_dim));
      EFFITUNE_ASSIGN_OR_RETURN(lw.w_up, matrix(*w, p + "ffn_up.weight", c.hidden_dim, c.dim));
      w->layers.push_back(lw);
    }
    if (f_.find_tensor("rope_freqs.weight") != nullptr) {
      EFFITUNE_ASSIGN_OR_RETURN(TensorView rf, vector(*w, "rope_freqs.weight", c.head_dim() / 2));
      c.rope_freq_factors.assign(rf.f32(), rf.f32() + rf.cols);
      for (float x : c.rope_freq_factors) {
        if (!(x > 0.0f && std::isfinite(x))) return invalid("tensor 'rope_freqs.weight' holds " + std::to_string(x) + "; factors must be positive and finite");
      }
    }
    return std::shared_ptr<const ModelWeights>(std::move(w));
  }

 private:
  Status invalid(const std::string& msg) const { return invalid_argument(name_ + ": " + msg); }

  Result<int64_t> get_int(const std::string& key, std::optional<int64_t> fallback) const {
    const GgufValue* v = f_.find(key);
    if (v == nullptr) {
      if (fallback) return *fallback;
      return invalid("missing metadata key '" + key + "' (required for a llama model)");
    }
    auto i = v->as_int();
    if (!i) return invalid("metadata key '" + key + "' must be an integer");
    return *i;
  }

  Result<float> get_float(const std::string& key, float fallback) const {
    const GgufValue* v = f_.find(key);
    if (v == nullptr) return fallback;
    auto x = v->as_float();
    if (!x || !std::isfinite(*x)) return invalid("metadata key '" + key + "' must be a finite number");
    return static_cast<float>(*x);
  }

  Result<int32_t> get_int32(const std::string& key, std::optional<int64_t> fallback, int64_t max) const {
    EFFITUNE_ASSIGN_OR_RETURN(int64_t v, get_int(key, fallback));
    if (v <= 0 || v > max) {
      return invalid("metadata key '" + key + "' = " + std::to_string(v) + " is out of range (expected 1.." + std::to_string(max) + ")");
    }
    return static_cast<int32_t>(v);
  }

  Status read_config(ModelConfig& c) const {
    namespace md = model_detail;
    const GgufValue* arch = f_.find("general.architecture");
    if (arch == nullptr || !arch->as_string()) return invalid("missing string metadata key 'general.architecture'");
    if (*arch->as_string() != "llama") {
      return unimplemented(name_ + ": architecture '" + *arch->as_string() + "' is not supported (only 'llama')");
    }
    if (const GgufValue* e = f_.find("llama.expert_count"); e != nullptr && e->as_int().value_or(0) > 0) {
      return unimplemented(name_ + ": mixture-of-experts llama models (llama.expert_count > 0) are not supported");
    }
    const GgufValue* name = f_.find("general.name");
    c.name = name != nullptr && name->as_string() ? *name->as_string() : std::filesystem::path(name_).stem().string();
    EFFITUNE_ASSIGN_OR_RETURN(c.dim, get_int32("llama.embedding_length", std::nullopt, md::kMaxDim));
    EFFITUNE_ASSIGN_OR_RETURN(c.hidden_dim, get_int32("llama.feed_forward_length", std::nullopt, md::kMaxHidden));
    EFFITUNE_ASSIGN_OR_RETURN(c.n_layers, get_int32("llama.block_count", std::nullopt, md::kMaxLayers));
    EFFITUNE_ASSIGN_OR_RETURN(c.n_heads, get_int32("llama.attention.head_count", std::nullopt, c.dim));
    EFFITUNE_ASSIGN_OR_RETURN(c.n_kv_heads, get_int32("llama.attention.head_count_kv", c.n_heads, c.n_heads));
    EFFITUNE_ASSIGN_OR_RETURN(c.max_seq_len, get_int32("llama.context_length", std::nullopt, md::kMaxSeqLen));
    EFFITUNE_ASSIGN_OR_RETURN(c.rms_eps, get_float("llama.attention.layer_norm_rms_epsilon", 1e-5f));
    EFFITUNE_ASSIGN_OR_RETURN(c.rope_theta, get_float("llama.rope.freq_base", 10000.0f));

    const GgufTensorInfo* embd = f_.find_tensor("token_embd.weight");
    if (embd == nullptr) return invalid("missing tensor 'token_embd.weight'");
    if (embd->ne.size() < 2 || embd->ne[1] > md::kMaxVocab) {
      return invalid("tensor 'token_embd.weight' must be 2-D [dim, vocab] with vocab <= " + std::to_string(md::kMaxVocab));
    }
    EFFITUNE_ASSIGN_OR_RETURN(c.vocab_size, get_int32("llama.vocab_size", embd->ne[1], md::kMaxVocab));
    if (c.n_heads > 0 && c.dim % c.n_heads == 0) {
      EFFITUNE_ASSIGN_OR_RETURN(int64_t rot, get_int("llama.rope.dimension_count", c.dim / c.n_heads));
      if (rot != c.dim / c.n_heads) {
        return unimplemented(name_ + ": partial rotary embeddings (llama.rope.dimension_count = " + std::to_string(rot) +
                             ", head_dim = " + std::to_string(c.dim / c.n_heads) + ") are not supported");
      }
    }
    EFFITUNE_RETURN_IF_ERROR(model_detail::validate_config(c, name_));

    // Defaults (Llama-2 SentencePiece ids) only when the file names none; they must fit the vocab.
    EFFITUNE_ASSIGN_OR_RETURN(int64_t bos, get_int("tokenizer.ggml.bos_token_id", c.vocab_size > 1 ? 1 : 0));
    EFFITUNE_ASSIGN_OR_RETURN(int64_t eos, get_int("tokenizer.ggml.eos_token_id", c.vocab_size > 2 ? 2 : -1));
    if (bos < 0 || bos >= c.vocab_size) return invalid("tokenizer.ggml.bos_token_id " + std::to_string(bos) + " is outside the vocabulary");
    if (eos < -1 || eos >= c.vocab_size) return invalid("tokenizer.ggml.eos_token_id " + std::to_string(eos) + " is outside the vocabulary");
    c.bos_id = static_cast<int32_t>(bos);
    c.eos_id = static_cast<int32_t>(eos);
    return {};
  }

  static std::string shape_str(const std::vector<int64_t>& ne) {
    std::string s = "[";
    for (size_t i = 0; i < ne.size(); ++i) s += (i ? ", " : "") + std::to_string(ne[i]);
    return s + "]";
  }

  // The tensor `tname` with ggml dims [cols, rows] (trailing 1s allowed).
  Result<TensorView> view(const std::string& tname, int64_t rows, int64_t cols, bool is_vector) const {
    const GgufTensorInfo* t = f_.find_tensor(tname);
    if (t == nullptr) return invalid("missing tensor '" + tname + "'");
    std::vector<int64_t> want = is_vector ? std::vector<int64_t>{cols} : std::vector<int64_t>{cols, rows};
    bool match = t->ne.size() >= want.size();
    for (size_t i = 0; match && i < t->ne.size(); ++i) match = t->ne[i] == (i < want.size() ? want[i] : 1);
    if (!match) {
      return invalid("tensor '" + tname + "' has shape " + shape_str(t->ne) + " but the model config needs " +
                     shape_str(want) + " (ggml order: columns first)");
    }
    TensorView v;
    v.type = t->type;
    v.data = t->data;
    v.rows = rows;
    v.cols = cols;
    return v;
  }

  // Projections and embeddings: in place, or converted to options_.weight_type. Data that the
  // file's alignment leaves misaligned for its element type is copied to an aligned buffer.
  Result<TensorView> matrix(ModelWeights& w, const std::string& tname, int64_t rows, int64_t cols) const {
    EFFITUNE_ASSIGN_OR_RETURN(TensorView v, view(tname, rows, cols, false));
    return convert_view(v, options_.weight_type.value_or(v.type), w.storage, name_ + ": tensor '" + tname + "'");
  }

  // Norms and RoPE factors: always f32.
  Result<TensorView> vector(ModelWeights& w, const std::string& tname, int64_t n) const {
    EFFITUNE_ASSIGN_OR_RETURN(TensorView v, view(tname, 1, n, true));
    return convert_view(v, DType::kF32, w.storage, name_ + ": tensor '" + tname + "'");
  }

  const GgufFile& f_;
  const LoadOptions& options_;
  const std::string& name_;
};

}  // namespace

Result<std::shared_ptr<const ModelWeights>> load_gguf_model(std::shared_ptr<const GgufFile> file,
                                                            const LoadOptions& options) {
  if (!file) return invalid_argument("load_gguf_model: no file");
  const GgufFile& f = *file;
  GgufModelBuilder builder(f, options);
  return builder.build(std::move(file));
}

}  // namespace effitune::engine
