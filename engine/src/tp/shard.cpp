#include "tp/shard.h"

#include <cstring>
#include <string>
#include <tuple>
#include <vector>

namespace effitune::engine::tp {
namespace {

// Rows [r0, r0 + n) of `t`: a view, no copy.
TensorView row_slice(const TensorView& t, int64_t r0, int64_t n) {
  TensorView v = t;
  v.rows = n;
  if (t.data != nullptr) v.data = t.row(r0);
  return v;
}

// Columns [c0, c0 + n) of `t`, copied into a buffer that `out` keeps alive.
TensorView col_slice(const TensorView& t, int64_t c0, int64_t n, ModelWeights& out) {
  TensorView v = t;
  v.cols = n;
  if (t.data == nullptr) return v;
  const int64_t src_row = t.row_bytes(), dst_row = v.row_bytes(), skip = dtype_row_bytes(t.type, c0);
  auto buf = std::shared_ptr<uint8_t[]>(new uint8_t[static_cast<size_t>(dst_row * t.rows)]);
  const auto* src = static_cast<const uint8_t*>(t.data);
  for (int64_t r = 0; r < t.rows; ++r) std::memcpy(buf.get() + r * dst_row, src + r * src_row + skip, dst_row);
  v.data = buf.get();
  out.storage.push_back(std::shared_ptr<const void>(buf, buf.get()));
  return v;
}

std::string divisors_hint(const ModelConfig& c) {
  std::string s;
  for (int32_t n = 1; n <= c.n_kv_heads; ++n)
    if (c.n_heads % n == 0 && c.n_kv_heads % n == 0 && c.hidden_dim % n == 0) s += (s.empty() ? "" : ", ") + std::to_string(n);
  return s;
}

}  // namespace

Status check_degree(const ModelWeights& w, int32_t n) {
  const ModelConfig& c = w.config;
  if (n < 1) return invalid_argument("gpu_count must be >= 1, got " + std::to_string(n));
  auto refuse = [&](const std::string& what, int64_t count) {
    return invalid_argument("gpu_count " + std::to_string(n) + " does not divide " + what + " (" + std::to_string(count) +
                            ") of " + c.name + "; tensor-parallel degrees that work for this model: " + divisors_hint(c));
  };
  if (c.n_heads % n != 0) return refuse("the attention heads", c.n_heads);
  if (c.n_kv_heads % n != 0) return refuse("the KV heads", c.n_kv_heads);
  if (c.hidden_dim % n != 0) return refuse("the feed-forward size", c.hidden_dim);
  if (n == 1 || w.layers.empty()) return {};
  // The row-parallel tensors are cut along their columns: a cut inside a quantization block would
  // split its scale.
  const int64_t q_cut = c.q_dim() / n, f_cut = c.hidden_dim / n;
  const LayerWeights& l = w.layers.front();
  for (const auto& [t, cut, what] : {std::tuple{&l.wo, q_cut, "attn_output"}, std::tuple{&l.w_down, f_cut, "ffn_down"}}) {
    const int64_t block = dtype_block_elems(t->type);
    if (cut % block != 0)
      return invalid_argument("gpu_count " + std::to_string(n) + " cuts " + what + " into slices of " + std::to_string(cut) +
                              " columns, not a multiple of its " + std::string(dtype_name(t->type)) + " block of " +
                              std::to_string(block) + "; use a smaller gpu_count or a float weight type");
  }
  return {};
}

Result<std::shared_ptr<const ModelWeights>> shard_weights(std::shared_ptr<const ModelWeights> full, int32_t rank,
                                                          int32_t n, bool split_lm_head) {
  if (!full) return invalid_argument("shard_weights: no weights");
  EFFITUNE_RETURN_IF_ERROR(check_degree(*full, n));
  if (rank < 0 || rank >= n)
    return invalid_argument("shard_weights: rank " + std::to_string(rank) + " outside [0, " + std::to_string(n) + ")");
  const ModelConfig& c = full->config;
  auto s = std::make_shared<ModelWeights>();
  s->config = c;
  s->config.n_heads = c.n_heads / n;
  s->config.n_kv_heads = c.n_kv_heads / n;
  s->config.hidden_dim = c.hidden_dim / n;
  s->config.head_dim_override = c.head_dim();
  s->token_embedding = full->token_embedding;
  s->output_norm = full->output_norm;
  s->output = full->output;
  if (split_lm_head && n > 1 && c.vocab_size % n == 0) {
    const int64_t rows = c.vocab_size / n;
    s->output = row_slice(full->output, rank * rows, rows);
    s->config.tied_output = false;  // a slice of the embedding is no longer the embedding
  }
  s->storage.push_back(full);  // the row views and replicated tensors point into it
  const int64_t qd = s->config.q_dim(), kvd = s->config.kv_dim(), f = s->config.hidden_dim;
  for (const LayerWeights& l : full->layers) {
    LayerWeights o;
    o.attn_norm = l.attn_norm;
    o.ffn_norm = l.ffn_norm;
    o.wq = row_slice(l.wq, rank * qd, qd);
    o.wk = row_slice(l.wk, rank * kvd, kvd);
    o.wv = row_slice(l.wv, rank * kvd, kvd);
    o.w_gate = row_slice(l.w_gate, rank * f, f);
    o.w_up = row_slice(l.w_up, rank * f, f);
    o.wo = col_slice(l.wo, rank * qd, qd, *s);
    o.w_down = col_slice(l.w_down, rank * f, f, *s);
    s->layers.push_back(o);
  }
  return std::shared_ptr<const ModelWeights>(std::move(s));
}

}  // namespace effitune::engine::tp
