#include "cuda_backend.cuh"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "attention.cuh"
#include "common.cuh"
#include "kernel_trace.h"
#include "p2p_comm.h"
#include "sampling.cuh"
#include "tp_argmax.cuh"
#include "tp/tp_backend.h"

namespace effitune::engine::cuda {
namespace {

constexpr int64_t kAlign = 256;
constexpr int64_t kReserveBytes = 256 << 20;  // CUDA context, cuBLAS kernels, allocator slack

int64_t align_up(int64_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

int64_t pow2_at_least(int64_t n) {
  int64_t p = 1;
  while (p < n) p <<= 1;
  return p;
}

// Decode batches are padded up to these sizes so that a few graphs serve every batch.
int32_t batch_bucket(int32_t n) {
  static constexpr int32_t kBuckets[] = {1, 2, 4, 8, 16, 24, 32, 48, 64, 96, 128, 160, 192, 224, 256};
  for (int32_t b : kBuckets)
    if (n <= b) return b;
  return static_cast<int32_t>((n + 63) / 64 * 64);
}

struct WsLayout {
  int64_t x, xn, part, qkv, attn, gu, h, sel, logits, tok_out, keys, gather, part_o, part_ml, meta, total;
};

// `ranks`: the tensor-parallel degree (1 without a communicator).
WsLayout ws_layout(const ModelConfig& c, ActType act, const StepShape& s, int32_t ranks) {
  const int64_t a = act_bytes(act), hd = c.head_dim();
  const int64_t q_dim = static_cast<int64_t>(c.n_heads) * hd, kv_dim = c.kv_dim();
  WsLayout l{};
  int64_t off = 0;
  auto take = [&](int64_t bytes) {
    const int64_t o = off;
    off += align_up(std::max<int64_t>(bytes, 1));
    return o;
  };
  l.x = take(s.tokens * c.dim * 4);
  l.xn = take(s.tokens * c.dim * a);
  l.part = take(ranks > 1 ? s.tokens * c.dim * 4 : 0);  // row-parallel partials when not staged directly
  l.qkv = take(s.tokens * (q_dim + 2 * kv_dim) * a);
  l.attn = take(s.tokens * q_dim * a);
  l.gu = take(s.tokens * 2 * c.hidden_dim * a);
  l.h = take(s.tokens * c.hidden_dim * a);
  l.sel = take(s.rows * c.dim * a);
  l.logits = take(s.rows * c.vocab_size * 4);
  l.tok_out = take(s.rows * 4);
  l.keys = take(s.rows * 8);
  l.gather = take(ranks > 1 ? tp_argmax_gather_floats(static_cast<int32_t>(s.rows), ranks) * 4 : 0);
  l.part_o = take(s.steps * c.n_heads * s.splits * hd * 4);
  l.part_ml = take(s.steps * c.n_heads * s.splits * 2 * 4);
  l.meta = take(s.meta_ints * 4);
  l.total = off;
  return l;
}

std::string gib(int64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f GiB", static_cast<double>(bytes) / (1 << 30));
  return buf;
}

}  // namespace

Result<std::unique_ptr<Backend>> CudaBackend::create(std::shared_ptr<const ModelWeights> weights,
                                                     const BackendOptions& options, const CudaBackendExtras& extras) {
  if (!weights) return invalid_argument("cuda: no weights");
  if (options.gpu_count != 1)
    return invalid_argument("cuda: one backend drives one GPU; gpu_count " + std::to_string(options.gpu_count) +
                            " goes through make_cuda_backend");
  if (options.kv_block_size < 1) return invalid_argument("cuda: kv_block_size must be >= 1");
  if (options.kv_blocks < 0) return invalid_argument("cuda: kv_blocks must be >= 0");
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) {
    cudaGetLastError();
    return unavailable("cuda: no CUDA device is visible");
  }
  if (options.device < 0 || options.device >= count)
    return invalid_argument("cuda: device " + std::to_string(options.device) + " does not exist (" +
                            std::to_string(count) + " visible)");
  CUDA_RETURN_IF_ERROR(cudaSetDevice(options.device));

  std::unique_ptr<CudaBackend> b(new CudaBackend());
  b->weights_ = weights;
  b->cfg_ = weights->config;
  b->options_ = options;
  b->extras_ = extras;
  if (env_flag("EFFITUNE_TP_PROFILE", false)) b->host_prof_ = std::make_unique<HostProfile>();
  b->fuse_decode_ = env_flag("EFFITUNE_CUDA_FUSE", true);
  b->tp_greedy_keys_ = env_flag("EFFITUNE_TP_GREEDY_KEYS", true);
  b->sample_argmax_route_ = env_flag("EFFITUNE_SAMPLE_GREEDY_ROUTE", true);
  cudaDeviceProp prop{};
  CUDA_RETURN_IF_ERROR(cudaGetDeviceProperties(&prop, options.device));
  b->device_name_ = prop.name;
  start_kernel_trace_from_env();  // EFFITUNE_CUDA_TRACE: the runtime is up now
  EFFITUNE_ASSIGN_OR_RETURN(b->model_, DeviceModel::plan(*weights));
  b->act_ = b->model_->act();
  b->part_type_ = tp_partial_type(b->act_);
  // The projections write their partials where the all-reduce reads them (no copy kernel phase);
  // EFFITUNE_TP_DIRECT_PARTIAL=0 writes them to a buffer of the backend's instead (A/B timing).
  b->direct_partials_ = env_flag("EFFITUNE_TP_DIRECT_PARTIAL", true);
  // MB of the next projection's weights each residual update pulls into L2 (0 turns it off). It pays
  // only while HBM would idle, that is while the exchange waits on NVLink, which grows with the peer
  // count. 8B bf16 batch 64 on 4 x H100 (session 9, twice each, MB 16 / 0 / 8 / 32): TP=2
  // 14,647-14,741 / 14,883-14,943 / 14,814-14,865 / 14,634-14,694 tok/s; TP=4 19,574-19,774 /
  // 19,702-19,744 / 19,761-19,890 / 19,410-19,468. So none at TP=2 and 8 MB from TP=4 up.
  const char* mb = std::getenv("EFFITUNE_TP_PREFETCH_MB");
  const int32_t ranks = extras.comm != nullptr ? extras.comm->size() : 1;
  const double prefetch_mb = mb != nullptr ? std::atof(mb) : ranks >= 4 ? 8.0 : 0.0;
  b->tp_prefetch_bytes_ = static_cast<int64_t>(prefetch_mb * (1 << 20));
  const ModelConfig& c = b->cfg_;

  // Account for everything before allocating anything large.
  b->kv_layer_bytes_ = (static_cast<int64_t>(options.kv_blocks) + 1) * options.kv_block_size * c.kv_dim() * act_bytes(b->act_);
  b->kv_block_bytes_ = 2LL * c.n_layers * options.kv_block_size * c.kv_dim() * act_bytes(b->act_);
  const int64_t kv_total = 2LL * c.n_layers * b->kv_layer_bytes_;
  const int64_t mm_bytes = MatmulContext::bytes_needed(b->model_->largest_quant_elems());
  const int64_t ws_bytes = ws_layout(c, b->act_, {512, 64, 64, 8, 4096}, ranks).total;
  const int64_t need = b->model_->bytes() + kv_total + mm_bytes + ws_bytes + kReserveBytes;
  size_t free_b = 0, total_b = 0;
  CUDA_RETURN_IF_ERROR(cudaMemGetInfo(&free_b, &total_b));
  if (need > static_cast<int64_t>(free_b)) {
    return resource_exhausted("cuda: weights " + gib(b->model_->bytes()) + " + KV cache " + gib(kv_total) + " (" +
                              std::to_string(options.kv_blocks) + " blocks) + scratch " + gib(mm_bytes + ws_bytes) +
                              " exceed the " + gib(free_b) + " free on " + b->device_name_ +
                              "; use fewer KV blocks (smaller kv_cache_tokens or max_sequences) or a smaller weight type "
                              "(q8_0 / q4_0)");
  }

  CUDA_RETURN_IF_ERROR(cudaStreamCreateWithFlags(&b->stream_, cudaStreamNonBlocking));
  if (extras.random_weights) {
    EFFITUNE_RETURN_IF_ERROR(b->model_->randomize(extras.seed, b->stream_));
  } else {
    EFFITUNE_RETURN_IF_ERROR(b->model_->upload(*weights));
  }
  EFFITUNE_RETURN_IF_ERROR(b->mm_.init(b->model_->largest_quant_elems(), b->stream_));
  CUDA_RETURN_IF_ERROR(cudaMalloc(&b->kv_, kv_total));
  // Unwritten KV slots are never read (attention stops at each sequence's length); zero them anyway
  // so that a bug shows as a wrong value rather than NaN noise.
  CUDA_RETURN_IF_ERROR(cudaMemsetAsync(b->kv_, 0, kv_total, b->stream_));
  b->trash_block_ = options.kv_blocks;

  const int half = c.head_dim() / 2;
  std::vector<double> inv(half);
  for (int i = 0; i < half; ++i) {
    double f = std::pow(static_cast<double>(c.rope_theta), -2.0 * i / c.head_dim());
    if (static_cast<int>(c.rope_freq_factors.size()) == half) f /= c.rope_freq_factors[i];
    inv[i] = f;
  }
  CUDA_RETURN_IF_ERROR(cudaMalloc(&b->inv_freq_, half * sizeof(double)));
  CUDA_RETURN_IF_ERROR(cudaMemcpy(b->inv_freq_, inv.data(), half * sizeof(double), cudaMemcpyHostToDevice));
  CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(b->stream_));
  return std::unique_ptr<Backend>(std::move(b));
}

CudaBackend::~CudaBackend() {
  if (stream_) cudaStreamSynchronize(stream_);
  if (host_prof_ && host_prof_->steps > 0) {
    const HostProfile& h = *host_prof_;
    const double us = 1e6 / static_cast<double>(h.steps);
    std::fprintf(stderr,
                 "effitune: TP host profile, rank %d: %lld decode steps that replayed a graph; per step, us: prepare %.1f, gate 1 %.1f, launch %.1f, "
                 "gate 2 %.1f, end of step %.1f, outside the backend %.1f\n",
                 extras_.comm != nullptr ? extras_.comm->rank() : 0, static_cast<long long>(h.steps), h.prepare * us, h.gate1 * us, h.launch * us,
                 h.gate2 * us, h.finish * us, h.outside * us);
  }
  for (auto& [key, g] : graphs_) cudaGraphExecDestroy(g.exec);
  cudaFree(ws_);
  cudaFreeHost(meta_host_);
  cudaFree(kv_);
  cudaFree(inv_freq_);
  if (stream_) cudaStreamDestroy(stream_);
}

void CudaBackend::synchronize() { cudaStreamSynchronize(stream_); }

void CudaBackend::copy_block(int32_t src, int32_t dst) {
  EFFITUNE_CHECK(src >= 0 && src < options_.kv_blocks && dst >= 0 && dst < options_.kv_blocks,
                 "copy_block: block id out of range");
  const int64_t bb = kv_block_bytes_ / (2LL * cfg_.n_layers);
  char* base = static_cast<char*>(kv_);
  // K and V of every layer are rows of pitch kv_layer_bytes_: one strided copy moves them all.
  const cudaError_t e = cudaMemcpy2DAsync(base + dst * bb, kv_layer_bytes_, base + src * bb, kv_layer_bytes_, bb,
                                          2LL * cfg_.n_layers, cudaMemcpyDeviceToDevice, stream_);
  EFFITUNE_CHECK(e == cudaSuccess, std::string("copy_block: ") + cudaGetErrorString(e));
}

Status CudaBackend::build_plan(std::span<const SequenceStep> steps, Plan& p) {
  if (steps.empty()) return invalid_argument("forward: no steps");
  const int32_t bs = options_.kv_block_size;
  int64_t tokens = 0, rows = 0, max_blocks = 1, max_len = 1, tiles = 0;
  bool decode = true;
  const int tile_tokens = prefill_tile_tokens(cfg_.n_heads, cfg_.n_kv_heads);
  for (size_t i = 0; i < steps.size(); ++i) {
    const SequenceStep& s = steps[i];
    const int64_t n = static_cast<int64_t>(s.tokens.size());
    if (n == 0) return invalid_argument("forward: step " + std::to_string(i) + " has no tokens");
    if (s.start_pos < 0) return invalid_argument("forward: step " + std::to_string(i) + " has a negative start_pos");
    for (int32_t t : s.tokens)
      if (t < 0 || t >= cfg_.vocab_size)
        return invalid_argument("forward: token id " + std::to_string(t) + " in step " + std::to_string(i) +
                                " is outside the vocabulary [0, " + std::to_string(cfg_.vocab_size) + ")");
    const int64_t len = s.start_pos + n, need = (len + bs - 1) / bs;
    if (static_cast<int64_t>(s.block_table.size()) < need)
      return invalid_argument("forward: step " + std::to_string(i) + " needs " + std::to_string(need) +
                              " blocks for " + std::to_string(len) + " positions but its block table has " +
                              std::to_string(s.block_table.size()));
    for (int64_t j = 0; j < need; ++j)
      if (s.block_table[j] < 0 || s.block_table[j] >= options_.kv_blocks)
        return invalid_argument("forward: step " + std::to_string(i) + " names block " +
                                std::to_string(s.block_table[j]) + " outside [0, " + std::to_string(options_.kv_blocks) + ")");
    tokens += n;
    rows += s.all_logits ? n : 1;
    max_blocks = std::max(max_blocks, need);
    max_len = std::max(max_len, len);
    tiles += (n + tile_tokens - 1) / tile_tokens;
    decode = decode && n == 1 && !s.all_logits;
  }
  p = Plan{};
  p.decode = decode;
  p.stride = static_cast<int32_t>(pow2_at_least(max_blocks));
  p.steps = static_cast<int32_t>(steps.size());
  if (decode) {
    if (extras_.cuda_graphs) p.steps = batch_bucket(p.steps);
    p.chunk = decode_attn_chunk(act_, cfg_.head_dim(), cfg_.n_heads, cfg_.n_kv_heads, p.steps,
                               static_cast<int32_t>(max_len));
    p.splits = decode_attn_splits(static_cast<int32_t>(max_len), p.chunk);
    p.live_splits = decode_attn_live_splits(static_cast<int32_t>(max_len), p.chunk);
    p.tokens = p.rows = p.steps;
  } else {
    p.tokens = static_cast<int32_t>(tokens);
    p.rows = static_cast<int32_t>(rows);
    p.tiles = static_cast<int32_t>(tiles);
  }
  int64_t off = 0;
  p.off_tok = off, off += p.tokens;
  p.off_pos = off, off += p.tokens;
  p.off_seq = off, off += p.tokens;
  p.off_len = off, off += p.steps;
  p.off_bt = off, off += static_cast<int64_t>(p.steps) * p.stride;
  p.off_rows = off, off += p.rows;
  p.off_tiles = off, off += 3LL * p.tiles;
  p.ints = off;
  return {};
}

Status CudaBackend::ensure_workspace(const Plan& p) {
  const StepShape need{p.tokens, p.rows, p.steps, p.splits, p.ints};
  if (ws_ && need.tokens <= ws_cap_.tokens && need.rows <= ws_cap_.rows && need.steps <= ws_cap_.steps &&
      need.splits <= ws_cap_.splits && need.meta_ints <= ws_cap_.meta_ints)
    return {};
  StepShape cap;
  cap.tokens = pow2_at_least(std::max({need.tokens, ws_cap_.tokens, int64_t{64}}));
  cap.rows = pow2_at_least(std::max({need.rows, ws_cap_.rows, int64_t{8}}));
  cap.steps = pow2_at_least(std::max({need.steps, ws_cap_.steps, int64_t{8}}));
  cap.splits = pow2_at_least(std::max({need.splits, ws_cap_.splits, int64_t{4}}));
  cap.meta_ints = pow2_at_least(std::max({need.meta_ints, ws_cap_.meta_ints, int64_t{4096}}));
  CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_));
  cudaFree(ws_);
  cudaFreeHost(meta_host_);
  ws_ = nullptr;
  meta_host_ = nullptr;
  tokens_host_ = nullptr;
  ws_cap_ = {};
  ++ws_generation_;  // every captured graph points into the old arena
  const WsLayout l = ws_layout(cfg_, act_, cap, extras_.comm != nullptr ? extras_.comm->size() : 1);
  CUDA_RETURN_IF_ERROR(cudaMalloc(&ws_, l.total));
  // Pinned: the step's metadata, then the greedy tokens' way back (a copy into pageable memory is
  // staged by the driver, a few microseconds more on every decode step's critical path).
  CUDA_RETURN_IF_ERROR(cudaMallocHost(&meta_host_, (cap.meta_ints + cap.rows) * 4));
  tokens_host_ = meta_host_ + cap.meta_ints;
  char* b = static_cast<char*>(ws_);
  x_ = reinterpret_cast<float*>(b + l.x);
  xn_ = b + l.xn;
  part_ = b + l.part;
  qkv_ = b + l.qkv;
  attn_ = b + l.attn;
  gu_ = b + l.gu;
  h_ = b + l.h;
  sel_ = b + l.sel;
  logits_ = reinterpret_cast<float*>(b + l.logits);
  tokens_out_ = reinterpret_cast<int32_t*>(b + l.tok_out);
  argmax_keys_ = reinterpret_cast<unsigned long long*>(b + l.keys);
  key_gather_ = reinterpret_cast<float*>(b + l.gather);
  // launch_finish_argmax leaves the keys at zero after every step; they start there too.
  CUDA_RETURN_IF_ERROR(cudaMemset(argmax_keys_, 0, cap.rows * 8));
  part_o_ = reinterpret_cast<float*>(b + l.part_o);
  part_ml_ = reinterpret_cast<float*>(b + l.part_ml);
  meta_ = reinterpret_cast<int32_t*>(b + l.meta);
  ws_cap_ = cap;
  return {};
}

Status CudaBackend::enqueue(const Plan& p, bool greedy) {
  const ModelConfig& c = cfg_;
  const int32_t hd = c.head_dim(), q_dim = c.n_heads * hd, kv_dim = c.kv_dim();
  const int64_t qkv_w = q_dim + 2 * kv_dim;
  cudaStream_t s = stream_;
  const int32_t* tok = meta_ + p.off_tok;
  launch_embed(model_->emb, tok, p.tokens, x_, s);
  // Under tensor parallelism the residual all-reduce may also leave the next RMSNorm in xn_.
  bool normed = false;
  for (int32_t li = 0; li < c.n_layers; ++li) {
    const DeviceLayer& L = model_->layers[li];
    const float* next_norm = li + 1 < c.n_layers ? model_->layers[li + 1].attn_norm : nullptr;
    const DeviceMatrix& next_w = li + 1 < c.n_layers ? model_->layers[li + 1].wqkv : model_->output;
    EFFITUNE_RETURN_IF_ERROR(normed_matmul(L.attn_norm, L.wqkv, p.tokens,
                                           {nullptr, c.dim, p.tokens, MatIn::kPlain, qkv_, qkv_w, MatOut::kAct}, normed, s));
    KvLayer kv;
    kv.k = static_cast<char*>(kv_) + (2LL * li) * kv_layer_bytes_;
    kv.v = static_cast<char*>(kv_) + (2LL * li + 1) * kv_layer_bytes_;
    RopeStoreArgs r;
    r.qkv = qkv_;
    r.pos = meta_ + p.off_pos;
    r.seq = meta_ + p.off_seq;
    r.block_tables = meta_ + p.off_bt;
    r.bt_stride = p.stride;
    r.n_tokens = p.tokens;
    r.n_heads = c.n_heads, r.n_kv_heads = c.n_kv_heads, r.head_dim = hd;
    r.block_size = options_.kv_block_size;
    r.inv_freq = inv_freq_;
    r.kv = kv;
    const bool fused_rope = p.decode && fuse_decode_;
    if (!fused_rope) launch_rope_store(act_, r, s);
    AttnArgs a;
    a.qkv = qkv_;
    a.ld_qkv = qkv_w;
    a.out = attn_;
    a.kv = kv;
    a.block_tables = meta_ + p.off_bt;
    a.bt_stride = p.stride;
    a.block_size = options_.kv_block_size;
    a.n_heads = c.n_heads, a.n_kv_heads = c.n_kv_heads, a.head_dim = hd;
    a.scale = 1.0f / std::sqrt(static_cast<float>(hd));
    a.chunk = p.chunk;
    a.live_splits = p.live_splits;
    if (fused_rope) a.inv_freq = inv_freq_;
    if (p.decode) launch_attn_decode(act_, a, meta_ + p.off_len, p.steps, p.splits, part_o_, part_ml_, s);
    else launch_attn_prefill(act_, a, meta_ + p.off_tiles, p.tiles, meta_ + p.off_pos, s);
    CUDA_RETURN_IF_LAUNCH_ERROR("attention");
    EFFITUNE_RETURN_IF_ERROR(mm_.matmul(act_, L.wo, row_parallel(p, attn_, q_dim, MatIn::kPlain), s));
    EFFITUNE_RETURN_IF_ERROR(end_partial_sum(p, L.ffn_norm, L.w_gu, normed, s));
    const int64_t gu_w = 2LL * c.hidden_dim;
    if (fuse_decode_ && mm_.uses_gemv(L.w_gu, p.tokens) && gemv_fusion_pays(p.tokens)) {
      // The GEMV computes gate and up rows side by side and writes silu(gate) * up: no SwiGLU
      // launch (float kinds) or per-CTA SwiGLU prologue in the down projection (quantized kinds),
      // and no gate|up round trip through memory.
      EFFITUNE_RETURN_IF_ERROR(normed_matmul(L.ffn_norm, L.w_gu, p.tokens,
                                             {nullptr, c.dim, p.tokens, MatIn::kPlain, h_, c.hidden_dim, MatOut::kSwiGluAct},
                                             normed, s));
      EFFITUNE_RETURN_IF_ERROR(
          mm_.matmul(act_, L.w_down, row_parallel(p, h_, c.hidden_dim, MatIn::kPlain), s));
      EFFITUNE_RETURN_IF_ERROR(end_partial_sum(p, next_norm, next_w, normed, s));
      continue;
    }
    EFFITUNE_RETURN_IF_ERROR(normed_matmul(L.ffn_norm, L.w_gu, p.tokens,
                                           {nullptr, c.dim, p.tokens, MatIn::kPlain, gu_, gu_w, MatOut::kAct}, normed, s));
    const bool quant_down = L.w_down.kind == WKind::kQ8 || L.w_down.kind == WKind::kQ4;
    if (quant_down && mm_.uses_gemv(L.w_down, p.tokens)) {
      // SwiGLU folded into the quantized GEMV's activation prologue (once per CTA). The float GEMV
      // would recompute silu for every output row (an exp and a divide per weight, more than the
      // weight's own load costs), so float kinds take the separate kernel.
      EFFITUNE_RETURN_IF_ERROR(
          mm_.matmul(act_, L.w_down, row_parallel(p, gu_, gu_w, MatIn::kSwiGlu), s));
    } else {
      launch_swiglu(act_, gu_, p.tokens, c.hidden_dim, h_, s);
      EFFITUNE_RETURN_IF_ERROR(
          mm_.matmul(act_, L.w_down, row_parallel(p, h_, c.hidden_dim, MatIn::kPlain), s));
    }
    EFFITUNE_RETURN_IF_ERROR(end_partial_sum(p, next_norm, next_w, normed, s));
  }
  launch_rmsnorm(act_, x_, meta_ + p.off_rows, p.rows, c.dim, model_->out_norm, c.rms_eps, sel_, s);
  // A vocab-parallel LM head (tp/shard.h) writes its columns of the logits. Greedy steps then
  // exchange one argmax key per row and rank (tp_argmax.cuh); the others zero the logits first and
  // all-reduce them, which assembles every rank's columns on every rank.
  Communicator* comm = extras_.comm;
  const bool split_head = comm != nullptr && model_->output.rows < c.vocab_size;
  const int64_t col0 = split_head ? static_cast<int64_t>(comm->rank()) * model_->output.rows : 0;
  float* head_out = logits_ + col0;
  const bool key_exchange = split_head && greedy && tp_greedy_keys_;
  if (split_head && !key_exchange) launch_zero(logits_, static_cast<int64_t>(p.rows) * c.vocab_size, s);
  MatArgs head{sel_, c.dim, p.rows, MatIn::kPlain, head_out, c.vocab_size, MatOut::kF32};
  // Greedy argmax folded into the head GEMV (a separate one-CTA-per-row pass over 128k logits took
  // ~30 us per step at batch 1, 15 us on an H200).
  const bool fused_argmax = greedy && fuse_decode_ && mm_.uses_gemv(model_->output, p.rows) && (!split_head || key_exchange);
  if (fused_argmax) head.argmax = argmax_keys_;
  EFFITUNE_RETURN_IF_ERROR(mm_.matmul(act_, model_->output, head, s));
  if (key_exchange) {
    if (!fused_argmax)
      launch_argmax_keys(head_out, p.rows, static_cast<int32_t>(model_->output.rows), c.vocab_size, argmax_keys_, s);
    const int32_t n = comm->size();
    launch_keys_to_gather(argmax_keys_, p.rows, comm->rank(), n, col0, key_gather_, s);
    EFFITUNE_RETURN_IF_ERROR(comm->all_reduce_sum(key_gather_, tp_argmax_gather_floats(p.rows, n), s));
    launch_gather_to_tokens(key_gather_, p.rows, n, tokens_out_, s);
  } else {
    if (split_head)
      EFFITUNE_RETURN_IF_ERROR(comm->all_reduce_sum(logits_, static_cast<int64_t>(p.rows) * c.vocab_size, s));
    if (fused_argmax) launch_finish_argmax(argmax_keys_, p.rows, tokens_out_, s);
    else if (greedy) launch_argmax(logits_, p.rows, c.vocab_size, tokens_out_, s);
  }
  CUDA_RETURN_IF_LAUNCH_ERROR("forward");
  return {};
}

// RMSNorm(x) * norm, then the projection `a` (whose x is filled in here): from xn when the
// all-reduce already wrote it there (`normed`), inside the GEMV's prologue when it can (one launch
// less per projection at decode), else the RMSNorm kernel into xn first.
Status CudaBackend::normed_matmul(const float* norm, const DeviceMatrix& w, int32_t rows, MatArgs a, bool normed,
                                  cudaStream_t s) {
  if (normed) {
    a.x = xn_;
    return mm_.matmul(act_, w, a, s);
  }
  if (fuse_decode_ && mm_.uses_gemv(w, rows) && gemv_fuses_rmsnorm(w, rows)) {
    a.x = x_;
    a.ldx = cfg_.dim;
    a.in = MatIn::kRmsNorm;
    a.norm_w = norm;
    a.norm_eps = cfg_.rms_eps;
    return mm_.matmul(act_, w, a, s);
  }
  launch_rmsnorm(act_, x_, nullptr, rows, cfg_.dim, norm, cfg_.rms_eps, xn_, s);
  a.x = xn_;
  return mm_.matmul(act_, w, a, s);
}

NormingCommunicator* CudaBackend::adder(const Plan& p) const {
  auto* fused = dynamic_cast<NormingCommunicator*>(extras_.comm);
  return fused != nullptr && fused->adds_partials(p.tokens, cfg_.dim) ? fused : nullptr;
}

// Tensor parallelism keeps the residual stream x replicated. Where the communicator adds partials
// (decode-sized steps), every rank writes its row-parallel partial product straight into the
// communicator's staging buffer and the all-reduce adds all ranks' to x. Otherwise rank 0's projections accumulate into x and the other
// ranks overwrite their copy with their partial product, so that the all-reduce of x yields x + the
// sum of the partials (one reduction, no extra buffer, zeroing or add kernel).
MatArgs CudaBackend::row_parallel(const Plan& p, const void* x, int64_t ldx, MatIn in) const {
  MatArgs a{x, ldx, p.tokens, in, x_, cfg_.dim, MatOut::kF32Accumulate};
  if (extras_.comm == nullptr) return a;
  if (NormingCommunicator* add = adder(p)) {
    a.out = direct_partials_ ? add->partial_buffer() : part_;
    a.out_mode = part_type_ == ActType::kF32 ? MatOut::kF32 : MatOut::kAct;
  } else if (extras_.comm->rank() != 0) {
    a.out_mode = MatOut::kF32;
  }
  return a;
}

Status CudaBackend::end_partial_sum(const Plan& p, const float* next_norm, const DeviceMatrix& next_w, bool& normed,
                                    cudaStream_t s) {
  normed = false;
  if (extras_.comm == nullptr) return {};
  if (NormingCommunicator* add = adder(p)) {
    normed = next_norm != nullptr;
    void* partial = direct_partials_ ? add->partial_buffer() : part_;
    // The first bytes of the projection that comes next go to L2 during the exchange (HBM is idle
    // while the ranks wait on each other over NVLink).
    const int64_t prefetch = std::min(next_w.data_row_bytes() * next_w.rows, tp_prefetch_bytes_);
    return add->all_reduce_add(partial, part_type_, x_, p.tokens, cfg_.dim, next_norm, cfg_.rms_eps, act_, xn_, s,
                               next_w.data, prefetch);
  }
  return extras_.comm->all_reduce_sum(x_, static_cast<int64_t>(p.tokens) * cfg_.dim, s);
}

// Under tensor parallelism every rank meets the others twice a step (CudaBackendExtras::step_gate).
// (1) Before its launch, after its last host call that can wait for its device (workspace growth,
// graph capture and instantiation), all-or-nothing: a rank that could not prepare the step makes
// every rank return before launching anything. (2) After its launch, before any other CUDA call:
// the exchange kernels spin until every peer's part arrives, and a host call that loads a kernel
// module (CUDA's lazy loading, the first launch of a kernel: sampling after the step, say) waits for
// its device to drain while holding a process-wide lock, so a peer still to launch would block on
// that lock and the group would stall (session 8, host stacks in bench/README.md). So under tensor
// parallelism every step is one graph launch (prepare), and nothing follows it until all have
// launched. On 2 x H100 gate (1) cost nothing measurable (8B bf16 TP=2 283 / 14,309 tok/s against
// 278 / 13,865 in session 6).
Status CudaBackend::run(std::span<const SequenceStep> steps, bool greedy, const Status& before) {
  using clock = std::chrono::steady_clock;
  HostProfile* hp = host_prof_.get();
  auto t = hp != nullptr ? clock::now() : clock::time_point{};
  HostProfile lapped;  // this step's times, added to *hp if it was a decode step that replayed a graph
  if (hp != nullptr) hp->captured = hp->counted = false;  // a step run kernel by kernel returns before the end
  if (hp != nullptr && hp->last_end != clock::time_point{}) lapped.outside = std::chrono::duration<double>(t - hp->last_end).count();
  auto lap = [&](double HostProfile::*into) {  // adds the time since the last lap to lapped.*into
    if (hp == nullptr) return;
    const auto now = clock::now();
    lapped.*into += std::chrono::duration<double>(now - t).count();
    t = now;
  };
  Plan p;
  cudaGraphExec_t exec = nullptr;
  const Status st = before.ok() ? prepare(steps, greedy, p, exec) : before;
  lap(&HostProfile::prepare);
  if (extras_.step_gate && !extras_.step_gate(st.ok()))
    return st.ok() ? cancelled("another tensor-parallel rank could not prepare the step; nothing was launched") : st;
  lap(&HostProfile::gate1);
  EFFITUNE_RETURN_IF_ERROR(st);
  if (exec == nullptr) return enqueue(p, greedy);
  const Status launched = cuda_status(cudaGraphLaunch(exec, stream_), "cudaGraphLaunch");
  lap(&HostProfile::launch);
  // A rank whose launch failed still meets the others; their exchanges then wait for it until the
  // watchdog gives up (EFFITUNE_TP_TIMEOUT_S), and finish_step reports that.
  if (extras_.step_gate) extras_.step_gate(launched.ok());
  lap(&HostProfile::gate2);
  if (hp != nullptr) {
    hp->counted = p.decode && !hp->captured;
    profile_replay(lapped, t);
  }
  return launched;
}

void CudaBackend::profile_replay(const HostProfile& lapped, std::chrono::steady_clock::time_point t) {
  HostProfile* hp = host_prof_.get();
  hp->run_end = t;
  if (!hp->counted) return;
  hp->prepare += lapped.prepare, hp->gate1 += lapped.gate1, hp->launch += lapped.launch;
  hp->gate2 += lapped.gate2, hp->outside += lapped.outside, ++hp->steps;
}

Status CudaBackend::stage_greedy(std::span<const SequenceStep> steps, bool& replay) {
  using clock = std::chrono::steady_clock;
  HostProfile* hp = host_prof_.get();
  const auto t = hp != nullptr ? clock::now() : clock::time_point{};
  replay = false;
  staged_exec_ = nullptr;
  Plan p;
  EFFITUNE_RETURN_IF_ERROR(prepare(steps, true, p, staged_exec_, /*may_capture=*/false));
  replay = staged_exec_ != nullptr && p.decode;
  if (hp != nullptr) {
    staged_lap_ = HostProfile{};
    if (hp->last_end != clock::time_point{}) staged_lap_.outside = std::chrono::duration<double>(t - hp->last_end).count();
    staged_lap_.prepare = std::chrono::duration<double>(clock::now() - t).count();
  }
  return {};
}

Status CudaBackend::launch_staged() {
  using clock = std::chrono::steady_clock;
  HostProfile* hp = host_prof_.get();
  const auto t = hp != nullptr ? clock::now() : clock::time_point{};
  CUDA_RETURN_IF_ERROR(cudaSetDevice(options_.device));
  const Status launched = cuda_status(cudaGraphLaunch(staged_exec_, stream_), "cudaGraphLaunch");
  if (hp != nullptr) {
    const auto now = clock::now();
    staged_lap_.launch = std::chrono::duration<double>(now - t).count();
    hp->counted = true;  // a decode step that replayed its graph
    profile_replay(staged_lap_, now);
  }
  return launched;
}

Status CudaBackend::finish_greedy(std::span<const SequenceStep> steps, std::vector<int32_t>& tokens) {
  CUDA_RETURN_IF_ERROR(cudaSetDevice(options_.device));
  return greedy_tokens(steps, tokens);
}

Status CudaBackend::prepare(std::span<const SequenceStep> steps, bool greedy, Plan& p, cudaGraphExec_t& exec,
                            bool may_capture) {
  CUDA_RETURN_IF_ERROR(cudaSetDevice(options_.device));
  EFFITUNE_RETURN_IF_ERROR(build_plan(steps, p));
  if (!may_capture && !p.decode) return {};
  const int64_t generation = ws_generation_;
  EFFITUNE_RETURN_IF_ERROR(ensure_workspace(p));
  if (!may_capture && ws_generation_ != generation) return {};  // every graph is captured again
  // Metadata: one host-to-device copy per step. Padded decode slots read token 0 at position 0 and
  // write their K/V into the trash block.
  int32_t* m = meta_host_;
  std::fill(m + p.off_bt, m + p.off_bt + static_cast<int64_t>(p.steps) * p.stride, trash_block_);
  int64_t t = 0, row = 0, tile = 0;
  const int tile_tokens = prefill_tile_tokens(cfg_.n_heads, cfg_.n_kv_heads);
  for (int32_t i = 0; i < p.steps; ++i) {
    if (i >= static_cast<int32_t>(steps.size())) {
      m[p.off_tok + t] = 0, m[p.off_pos + t] = 0, m[p.off_seq + t] = i, m[p.off_len + i] = 1;
      m[p.off_rows + row++] = static_cast<int32_t>(t++);
      continue;
    }
    const SequenceStep& s = steps[i];
    const int32_t n = static_cast<int32_t>(s.tokens.size());
    const int64_t first = t;
    for (int32_t j = 0; j < n; ++j, ++t) {
      m[p.off_tok + t] = s.tokens[j];
      m[p.off_pos + t] = s.start_pos + j;
      m[p.off_seq + t] = i;
      if (s.all_logits || j == n - 1) m[p.off_rows + row++] = static_cast<int32_t>(t);
    }
    m[p.off_len + i] = s.start_pos + n;
    const int64_t need = (s.start_pos + n + options_.kv_block_size - 1) / options_.kv_block_size;
    std::copy(s.block_table.begin(), s.block_table.begin() + need, m + p.off_bt + static_cast<int64_t>(i) * p.stride);
    if (!p.decode) {
      for (int32_t j = 0; j < n; j += tile_tokens, ++tile) {
        m[p.off_tiles + 3 * tile] = i;
        m[p.off_tiles + 3 * tile + 1] = static_cast<int32_t>(first + j);
        m[p.off_tiles + 3 * tile + 2] = std::min(tile_tokens, n - j);
      }
    }
  }
  CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(meta_, meta_host_, p.ints * 4, cudaMemcpyHostToDevice, stream_));

  // Decode steps replay a graph per shape (launch overhead dominates them); under tensor parallelism
  // every step is one graph launch (see run()).
  if (!(p.decode ? extras_.cuda_graphs : extras_.step_gate != nullptr)) return {};  // kernel by kernel
  const GraphKey key = graph_key(p, greedy);
  auto it = graphs_.find(key);
  if (!may_capture && (it == graphs_.end() || it->second.generation != ws_generation_)) return {};
  if (it == graphs_.end()) {
    Graph g;
    g.decode = p.decode;
    g.generation = -1;  // captured below
    if (!p.decode) {
      int32_t held = 0;
      auto lru = graphs_.end();
      for (auto i = graphs_.begin(); i != graphs_.end(); ++i) {
        if (i->second.decode) continue;
        ++held;
        if (lru == graphs_.end() || i->second.last_use < lru->second.last_use) lru = i;
      }
      if (held >= kMaxStepGraphs) {
        g.exec = lru->second.exec;  // the last step using it has finished (finish_step)
        graphs_.erase(lru);
      }
    }
    it = graphs_.emplace(key, g).first;
  }
  Graph& g = it->second;
  if (g.generation != ws_generation_) {
    if (host_prof_) host_prof_->captured = true;
    const Status st = capture(p, greedy, g.exec, /*update=*/true);
    if (!st.ok()) {
      if (g.exec != nullptr) cudaGraphExecDestroy(g.exec);
      graphs_.erase(it);
      return st;
    }
    g.generation = ws_generation_;
  }
  g.last_use = ++graph_uses_;
  exec = g.exec;
  return {};
}

CudaBackend::GraphKey CudaBackend::graph_key(const Plan& p, bool greedy) {
  return {p.tokens, p.steps,   p.rows,    p.tiles,   p.stride,   p.splits,    p.chunk,     p.decode, greedy,
          p.off_tok, p.off_pos, p.off_seq, p.off_len, p.off_bt, p.off_rows, p.off_tiles, p.ints};
}

Status CudaBackend::capture(const Plan& p, bool greedy, cudaGraphExec_t& out, bool update) {
  cudaGraph_t graph = nullptr;
  CUDA_RETURN_IF_ERROR(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal));
  const Status st = enqueue(p, greedy);
  const cudaError_t end = cudaStreamEndCapture(stream_, &graph);
  if (!st.ok() && graph != nullptr) cudaGraphDestroy(graph);
  EFFITUNE_RETURN_IF_ERROR(st);
  CUDA_RETURN_IF_ERROR(end);
  if (update && out != nullptr) {
    cudaGraphExecUpdateResultInfo info{};
    if (cudaGraphExecUpdate(out, graph, &info) == cudaSuccess) {
      cudaGraphDestroy(graph);
      return {};
    }
    cudaGetLastError();  // a failed update is not an error: instantiate instead
    cudaGraphExecDestroy(out);  // the last step using it has finished (finish_step)
    out = nullptr;
  }
  const cudaError_t inst = cudaGraphInstantiate(&out, graph, 0);
  cudaGraphDestroy(graph);
  return cuda_status(inst, "cudaGraphInstantiate");
}

Status CudaBackend::forward(std::span<const SequenceStep> steps, std::vector<float>& logits) {
  EFFITUNE_RETURN_IF_ERROR(run(steps, false));
  int64_t rows = 0;
  for (const SequenceStep& s : steps) rows += s.all_logits ? static_cast<int64_t>(s.tokens.size()) : 1;
  logits.resize(rows * cfg_.vocab_size);
  CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(logits.data(), logits_, logits.size() * 4, cudaMemcpyDeviceToHost, stream_));
  return finish_step("forward");
}

// The step's end: its results are on the host, and under tensor parallelism no exchange of it gave
// up waiting for a peer (NormingCommunicator::check).
Status CudaBackend::finish_step(const char* what) {
  EFFITUNE_RETURN_IF_ERROR(cuda_status(cudaStreamSynchronize(stream_), what));
  if (HostProfile* hp = host_prof_.get()) {
    hp->last_end = std::chrono::steady_clock::now();
    if (hp->counted) hp->finish += std::chrono::duration<double>(hp->last_end - hp->run_end).count();
  }
  if (const auto* n = dynamic_cast<const NormingCommunicator*>(extras_.comm)) return n->check();
  return {};
}

Status CudaBackend::forward_greedy(std::span<const SequenceStep> steps, std::vector<int32_t>& tokens) {
  EFFITUNE_RETURN_IF_ERROR(run(steps, true));
  return greedy_tokens(steps, tokens);
}

Status CudaBackend::greedy_tokens(std::span<const SequenceStep> steps, std::vector<int32_t>& tokens) {
  int64_t rows = 0;
  for (const SequenceStep& s : steps) rows += s.all_logits ? static_cast<int64_t>(s.tokens.size()) : 1;
  if (rows > ws_cap_.rows) return internal_error("greedy_tokens: more rows than the step's workspace holds");
  CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(tokens_host_, tokens_out_, rows * 4, cudaMemcpyDeviceToHost, stream_));
  EFFITUNE_RETURN_IF_ERROR(finish_step("forward_greedy"));
  // One token per step: the row of its last token.
  tokens.clear();
  int64_t r = 0;
  for (const SequenceStep& s : steps) {
    r += s.all_logits ? static_cast<int64_t>(s.tokens.size()) : 1;
    tokens.push_back(tokens_host_[r - 1]);
  }
  return {};
}

}  // namespace effitune::engine::cuda

namespace effitune::engine {

Result<std::unique_ptr<Backend>> make_cuda_backend(std::shared_ptr<const ModelWeights> weights,
                                                   const BackendOptions& options, const CudaBackendExtras& extras) {
  if (options.gpu_count > 1) return tp::make_tensor_parallel_backend(std::move(weights), options, extras);
  return cuda::CudaBackend::create(std::move(weights), options, extras);
}

Result<std::unique_ptr<Backend>> make_cuda_backend(std::shared_ptr<const ModelWeights> weights,
                                                   const BackendOptions& options) {
  return make_cuda_backend(std::move(weights), options, CudaBackendExtras{});
}

int32_t cuda_device_count() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return count;
}

bool cuda_backend_available() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();
    return false;
  }
  return count > 0;
}

}  // namespace effitune::engine
