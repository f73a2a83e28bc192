#include "cpu/cpu_backend.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <string>
#include <thread>

#include <sys/mman.h>

#include "cpu/ops.h"
#include "cpu/simd.h"

namespace effitune::engine::cpu {
namespace {

// Below this many tokens a row-wise op (norm, RoPE) costs less than waking the other threads.
constexpr int64_t kSerialTokens = 4;

// Bytes the kernel can still give us without swapping (MemAvailable), or 0 when unknown.
int64_t available_memory_bytes() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  int64_t value = 0;
  std::string unit;
  while (in >> key >> value >> unit) {
    if (key == "MemAvailable:") return value * 1024;
  }
  return 0;
}

Status check_tensor(const TensorView& t, int64_t rows, int64_t cols, const char* what, bool projection) {
  if (t.data == nullptr || t.rows != rows || t.cols != cols) {
    return invalid_argument(std::string("cpu backend: tensor '") + what + "' has shape [" + std::to_string(t.rows) +
                            ", " + std::to_string(t.cols) + "], expected [" + std::to_string(rows) + ", " +
                            std::to_string(cols) + "]");
  }
  if (projection ? !matmul_supports(t.type) : t.type != DType::kF32) {
    return invalid_argument(std::string("cpu backend: tensor '") + what + "' has unsupported type " +
                            std::string(dtype_name(t.type)));
  }
  return {};
}

Status check_weights(const ModelWeights& w) {
  const ModelConfig& c = w.config;
  if (c.dim <= 0 || c.n_heads <= 0 || c.n_kv_heads <= 0 || c.n_layers <= 0 || c.vocab_size <= 0 ||
      c.hidden_dim <= 0 || (c.head_dim_override == 0 && c.dim % c.n_heads != 0) || c.n_heads % c.n_kv_heads != 0 || c.head_dim() % 2 != 0) {
    return invalid_argument("cpu backend: inconsistent model config (dim " + std::to_string(c.dim) + ", heads " +
                            std::to_string(c.n_heads) + ", kv heads " + std::to_string(c.n_kv_heads) + ")");
  }
  if (!c.rope_freq_factors.empty() && static_cast<int32_t>(c.rope_freq_factors.size()) != c.head_dim() / 2)
    return invalid_argument("cpu backend: rope_freq_factors must have head_dim/2 entries");
  if (static_cast<int32_t>(w.layers.size()) != c.n_layers)
    return invalid_argument("cpu backend: weights have " + std::to_string(w.layers.size()) + " layers, config says " +
                            std::to_string(c.n_layers));
  const int64_t d = c.dim, f = c.hidden_dim, kv = c.kv_dim(), v = c.vocab_size, qd = c.q_dim();
  EFFITUNE_RETURN_IF_ERROR(check_tensor(w.token_embedding, v, d, "token_embd", true));
  EFFITUNE_RETURN_IF_ERROR(check_tensor(w.output, v, d, "output", true));
  EFFITUNE_RETURN_IF_ERROR(check_tensor(w.output_norm, 1, d, "output_norm", false));
  for (const LayerWeights& l : w.layers) {
    EFFITUNE_RETURN_IF_ERROR(check_tensor(l.attn_norm, 1, d, "attn_norm", false));
    EFFITUNE_RETURN_IF_ERROR(check_tensor(l.ffn_norm, 1, d, "ffn_norm", false));
    EFFITUNE_RETURN_IF_ERROR(check_tensor(l.wq, qd, d, "attn_q", true));
    EFFITUNE_RETURN_IF_ERROR(check_tensor(l.wk, kv, d, "attn_k", true));
    EFFITUNE_RETURN_IF_ERROR(check_tensor(l.wv, kv, d, "attn_v", true));
    EFFITUNE_RETURN_IF_ERROR(check_tensor(l.wo, d, qd, "attn_output", true));
    EFFITUNE_RETURN_IF_ERROR(check_tensor(l.w_gate, f, d, "ffn_gate", true));
    EFFITUNE_RETURN_IF_ERROR(check_tensor(l.w_up, f, d, "ffn_up", true));
    EFFITUNE_RETURN_IF_ERROR(check_tensor(l.w_down, d, f, "ffn_down", true));
  }
  return {};
}

void add_into(float* x, const float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] += y[i];
}

const PackedMatrix* or_null(const PackedMatrix& p) { return p.rows() > 0 ? &p : nullptr; }

}  // namespace

Result<std::unique_ptr<CpuBackend>> CpuBackend::create(std::shared_ptr<const ModelWeights> weights,
                                                       const BackendOptions& options, Communicator* comm) {
  if (!weights) return invalid_argument("cpu backend: no model weights");
  if (options.threads < 0 || options.threads > 1024)
    return invalid_argument("cpu backend: threads must be 0 (all cores) or 1..1024, got " +
                            std::to_string(options.threads));
  if (options.kv_block_size <= 0 || options.kv_block_size > 4096)
    return invalid_argument("cpu backend: kv_block_size must be 1..4096, got " + std::to_string(options.kv_block_size));
  if (options.kv_blocks < 0)
    return invalid_argument("cpu backend: kv_blocks must be >= 0, got " + std::to_string(options.kv_blocks));
  EFFITUNE_RETURN_IF_ERROR(check_weights(*weights));

  const ModelConfig& c = weights->config;
  KvLayout layout;
  layout.n_layers = c.n_layers;
  layout.n_blocks = options.kv_blocks;
  layout.n_kv_heads = c.n_kv_heads;
  layout.block_size = options.kv_block_size;
  layout.head_dim = c.head_dim();
  // Every factor is < 2^31, so the product of two fits in int64; the last one is checked.
  const int64_t per_block = static_cast<int64_t>(layout.n_layers) * layout.block_floats() * 2 * 4;
  if (layout.n_blocks > 0 && per_block > std::numeric_limits<int64_t>::max() / layout.n_blocks)
    return resource_exhausted("cpu backend: KV cache size overflows; lower kv_blocks");
  const int64_t kv_bytes = per_block * layout.n_blocks;
  const int64_t avail = available_memory_bytes();
  if (avail > 0 && kv_bytes > avail) {
    return resource_exhausted("cpu backend: KV cache of " + std::to_string(kv_bytes >> 20) + " MiB (" +
                              std::to_string(layout.n_blocks) + " blocks) does not fit in the " +
                              std::to_string(avail >> 20) + " MiB of available memory; lower kv_cache_tokens");
  }
  auto backend = std::unique_ptr<CpuBackend>(new CpuBackend(std::move(weights), options, layout));
  backend->comm_ = comm;
  // Allocation without value-initialization: pages are committed on first write, per block used.
  const size_t floats = static_cast<size_t>(layout.total_floats());
  backend->k_cache_.reset(new (std::nothrow) float[floats > 0 ? floats : 1]);
  backend->v_cache_.reset(new (std::nothrow) float[floats > 0 ? floats : 1]);
  if (!backend->k_cache_ || !backend->v_cache_)
    return resource_exhausted("cpu backend: cannot allocate " + std::to_string(kv_bytes >> 20) + " MiB of KV cache");
  backend->pack_weights();
  return backend;
}

CpuBackend::CpuBackend(std::shared_ptr<const ModelWeights> weights, const BackendOptions& options, KvLayout layout)
    : weights_(std::move(weights)),
      options_(options),
      layout_(layout),
      pool_(options.threads > 0 ? options.threads : std::max(1, static_cast<int>(std::thread::hardware_concurrency()))) {}

void CpuBackend::pack_weights() {
  const char* off = std::getenv("EFFITUNE_CPU_NO_REPACK");
  if (off != nullptr && std::string(off) == "1") return;
  const ModelWeights& w = *weights_;
  std::vector<const TensorView*> sources;
  for (const LayerWeights& l : w.layers)
    for (const TensorView* t : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down}) sources.push_back(t);
  sources.push_back(&w.output);
  int64_t total = 0;
  for (const TensorView* t : sources)
    if (PackedMatrix::can_pack(*t)) total += PackedMatrix::packed_bytes(*t);
  if (total == 0) return;
  // One arena, asked for in 2 MiB pages: a decode step streams all of it, and 4 KiB pages put a TLB
  // miss every 4 KiB of that stream (no difference measured on the 2-core bench host, but it costs
  // nothing). Without transparent huge pages, or if madvise fails, it works the same.
  constexpr size_t kHugePage = size_t{2} << 20;
  const size_t bytes = (static_cast<size_t>(total) + kHugePage - 1) / kHugePage * kHugePage;
  auto* arena = static_cast<uint8_t*>(std::aligned_alloc(kHugePage, bytes));
  if (arena == nullptr) return;  // the row-major kernels need no extra memory
  madvise(arena, bytes, MADV_HUGEPAGE);
  packed_arena_.reset(arena);
  uint8_t* cursor = arena;
  auto pack = [&](const TensorView& t) {
    if (!PackedMatrix::can_pack(t)) return PackedMatrix();
    PackedMatrix p = PackedMatrix::pack(t, cursor);
    cursor += PackedMatrix::packed_bytes(t);
    return p;
  };
  packed_.resize(w.layers.size());
  for (size_t i = 0; i < w.layers.size(); ++i) {
    const LayerWeights& l = w.layers[i];
    PackedLayer& p = packed_[i];
    p.wq = pack(l.wq);
    p.wk = pack(l.wk);
    p.wv = pack(l.wv);
    p.wo = pack(l.wo);
    p.gate = pack(l.w_gate);
    p.up = pack(l.w_up);
    p.down = pack(l.w_down);
  }
  packed_output_ = pack(w.output);
}

std::string CpuBackend::device_name() const {
#if defined(__x86_64__)
  const char* arch = "x86_64";
#elif defined(__aarch64__)
  const char* arch = "aarch64";
#else
  const char* arch = "unknown-arch";
#endif
  return "cpu (" + std::to_string(pool_.size()) + (pool_.size() == 1 ? " thread, " : " threads, ") + arch + " " +
         simd_description() + ")";
}

int64_t CpuBackend::kv_bytes_per_block() const { return static_cast<int64_t>(layout_.n_layers) * layout_.block_floats() * 2 * 4; }

int64_t CpuBackend::weight_bytes() const {
  const ModelWeights& w = *weights_;
  int64_t total = w.token_embedding.bytes() + w.output_norm.bytes();
  if (w.output.data != w.token_embedding.data) total += w.output.bytes();
  for (const LayerWeights& l : w.layers)
    for (const TensorView* t : {&l.attn_norm, &l.wq, &l.wk, &l.wv, &l.wo, &l.ffn_norm, &l.w_gate, &l.w_down, &l.w_up})
      total += t->bytes();
  return total;
}

void CpuBackend::copy_block(int32_t src, int32_t dst) {
  EFFITUNE_CHECK(src >= 0 && src < layout_.n_blocks && dst >= 0 && dst < layout_.n_blocks,
                 "cpu backend: copy_block id out of range");
  const size_t bytes = sizeof(float) * static_cast<size_t>(layout_.block_floats());
  for (int32_t l = 0; l < layout_.n_layers; ++l) {
    std::memcpy(k_cache_.get() + layout_.offset(l, dst, 0), k_cache_.get() + layout_.offset(l, src, 0), bytes);
    std::memcpy(v_cache_.get() + layout_.offset(l, dst, 0), v_cache_.get() + layout_.offset(l, src, 0), bytes);
  }
}

Status CpuBackend::validate(std::span<const SequenceStep> steps) const {
  const int32_t vocab = weights_->config.vocab_size;
  for (size_t s = 0; s < steps.size(); ++s) {
    const SequenceStep& st = steps[s];
    const std::string where = "forward: step " + std::to_string(s) + ": ";
    if (st.tokens.empty()) return invalid_argument(where + "no tokens");
    if (st.start_pos < 0) return invalid_argument(where + "negative start_pos");
    for (int32_t t : st.tokens)
      if (t < 0 || t >= vocab)
        return invalid_argument(where + "token id " + std::to_string(t) + " outside the vocabulary [0, " +
                                std::to_string(vocab) + ")");
    const int64_t end = static_cast<int64_t>(st.start_pos) + static_cast<int64_t>(st.tokens.size());
    const int64_t blocks = (end + layout_.block_size - 1) / layout_.block_size;
    if (static_cast<int64_t>(st.block_table.size()) < blocks)
      return invalid_argument(where + "block table has " + std::to_string(st.block_table.size()) + " blocks, " +
                              std::to_string(blocks) + " needed for " + std::to_string(end) + " positions");
    for (int64_t b = 0; b < blocks; ++b) {
      const int32_t id = st.block_table[static_cast<size_t>(b)];
      if (id < 0 || id >= layout_.n_blocks)
        return invalid_argument(where + "block id " + std::to_string(id) + " outside the KV storage of " +
                                std::to_string(layout_.n_blocks) + " blocks");
    }
  }
  return {};
}

void CpuBackend::attention_layer(int32_t layer, std::span<const SequenceStep> steps) {
  const ModelConfig& c = weights_->config;
  const int32_t hd = c.head_dim(), nh = c.n_heads, group = c.n_heads / c.n_kv_heads;
  const int64_t qd = c.q_dim(), kvd = c.kv_dim(), n_tok = static_cast<int64_t>(tok_pos_.size());

  // RoPE on the new Q/K rows, then K/V into the cache; every row must be in place before any token
  // of the step attends to it.
  auto rope_store = [&](int64_t t) {
    const float* cs = rope_cs_.data() + t * hd;
    rope_apply(q_.data() + t * qd, nh, hd, cs);
    rope_apply(k_.data() + t * kvd, c.n_kv_heads, hd, cs);
    const SequenceStep& st = steps[static_cast<size_t>(tok_step_[static_cast<size_t>(t)])];
    kv_store(k_cache_.get(), layout_, layer, st.block_table, tok_pos_[static_cast<size_t>(t)], k_.data() + t * kvd);
    kv_store(v_cache_.get(), layout_, layer, st.block_table, tok_pos_[static_cast<size_t>(t)], v_.data() + t * kvd);
  };
  if (n_tok < kSerialTokens) {
    for (int64_t t = 0; t < n_tok; ++t) rope_store(t);
  } else {
    pool_.run_chunks(n_tok, 4, [&](int, int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) rope_store(t);
    });
  }

  // One task per (token, head), claimed in small chunks: the causal triangle of a prefill makes later
  // tokens' tasks longer, and dynamic claiming balances that.
  const int64_t tasks = n_tok * nh;
  const size_t stride = scores_.size() / static_cast<size_t>(pool_.size());
  const int64_t grain = std::max<int64_t>(1, tasks / (8 * static_cast<int64_t>(pool_.size())));
  pool_.run_chunks(tasks, grain, [&](int thread, int64_t task0, int64_t task1) {
    float* scores = scores_.data() + static_cast<size_t>(thread) * stride;
    for (int64_t task = task0; task < task1; ++task) {
      const int64_t t = task / nh;
      const int32_t h = static_cast<int32_t>(task % nh);
      const SequenceStep& st = steps[static_cast<size_t>(tok_step_[static_cast<size_t>(t)])];
      attend_head(q_.data() + t * qd + static_cast<int64_t>(h) * hd, k_cache_.get(), v_cache_.get(), layout_, layer,
                  st.block_table, tok_pos_[static_cast<size_t>(t)], h / group, scores,
                  att_.data() + t * qd + static_cast<int64_t>(h) * hd);
    }
  });
}

Status CpuBackend::forward(std::span<const SequenceStep> steps, std::vector<float>& logits) {
  EFFITUNE_RETURN_IF_ERROR(validate(steps));
  const ModelWeights& w = *weights_;
  const ModelConfig& c = w.config;
  const int64_t dim = c.dim, qd = c.q_dim(), kvd = c.kv_dim(), hidden = c.hidden_dim, vocab = c.vocab_size;
  const int32_t hd = c.head_dim();

  tok_pos_.clear();
  tok_step_.clear();
  std::vector<int64_t> out_rows;
  int32_t max_pos = 0;
  for (size_t s = 0; s < steps.size(); ++s) {
    const SequenceStep& st = steps[s];
    const int64_t first = static_cast<int64_t>(tok_pos_.size());
    for (size_t i = 0; i < st.tokens.size(); ++i) {
      tok_pos_.push_back(st.start_pos + static_cast<int32_t>(i));
      tok_step_.push_back(static_cast<int32_t>(s));
      if (st.all_logits) out_rows.push_back(first + static_cast<int64_t>(i));
    }
    if (!st.all_logits) out_rows.push_back(static_cast<int64_t>(tok_pos_.size()) - 1);
    max_pos = std::max(max_pos, tok_pos_.back());
  }
  const int64_t n_tok = static_cast<int64_t>(tok_pos_.size());
  logits.assign(out_rows.size() * static_cast<size_t>(vocab), 0.0f);
  if (n_tok == 0) return {};

  x_.resize(static_cast<size_t>(n_tok * dim));
  xn_.resize(x_.size());
  q_.resize(static_cast<size_t>(n_tok * qd));
  att_.resize(q_.size());
  tmp_.resize(x_.size());
  k_.resize(static_cast<size_t>(n_tok * kvd));
  v_.resize(k_.size());
  gate_.resize(static_cast<size_t>(n_tok * hidden));
  up_.resize(gate_.size());
  rope_cs_.resize(static_cast<size_t>(n_tok * hd));
  scores_.resize(static_cast<size_t>(pool_.size()) * static_cast<size_t>(max_pos + 1));

  {
    size_t t = 0;
    for (const SequenceStep& st : steps)
      for (int32_t tok : st.tokens) {
        embedding_row(w.token_embedding, tok, x_.data() + t * dim);
        rope_table(tok_pos_[t], hd, c.rope_theta, c.rope_freq_factors, rope_cs_.data() + t * hd);
        ++t;
      }
  }

  auto for_tokens = [&](auto&& fn) {
    if (n_tok < kSerialTokens) {
      for (int64_t t = 0; t < n_tok; ++t) fn(t);
      return;
    }
    pool_.run_chunks(n_tok, 4, [&](int, int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) fn(t);
    });
  };

  for (int32_t l = 0; l < c.n_layers; ++l) {
    const LayerWeights& lw = w.layers[static_cast<size_t>(l)];
    static const PackedLayer kNone;
    const PackedLayer& pl = packed_.empty() ? kNone : packed_[static_cast<size_t>(l)];
    for_tokens([&](int64_t t) { rms_norm(x_.data() + t * dim, lw.attn_norm.f32(), dim, c.rms_eps, xn_.data() + t * dim); });
    const MatmulJob qkv[] = {{&lw.wq, q_.data(), qd, or_null(pl.wq)},
                             {&lw.wk, k_.data(), kvd, or_null(pl.wk)},
                             {&lw.wv, v_.data(), kvd, or_null(pl.wv)}};
    matmul(pool_, qkv, xn_.data(), n_tok, dim, q8_);
    attention_layer(l, steps);
    const MatmulJob wo[] = {{&lw.wo, tmp_.data(), dim, or_null(pl.wo)}};
    matmul(pool_, wo, att_.data(), n_tok, qd, q8_);
    // A tensor-parallel shard holds a slice of the heads: its output is a partial sum over them.
    if (comm_ != nullptr) EFFITUNE_RETURN_IF_ERROR(comm_->all_reduce_sum(tmp_.data(), n_tok * dim, nullptr));
    for_tokens([&](int64_t t) {
      add_into(x_.data() + t * dim, tmp_.data() + t * dim, dim);
      rms_norm(x_.data() + t * dim, lw.ffn_norm.f32(), dim, c.rms_eps, xn_.data() + t * dim);
    });
    matmul_swiglu(pool_, lw.w_gate, lw.w_up, xn_.data(), n_tok, dim, gate_.data(), up_.data(), hidden, q8_,
                  or_null(pl.gate), or_null(pl.up));
    const MatmulJob down[] = {{&lw.w_down, tmp_.data(), dim, or_null(pl.down)}};
    matmul(pool_, down, gate_.data(), n_tok, hidden, q8_);
    if (comm_ != nullptr) EFFITUNE_RETURN_IF_ERROR(comm_->all_reduce_sum(tmp_.data(), n_tok * dim, nullptr));
    for_tokens([&](int64_t t) { add_into(x_.data() + t * dim, tmp_.data() + t * dim, dim); });
  }

  // Final norm and classifier only for the rows whose logits were asked for.
  const int64_t n_out = static_cast<int64_t>(out_rows.size());
  for (int64_t r = 0; r < n_out; ++r)
    rms_norm(x_.data() + out_rows[static_cast<size_t>(r)] * dim, w.output_norm.f32(), dim, c.rms_eps,
             xn_.data() + r * dim);
  const MatmulJob out[] = {{&w.output, logits.data(), vocab, or_null(packed_output_)}};
  matmul(pool_, out, xn_.data(), n_out, dim, q8_);
  return {};
}

}  // namespace effitune::engine::cpu
