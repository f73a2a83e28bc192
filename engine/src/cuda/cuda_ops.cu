// Host wrappers around single ops for tests: upload, launch on the default stream, read back.
#include "cuda_ops.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>
#include <string>

#include "attention.cuh"
#include "common.cuh"
#include "elementwise.cuh"
#include "gemm.cuh"
#include "gemm_stream.cuh"
#include "p2p_comm.h"
#include "weights.cuh"
#include "cuda/cuda_backend_factory.h"
#include "tp/rank_threads.h"

namespace effitune::engine::cuda_ops {
namespace {

using namespace effitune::engine::cuda;

struct DevBuf {
  void* p = nullptr;
  ~DevBuf() { cudaFree(p); }
};

Status available() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0) {
    cudaGetLastError();
    return unavailable("no CUDA device");
  }
  return {};
}

Result<ActType> act_of(DType t) {
  switch (t) {
    case DType::kF32: return ActType::kF32;
    case DType::kF16: return ActType::kF16;
    case DType::kBF16: return ActType::kBF16;
    default: return invalid_argument("act must be f32, f16 or bf16");
  }
}

std::vector<uint8_t> to_act(std::span<const float> x, ActType a) {
  std::vector<uint8_t> out(x.size() * act_bytes(a));
  for (size_t i = 0; i < x.size(); ++i) {
    if (a == ActType::kF32) {
      std::memcpy(out.data() + 4 * i, &x[i], 4);
    } else {
      const uint16_t h = a == ActType::kF16 ? f32_to_fp16(x[i]) : f32_to_bf16(x[i]);
      std::memcpy(out.data() + 2 * i, &h, 2);
    }
  }
  return out;
}

std::vector<float> from_act(const std::vector<uint8_t>& b, ActType a) {
  const size_t n = b.size() / act_bytes(a);
  std::vector<float> out(n);
  for (size_t i = 0; i < n; ++i) {
    if (a == ActType::kF32) {
      std::memcpy(&out[i], b.data() + 4 * i, 4);
    } else {
      uint16_t h;
      std::memcpy(&h, b.data() + 2 * i, 2);
      out[i] = a == ActType::kF16 ? fp16_to_f32(h) : bf16_to_f32(h);
    }
  }
  return out;
}

Status upload(DevBuf& d, const void* src, size_t bytes) {
  CUDA_RETURN_IF_ERROR(cudaMalloc(&d.p, std::max<size_t>(bytes, 16)));
  if (bytes) CUDA_RETURN_IF_ERROR(cudaMemcpy(d.p, src, bytes, cudaMemcpyHostToDevice));
  return {};
}

Status download(std::vector<uint8_t>& out, const DevBuf& d, size_t bytes) {
  CUDA_RETURN_IF_ERROR(cudaDeviceSynchronize());
  CUDA_RETURN_IF_LAUNCH_ERROR("op");
  out.resize(bytes);
  CUDA_RETURN_IF_ERROR(cudaMemcpy(out.data(), d.p, bytes, cudaMemcpyDeviceToHost));
  return {};
}

// The device weight kind of a stored type and the activation type it multiplies (as the backend
// chooses them); false for a type the kernels do not take.
bool kinds_of(DType t, WKind& kind, ActType& act) {
  switch (t) {
    case DType::kF32: kind = WKind::kF32, act = ActType::kF32; return true;
    case DType::kF16: kind = WKind::kF16, act = ActType::kF16; return true;
    case DType::kBF16: kind = WKind::kBF16, act = ActType::kBF16; return true;
    case DType::kQ8_0: kind = WKind::kQ8, act = ActType::kBF16; return true;
    case DType::kQ4_0: kind = WKind::kQ4, act = ActType::kBF16; return true;
    default: return false;
  }
}

}  // namespace

Status rmsnorm(std::span<const float> x, int32_t rows, int32_t dim, std::span<const float> w, float eps, DType act,
               std::vector<float>& out, bool vectorized) {
  EFFITUNE_RETURN_IF_ERROR(available());
  EFFITUNE_ASSIGN_OR_RETURN(ActType a, act_of(act));
  DevBuf dx, dw, dout;
  EFFITUNE_RETURN_IF_ERROR(upload(dx, x.data(), x.size_bytes()));
  EFFITUNE_RETURN_IF_ERROR(upload(dw, w.data(), w.size_bytes()));
  CUDA_RETURN_IF_ERROR(cudaMalloc(&dout.p, static_cast<size_t>(rows) * dim * act_bytes(a)));
  launch_rmsnorm(a, static_cast<float*>(dx.p), nullptr, rows, dim, static_cast<float*>(dw.p), eps, dout.p, 0, vectorized);
  std::vector<uint8_t> b;
  EFFITUNE_RETURN_IF_ERROR(download(b, dout, static_cast<size_t>(rows) * dim * act_bytes(a)));
  out = from_act(b, a);
  return {};
}

Status swiglu(std::span<const float> gu, int32_t tokens, int32_t hidden, DType act, std::vector<float>& out) {
  EFFITUNE_RETURN_IF_ERROR(available());
  EFFITUNE_ASSIGN_OR_RETURN(ActType a, act_of(act));
  DevBuf dgu, dh;
  const auto in = to_act(gu, a);
  EFFITUNE_RETURN_IF_ERROR(upload(dgu, in.data(), in.size()));
  const size_t out_bytes = static_cast<size_t>(tokens) * hidden * act_bytes(a);
  CUDA_RETURN_IF_ERROR(cudaMalloc(&dh.p, out_bytes));
  launch_swiglu(a, dgu.p, tokens, hidden, dh.p, 0);
  std::vector<uint8_t> b;
  EFFITUNE_RETURN_IF_ERROR(download(b, dh, out_bytes));
  out = from_act(b, a);
  return {};
}

Status rope_store(std::span<const float> qkv, std::span<const int32_t> pos, int32_t n_heads, int32_t n_kv_heads,
                  int32_t head_dim, std::span<const double> inv_freq, DType act, std::vector<float>& qkv_out,
                  std::vector<float>& k_cache, std::vector<float>& v_cache) {
  EFFITUNE_RETURN_IF_ERROR(available());
  EFFITUNE_ASSIGN_OR_RETURN(ActType a, act_of(act));
  const int32_t tokens = static_cast<int32_t>(pos.size());
  const int32_t kv_dim = n_kv_heads * head_dim;
  // Each token is its own step with a one-block table (blocks in reverse order, so that the table
  // matters) and a block large enough for any position.
  std::vector<int32_t> bt(tokens), seq_ids(tokens);
  for (int32_t t = 0; t < tokens; ++t) {
    bt[t] = tokens - 1 - t;
    seq_ids[t] = t;
  }
  const int32_t max_pos = *std::max_element(pos.begin(), pos.end());
  const int32_t stride = 1, block_size = max_pos + 1;  // each token's block holds its position's slot
  DevBuf dqkv, dpos, dseq, dbt, dfreq, dk, dv;
  const auto in = to_act(qkv, a);
  EFFITUNE_RETURN_IF_ERROR(upload(dqkv, in.data(), in.size()));
  EFFITUNE_RETURN_IF_ERROR(upload(dpos, pos.data(), pos.size_bytes()));
  EFFITUNE_RETURN_IF_ERROR(upload(dseq, seq_ids.data(), seq_ids.size() * 4));
  EFFITUNE_RETURN_IF_ERROR(upload(dbt, bt.data(), bt.size() * 4));
  EFFITUNE_RETURN_IF_ERROR(upload(dfreq, inv_freq.data(), inv_freq.size_bytes()));
  const size_t cache_bytes = static_cast<size_t>(tokens) * block_size * kv_dim * act_bytes(a);
  CUDA_RETURN_IF_ERROR(cudaMalloc(&dk.p, cache_bytes));
  CUDA_RETURN_IF_ERROR(cudaMalloc(&dv.p, cache_bytes));
  RopeStoreArgs r;
  r.qkv = dqkv.p;
  r.pos = static_cast<int32_t*>(dpos.p);
  r.seq = static_cast<int32_t*>(dseq.p);
  r.block_tables = static_cast<int32_t*>(dbt.p);
  r.bt_stride = stride;
  r.n_tokens = tokens;
  r.n_heads = n_heads, r.n_kv_heads = n_kv_heads, r.head_dim = head_dim;
  r.block_size = block_size;
  r.inv_freq = static_cast<double*>(dfreq.p);
  r.kv = {dk.p, dv.p};
  launch_rope_store(a, r, 0);
  std::vector<uint8_t> b, kb, vb;
  EFFITUNE_RETURN_IF_ERROR(download(b, dqkv, in.size()));
  EFFITUNE_RETURN_IF_ERROR(download(kb, dk, cache_bytes));
  EFFITUNE_RETURN_IF_ERROR(download(vb, dv, cache_bytes));
  qkv_out = from_act(b, a);
  const auto kall = from_act(kb, a), vall = from_act(vb, a);
  k_cache.assign(static_cast<size_t>(tokens) * kv_dim, 0.0f);
  v_cache.assign(static_cast<size_t>(tokens) * kv_dim, 0.0f);
  for (int32_t t = 0; t < tokens; ++t) {
    const size_t slot = (static_cast<size_t>(bt[t]) * block_size + pos[t]) * kv_dim;
    std::copy(kall.begin() + slot, kall.begin() + slot + kv_dim, k_cache.begin() + static_cast<size_t>(t) * kv_dim);
    std::copy(vall.begin() + slot, vall.begin() + slot + kv_dim, v_cache.begin() + static_cast<size_t>(t) * kv_dim);
  }
  return {};
}

Status matmul(const TensorView& w, std::span<const float> x, int32_t rows, bool accumulate, std::vector<float>& out) {
  EFFITUNE_RETURN_IF_ERROR(available());
  WKind kind;
  ActType a;
  if (!kinds_of(w.type, kind, a)) return invalid_argument("matmul: unsupported weight type");
  DeviceMatrix m;
  DevBuf dm, dx, dout;
  EFFITUNE_RETURN_IF_ERROR(upload_single(w, kind, m, &dm.p));
  const auto in = to_act(x, a);
  EFFITUNE_RETURN_IF_ERROR(upload(dx, in.data(), in.size()));
  const size_t out_n = static_cast<size_t>(rows) * w.rows;
  if (accumulate && out.size() != out_n) return invalid_argument("matmul: accumulate needs rows x W.rows values in out");
  if (accumulate) EFFITUNE_RETURN_IF_ERROR(upload(dout, out.data(), out_n * 4));
  else CUDA_RETURN_IF_ERROR(cudaMalloc(&dout.p, out_n * 4));
  MatmulContext ctx;
  EFFITUNE_RETURN_IF_ERROR(ctx.init(kind == WKind::kQ8 || kind == WKind::kQ4 ? w.rows * w.cols : 0, 0));
  MatArgs args{dx.p, w.cols, rows, MatIn::kPlain, dout.p, w.rows, accumulate ? MatOut::kF32Accumulate : MatOut::kF32};
  EFFITUNE_RETURN_IF_ERROR(ctx.matmul(a, m, args, 0));
  std::vector<uint8_t> b;
  EFFITUNE_RETURN_IF_ERROR(download(b, dout, out_n * 4));
  out.resize(out_n);
  std::memcpy(out.data(), b.data(), out_n * 4);
  return {};
}

bool matmul_uses_gemv(DType type, int64_t cols, int32_t rows) {
  WKind kind;
  ActType a;
  if (!kinds_of(type, kind, a)) return false;
  DeviceMatrix m;
  m.kind = kind;
  m.cols = cols;
  return MatmulContext::uses_gemv(m, rows);
}

Status dequant_bf16(const TensorView& w, std::vector<float>& out) {
  EFFITUNE_RETURN_IF_ERROR(available());
  WKind kind;
  ActType a;
  if (!kinds_of(w.type, kind, a) || (kind != WKind::kQ8 && kind != WKind::kQ4))
    return invalid_argument("dequant_bf16: weights must be q8_0 or q4_0");
  DeviceMatrix m;
  DevBuf dm, dout;
  EFFITUNE_RETURN_IF_ERROR(upload_single(w, kind, m, &dm.p));
  const size_t bytes = static_cast<size_t>(w.rows) * w.cols * 2;
  CUDA_RETURN_IF_ERROR(cudaMalloc(&dout.p, bytes));
  launch_dequant_bf16(m, dout.p, 0);
  CUDA_RETURN_IF_ERROR(cudaGetLastError());
  std::vector<uint8_t> b;
  EFFITUNE_RETURN_IF_ERROR(download(b, dout, bytes));
  out = from_act(b, ActType::kBF16);
  return {};
}

Status gemm_stream(const TensorView& w, std::span<const float> x, int32_t rows, GemmOut mode, int32_t splits,
                   std::vector<float>& out) {
  EFFITUNE_RETURN_IF_ERROR(available());
  WKind kind;
  ActType a;
  if (!kinds_of(w.type, kind, a) || kind == WKind::kF32)
    return invalid_argument("gemm_stream: weights must be f16, bf16, q8_0 or q4_0");
  if (x.size() != static_cast<size_t>(rows) * w.cols) return invalid_argument("gemm_stream: x must hold rows x W.cols values");
  DeviceMatrix m;
  DevBuf dm, dx, dout;
  EFFITUNE_RETURN_IF_ERROR(upload_single(w, kind, m, &dm.p));
  const auto in = to_act(x, a);
  EFFITUNE_RETURN_IF_ERROR(upload(dx, in.data(), in.size()));
  const size_t out_n = static_cast<size_t>(rows) * w.rows;
  const size_t out_bytes = out_n * (mode == GemmOut::kAct ? act_bytes(a) : 4);
  if (mode == GemmOut::kF32Accumulate) {
    if (out.size() != out_n) return invalid_argument("gemm_stream: accumulate needs rows x W.rows values in out");
    EFFITUNE_RETURN_IF_ERROR(upload(dout, out.data(), out_bytes));
  } else {
    CUDA_RETURN_IF_ERROR(cudaMalloc(&dout.p, out_bytes));
  }
  MatArgs args;
  args.x = dx.p;
  args.ldx = w.cols;
  args.n_rows = rows;
  args.out = dout.p;
  args.ldo = w.rows;
  args.out_mode = mode == GemmOut::kAct ? MatOut::kAct : mode == GemmOut::kF32 ? MatOut::kF32 : MatOut::kF32Accumulate;
  if (!gemm_stream_supports(a, m, args))
    return invalid_argument("gemm_stream: shape not supported (" + std::to_string(rows) + " rows, K " +
                            std::to_string(w.cols) + ")");
  struct Ws {
    GemmStreamWorkspace w;
    ~Ws() { gemm_stream_free(w); }
  } ws;
  EFFITUNE_RETURN_IF_ERROR(gemm_stream_alloc(ws.w));
  launch_gemm_stream(m, args, ws.w, 0, splits);
  std::vector<uint8_t> b;
  EFFITUNE_RETURN_IF_ERROR(download(b, dout, out_bytes));
  if (mode == GemmOut::kAct) {
    out = from_act(b, a);
  } else {
    out.resize(out_n);
    std::memcpy(out.data(), b.data(), out_n * 4);
  }
  return {};
}

Status attention(std::span<const float> q, std::span<const float> k, std::span<const float> v, int32_t len,
                 int32_t n_new, int32_t n_heads, int32_t n_kv_heads, int32_t head_dim, int32_t block_size,
                 bool decode_kernel, DType act, std::vector<float>& out, int32_t decode_chunk, int k_row_in_regs,
                 int decode_mma, int decode_wide, double rope_theta) {
  EFFITUNE_RETURN_IF_ERROR(available());
  EFFITUNE_ASSIGN_OR_RETURN(ActType a, act_of(act));
  if (decode_kernel && n_new != 1) return invalid_argument("attention: the decode kernel takes one new token");
  const bool fused_rope = decode_kernel && rope_theta > 0.0;
  const int32_t kv_dim = n_kv_heads * head_dim, q_dim = n_heads * head_dim;
  const int32_t n_blocks = (len + block_size - 1) / block_size;
  // Blocks in a shuffled order: the kernels must follow the table.
  std::vector<int32_t> table(n_blocks);
  std::iota(table.begin(), table.end(), 0);
  std::shuffle(table.begin(), table.end(), std::mt19937(7));
  std::vector<float> kc(static_cast<size_t>(n_blocks) * block_size * kv_dim, 0.0f), vc(kc.size(), 0.0f);
  // Fused RoPE: the kernel rotates and stores the new position's K/V itself.
  for (int32_t p = 0; p < (fused_rope ? len - 1 : len); ++p) {
    const size_t slot = (static_cast<size_t>(table[p / block_size]) * block_size + p % block_size) * kv_dim;
    std::copy(k.begin() + static_cast<size_t>(p) * kv_dim, k.begin() + static_cast<size_t>(p + 1) * kv_dim, kc.begin() + slot);
    std::copy(v.begin() + static_cast<size_t>(p) * kv_dim, v.begin() + static_cast<size_t>(p + 1) * kv_dim, vc.begin() + slot);
  }
  std::vector<int32_t> pos(n_new), tiles;
  for (int32_t i = 0; i < n_new; ++i) pos[i] = len - n_new + i;
  const int tile_tokens = prefill_tile_tokens(n_heads, n_kv_heads);
  for (int32_t i = 0; i < n_new; i += tile_tokens) tiles.insert(tiles.end(), {0, i, std::min(tile_tokens, n_new - i)});
  const int32_t seq_len[1] = {len};
  if (decode_chunk <= 0 || decode_chunk % kAttnChunk != 0 || (decode_chunk > kAttnMaxChunk && decode_mma != 1))
    return invalid_argument("attention: decode_chunk " + std::to_string(decode_chunk) + " must be a multiple of " +
                            std::to_string(kAttnChunk) + ", and at most " + std::to_string(kAttnMaxChunk) +
                            " unless the tensor-core decode kernel is asked for (decode_mma = 1)");
  const int32_t splits = decode_attn_live_splits(len, decode_chunk);
  DevBuf dq, dk, dv, dbt, dpos, dtiles, dlen, dout, dpo, dpml, dfreq;
  // Fused RoPE: the new token's row of a QKV projection, [q | k | v], still unrotated.
  std::vector<float> qkv(q.begin(), q.end());
  if (fused_rope) {
    qkv.insert(qkv.end(), k.begin() + static_cast<size_t>(len - 1) * kv_dim, k.begin() + static_cast<size_t>(len) * kv_dim);
    qkv.insert(qkv.end(), v.begin() + static_cast<size_t>(len - 1) * kv_dim, v.begin() + static_cast<size_t>(len) * kv_dim);
    std::vector<double> inv(head_dim / 2);
    for (int32_t i = 0; i < head_dim / 2; ++i) inv[i] = std::pow(rope_theta, -2.0 * i / head_dim);
    EFFITUNE_RETURN_IF_ERROR(upload(dfreq, inv.data(), inv.size() * sizeof(double)));
  }
  const auto qa = to_act(qkv, a), ka = to_act(kc, a), va = to_act(vc, a);
  EFFITUNE_RETURN_IF_ERROR(upload(dq, qa.data(), qa.size()));
  EFFITUNE_RETURN_IF_ERROR(upload(dk, ka.data(), ka.size()));
  EFFITUNE_RETURN_IF_ERROR(upload(dv, va.data(), va.size()));
  EFFITUNE_RETURN_IF_ERROR(upload(dbt, table.data(), table.size() * 4));
  EFFITUNE_RETURN_IF_ERROR(upload(dpos, pos.data(), pos.size() * 4));
  EFFITUNE_RETURN_IF_ERROR(upload(dtiles, tiles.data(), tiles.size() * 4));
  EFFITUNE_RETURN_IF_ERROR(upload(dlen, seq_len, 4));
  const size_t out_bytes = static_cast<size_t>(n_new) * q_dim * act_bytes(a);
  CUDA_RETURN_IF_ERROR(cudaMalloc(&dout.p, out_bytes));
  CUDA_RETURN_IF_ERROR(cudaMalloc(&dpo.p, static_cast<size_t>(n_heads) * splits * head_dim * 4));
  CUDA_RETURN_IF_ERROR(cudaMalloc(&dpml.p, static_cast<size_t>(n_heads) * splits * 2 * 4));
  AttnArgs args;
  args.qkv = dq.p;
  args.ld_qkv = fused_rope ? q_dim + 2 * kv_dim : q_dim;
  if (fused_rope) args.inv_freq = static_cast<const double*>(dfreq.p);
  args.out = dout.p;
  args.kv = {dk.p, dv.p};
  args.block_tables = static_cast<int32_t*>(dbt.p);
  args.bt_stride = n_blocks;
  args.block_size = block_size;
  args.n_heads = n_heads, args.n_kv_heads = n_kv_heads, args.head_dim = head_dim;
  args.scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
  args.chunk = decode_chunk;
  args.live_splits = splits;
  args.k_row_in_regs = static_cast<int8_t>(k_row_in_regs);
  args.decode_mma = static_cast<int8_t>(decode_mma);
  args.decode_wide = static_cast<int8_t>(decode_wide);
  if (decode_kernel)
    launch_attn_decode(a, args, static_cast<int32_t*>(dlen.p), 1, splits, static_cast<float*>(dpo.p),
                       static_cast<float*>(dpml.p), 0);
  else
    launch_attn_prefill(a, args, static_cast<int32_t*>(dtiles.p), static_cast<int32_t>(tiles.size() / 3),
                        static_cast<int32_t*>(dpos.p), 0);
  std::vector<uint8_t> b;
  EFFITUNE_RETURN_IF_ERROR(download(b, dout, out_bytes));
  out = from_act(b, a);
  return {};
}

Status all_reduce(int32_t ranks, const std::vector<std::vector<std::vector<float>>>& inputs,
                  std::vector<std::vector<std::vector<float>>>& outputs, ResidualAdd* add) {
  EFFITUNE_RETURN_IF_ERROR(available());
  EFFITUNE_ASSIGN_OR_RETURN(auto group, make_cuda_tp_group(0, ranks));
  outputs.assign(inputs.size(), std::vector<std::vector<float>>(static_cast<size_t>(ranks)));
  ActType act = ActType::kF32, part = ActType::kF32;
  if (add != nullptr) {
    EFFITUNE_ASSIGN_OR_RETURN(act, act_of(add->act));
    EFFITUNE_ASSIGN_OR_RETURN(part, act_of(add->part));
    if (add->residual.size() != inputs.size()) return invalid_argument("all_reduce: one residual per call");
    if (!add->w.empty()) add->normed.assign(inputs.size(), std::vector<std::vector<float>>(static_cast<size_t>(ranks)));
    for (auto& g : group)
      if (dynamic_cast<cuda::NormingCommunicator*>(g.get()) == nullptr)
        return failed_precondition("all_reduce: this group has no residual add (no peer access?)");
  }
  // One thread per rank: a collective needs every rank at once.
  return tp::RankThreads(ranks).run([&](int32_t r) -> Status {
    CUDA_RETURN_IF_ERROR(cudaSetDevice(r));
    cudaStream_t stream = nullptr;
    CUDA_RETURN_IF_ERROR(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
    auto call = [&](size_t c) -> Status {
      const std::vector<float>& in = inputs[c][r];
      DevBuf d;
      if (add == nullptr) {
        EFFITUNE_RETURN_IF_ERROR(upload(d, in.data(), in.size() * 4));
        // A copy from pageable memory can return before its DMA lands, and it runs on the legacy
        // stream, which `stream` (non-blocking) does not wait for.
        CUDA_RETURN_IF_ERROR(cudaDeviceSynchronize());
        EFFITUNE_RETURN_IF_ERROR(group[r]->all_reduce_sum(static_cast<float*>(d.p), static_cast<int64_t>(in.size()), stream));
      } else {
        const size_t n = static_cast<size_t>(add->rows) * add->dim;
        if (in.size() != n || add->residual[c].size() != n || (!add->w.empty() && add->w.size() != static_cast<size_t>(add->dim)))
          return invalid_argument("all_reduce: partials and residual must be rows x dim, w dim long");
        DevBuf dp, dw, dxn;
        EFFITUNE_RETURN_IF_ERROR(upload(d, add->residual[c].data(), n * 4));
        auto* fused = dynamic_cast<cuda::NormingCommunicator*>(group[r].get());
        fused->set_norm_from_registers(add->norm_from_registers);
        fused->set_push_exchange(add->push);
        fused->set_two_shot(add->two_shot);
        // Even calls write the partial where the communicator reads it (as the backend's projections
        // do), odd calls hand it a buffer of their own to copy from.
        const std::vector<uint8_t> pb = to_act(in, part);
        void* partial = fused->partial_buffer();
        if (c % 2 == 0) {
          CUDA_RETURN_IF_ERROR(cudaMemcpy(partial, pb.data(), pb.size(), cudaMemcpyHostToDevice));
        } else {
          EFFITUNE_RETURN_IF_ERROR(upload(dp, pb.data(), pb.size()));
          partial = dp.p;
        }
        if (!add->w.empty()) {
          EFFITUNE_RETURN_IF_ERROR(upload(dw, add->w.data(), add->w.size() * 4));
          CUDA_RETURN_IF_ERROR(cudaMalloc(&dxn.p, n * act_bytes(act)));
        }
        CUDA_RETURN_IF_ERROR(cudaDeviceSynchronize());
        EFFITUNE_RETURN_IF_ERROR(fused->all_reduce_add(partial, part, static_cast<float*>(d.p), add->rows, add->dim,
                                                       static_cast<float*>(dw.p), add->eps, act, dxn.p, stream));
        CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream));
        if (!add->w.empty()) {
          std::vector<uint8_t> b;
          EFFITUNE_RETURN_IF_ERROR(download(b, dxn, n * act_bytes(act)));
          add->normed[c][r] = from_act(b, act);
        }
      }
      CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream));
      outputs[c][r].resize(in.size());
      CUDA_RETURN_IF_ERROR(cudaMemcpy(outputs[c][r].data(), d.p, in.size() * 4, cudaMemcpyDeviceToHost));
      return {};
    };
    Status st;
    for (size_t c = 0; c < inputs.size() && st.ok(); ++c) static_cast<void>(st = call(c));
    cudaStreamDestroy(stream);
    return st;
  });
}

Status lone_rank_exchange(int32_t rows, bool push, double timeout_s, double& waited_s) {
  EFFITUNE_RETURN_IF_ERROR(available());
  EFFITUNE_ASSIGN_OR_RETURN(auto group, make_cuda_tp_group(0, 2));
  auto* fused = dynamic_cast<cuda::NormingCommunicator*>(group[0].get());
  if (fused == nullptr) return failed_precondition("lone_rank_exchange: no peer access between devices 0 and 1");
  fused->set_exchange_timeout(timeout_s);
  fused->set_push_exchange(push);
  constexpr int32_t kDim = 256;
  CUDA_RETURN_IF_ERROR(cudaSetDevice(0));
  DevBuf x;
  const std::vector<float> zeros(static_cast<size_t>(rows) * kDim, 0.0f);
  EFFITUNE_RETURN_IF_ERROR(upload(x, zeros.data(), zeros.size() * 4));
  CUDA_RETURN_IF_ERROR(cudaMemcpy(fused->partial_buffer(), zeros.data(), zeros.size() * 4, cudaMemcpyHostToDevice));
  cudaStream_t stream = nullptr;  // a stream of its own, as the backend's (launch_pdl)
  CUDA_RETURN_IF_ERROR(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  const auto t0 = std::chrono::steady_clock::now();
  const Status launched = fused->all_reduce_add(fused->partial_buffer(), ActType::kF32, static_cast<float*>(x.p), rows,
                                                kDim, nullptr, 1e-5f, ActType::kF32, nullptr, stream);
  const cudaError_t synced = cudaStreamSynchronize(stream);
  waited_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  cudaStreamDestroy(stream);
  EFFITUNE_RETURN_IF_ERROR(launched);
  CUDA_RETURN_IF_ERROR(synced);
  return fused->check();
}

}  // namespace effitune::engine::cuda_ops

namespace effitune::engine {

double cuda_measured_copy_bandwidth(int32_t device) {
  if (cudaSetDevice(device) != cudaSuccess) return 0.0;
  constexpr size_t kBytes = size_t{1} << 30;
  struct Buf {
    void* p = nullptr;
    ~Buf() { cudaFree(p); }
  } a, b;
  if (cudaMalloc(&a.p, kBytes) != cudaSuccess || cudaMalloc(&b.p, kBytes) != cudaSuccess) return 0.0;
  cudaMemset(a.p, 1, kBytes);
  cudaEvent_t e0, e1;
  cudaEventCreate(&e0);
  cudaEventCreate(&e1);
  cudaMemcpy(b.p, a.p, kBytes, cudaMemcpyDeviceToDevice);  // warm-up
  constexpr int kReps = 10;
  cudaEventRecord(e0);
  for (int i = 0; i < kReps; ++i) cudaMemcpyAsync(i % 2 ? a.p : b.p, i % 2 ? b.p : a.p, kBytes, cudaMemcpyDeviceToDevice);
  cudaEventRecord(e1);
  cudaEventSynchronize(e1);
  float ms = 0;
  cudaEventElapsedTime(&ms, e0, e1);
  cudaEventDestroy(e0);
  cudaEventDestroy(e1);
  return ms > 0 ? 2.0 * kBytes * kReps / (ms * 1e-3) : 0.0;
}

}  // namespace effitune::engine
