// Tensor-core decode attention: one new token per sequence, the G query heads of a KV head as the
// rows of one m16n8k16 tile. The scalar decode kernel (attention.cu) dots one K row per thread
// against every query head (HD x G FMAs, each with a shared-memory load of q) and was a latency-bound
// chain of ~2,300 instructions per warp at batch 64 (ncu, session 11): 9-15 us per layer on an H100
// for 64 positions, 13% of a TP=4 rank's batch-64 layer. Here each warp takes 16 positions at a time:
// their K and V rows go to shared memory by cp.async (the first ones before the wait on the previous
// kernel, except the new position, which that kernel or this CTA writes; in splits of 256 positions
// two stages a warp, the next 16 positions loading while these are used), S = Q K^T and O += P V are
// 16 + 16 mma (ldmatrix fragments, V through .trans), with the online softmax in registers as in the
// prefill kernel; the four warps' partial results are then merged through shared memory.
#include <cfloat>

#include "attention_mma.cuh"

namespace effitune::engine::cuda::attn_detail {
namespace {

constexpr int kWarps = 4, kKeysPerTile = 16;
// The wide variant: 8 warps with two 16-position tiles each, all in flight before the wait on the
// previous kernel (few CTAs: one split at batch 1, no merge launch; see decode_split_length); in
// longer splits each warp's tiles then go round the two stages, two in flight at all times.
// 16 warps of one tile would cap the registers at 128 a thread and spill.
constexpr int kWideWarps = 8;
static_assert(kWideWarps * kKeysPerTile * 2 == kWideChunk, "two tiles a warp");
constexpr float kLog2e = 1.4426950408889634f, kLn2 = 0.6931471805599453f;

// Dynamic shared memory: [W warps][kStages][K, V][16 positions][HD + 8] of T (rows padded by 16
// bytes so that the 8 row addresses of an ldmatrix fall in distinct banks; reused as float
// [W][16][HD] for the merge), then the group's query heads [16][HD] of T.
template <int HD>
constexpr int kRow = HD + 8;
template <int HD>
constexpr int kTileElems = kKeysPerTile * kRow<HD>;
template <typename T, int HD, int kStages, int W>
constexpr size_t decode_mma_smem() {
  return sizeof(T) * (W * 2 * kStages * kTileElems<HD> + 16 * HD);
}

// Issues the cp.async copies of positions kb .. kb + 15 of K and V into `dst` (zeros past p1;
// position `skip` left out, for a later copy: the new one, before the PDL wait; -1 for none).
template <typename T, int HD>
__device__ __forceinline__ void stage_tile(const AttnArgs& a, const int32_t* bt, int kvh, int kb, int p1, int skip,
                                          T* dst, int lane) {
  constexpr int kVecs = HD / 8, kPer = kKeysPerTile * kVecs / 32;
  const int64_t kv_dim = static_cast<int64_t>(a.n_kv_heads) * HD;
  const T* kc = static_cast<const T*>(a.kv.k);
  const T* vc = static_cast<const T*>(a.kv.v);
  const uint32_t base = static_cast<uint32_t>(__cvta_generic_to_shared(dst));
#pragma unroll
  for (int u = 0; u < kPer; ++u) {
    const int i = lane + 32 * u, j = i / kVecs, c = (i % kVecs) * 8, p = kb + j;
    if (p == skip) continue;
    const bool ok = p < p1;
    const int64_t slot = ok ? kv_row(a, bt, p, kv_dim, kvh, HD) + c : 0;
    const uint32_t off = static_cast<uint32_t>((j * kRow<HD> + c) * sizeof(T));
    cp_async16(base + off, kc + slot, ok);
    cp_async16(base + off + kTileElems<HD> * sizeof(T), vc + slot, ok);
  }
}

// kStages 2: the next 16 positions load while these are used (splits of 256 positions, up to 4
// tiles a warp); 1: splits of 64, where each warp has one tile and a second stage would only hold
// shared memory (measured on an H100, 1 stage against 2 at batch 1: 8B bf16 +2.1%, q4_0 +4.6%,
// tp4-rank +0.1%, 1B bf16 +1.3%, q4_0 -1.1%).
// W: warps a CTA. kAhead: the rounds of tiles (W x 16 positions each) copied before the wait, 1 or
// kStages; kStages means every round the split has (the wide variant: at most kStages rounds), unless
// kRing: then the later rounds go round the stages (the wide variant's splits past 256 positions; a
// variant of its own, since the ring loop takes the 256-position kernel from 128 to 163 registers at
// head_dim 128 and from 91 to 112 at 64, where it would cost a CTA an SM).
template <typename T, int HD, int kStages, int W, int kAhead, bool kRing = false>
__global__ void __launch_bounds__(W * 32) attn_decode_mma_kernel(AttnArgs a, const int32_t* seq_len, int32_t n_splits,
                                                                 float* po, float* pml) {
  static_assert(kAhead == 1 || kAhead == kStages, "the tiles before the wait: one round, or all of them");
  static_assert(!kRing || kAhead == 2, "the ring: two rounds ahead");
  pdl_trigger();
  constexpr int R = kRow<HD>, kTile = kTileElems<HD>;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  T* kv_s = reinterpret_cast<T*>(smem_raw);
  T* q_s = kv_s + W * 2 * kStages * kTile;
  __shared__ float ml_s[W][16][2];
  static_assert(sizeof(T) * W * 2 * kStages * kTile >= sizeof(float) * W * 16 * HD, "merge area");

  const int kvh = blockIdx.x, s = blockIdx.y, split = blockIdx.z;
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32, gq = lane >> 2, tq = lane & 3;
  const int G = a.n_heads / a.n_kv_heads;
  const int64_t kv_dim = static_cast<int64_t>(a.n_kv_heads) * HD;
  const int len = seq_len[s];
  const int p0 = split * a.chunk, p1 = min(len, p0 + a.chunk), n = p1 - p0;
  const int32_t* bt = a.block_tables + static_cast<int64_t>(s) * a.bt_stride;
  T* ks0 = kv_s + warp * 2 * kStages * kTile;  // stage st: K at ks0 + 2 st kTile, V kTile further
  const int kb0 = p0 + warp * kKeysPerTile;
  // Before the wait: this thread's RoPE angle (as the scalar kernel: 128 % (HD / 2) == 0), and the
  // warp's first kAhead tiles of 16 positions, written by earlier steps, except the new one.
  float rope_sn = 0.0f, rope_cs = 1.0f;
  if (a.inv_freq != nullptr) {
    double sd, cd;
    sincos(static_cast<double>(len - 1) * a.inv_freq[tid % (HD / 2)], &sd, &cd);
    rope_sn = static_cast<float>(sd), rope_cs = static_cast<float>(cd);
  }
#pragma unroll
  for (int r = 0; r < kAhead; ++r) {
    const int kb = kb0 + r * W * kKeysPerTile;
    if (kb < p1) stage_tile<T, HD>(a, bt, kvh, kb, p1, len - 1, ks0 + 2 * r * kTile, lane);
  }
  cp_async_commit();
  pdl_wait();
  if (n <= 0) {  // past this sequence's length
    mark_empty_split(a, pml, s, kvh, n_splits, split);
    return;
  }
  const T* q = static_cast<const T*>(a.qkv) + s * a.ld_qkv + kvh * G * HD;
  if (a.inv_freq == nullptr) {
    for (int i = tid; i < G * HD; i += blockDim.x) q_s[i] = q[i];
  } else {
    // RoPE fused in, with the scalar kernel's angles and roundings: the group's query heads for the
    // new position len - 1, and (in the split that holds it) the new K, stored with V.
    for (int i = tid; i < G * HD / 2; i += blockDim.x) {
      const int g = i / (HD / 2), j = i % (HD / 2);
      const float x0 = to_f32(q[g * HD + 2 * j]), x1 = to_f32(q[g * HD + 2 * j + 1]);
      q_s[g * HD + 2 * j] = from_f32<T>(x0 * rope_cs - x1 * rope_sn);
      q_s[g * HD + 2 * j + 1] = from_f32<T>(x0 * rope_sn + x1 * rope_cs);
    }
    if (p1 == len) {
      const T* kn = static_cast<const T*>(a.qkv) + s * a.ld_qkv + static_cast<int64_t>(a.n_heads) * HD + kvh * HD;
      const T* vn = kn + kv_dim;
      const int64_t slot = kv_row(a, bt, len - 1, kv_dim, kvh, HD);
      T* kw = static_cast<T*>(a.kv.k) + slot;
      T* vw = static_cast<T*>(a.kv.v) + slot;
      // In a tile copied before the wait, the new row also goes straight to its place in shared
      // memory: a copy back from global memory would add a round trip to the chain after the wait.
      const int jn = len - 1 - p0, t = jn / kKeysPerTile;
      T* ks_new = t < kAhead * W ? kv_s + (t % W) * 2 * kStages * kTile + (t / W) * 2 * kTile + (jn % kKeysPerTile) * R
                                 : nullptr;
      for (int j = tid; j < HD / 2; j += blockDim.x) {
        const float x0 = to_f32(kn[2 * j]), x1 = to_f32(kn[2 * j + 1]);
        const T k0 = from_f32<T>(x0 * rope_cs - x1 * rope_sn), k1 = from_f32<T>(x0 * rope_sn + x1 * rope_cs);
        kw[2 * j] = k0, kw[2 * j + 1] = k1;
        if (ks_new != nullptr) ks_new[2 * j] = k0, ks_new[2 * j + 1] = k1;
      }
      for (int d = tid; d < HD; d += blockDim.x) {
        const T x = vn[d];
        vw[d] = x;
        if (ks_new != nullptr) ks_new[kTile + d] = x;
      }
    }
  }
  __syncthreads();  // q_s, and the new K/V row in global (and shared) memory, for every warp
  // Unfused RoPE (an earlier kernel wrote the new row): it, if it falls in a tile of this warp
  // copied before the wait (the later tiles are copied whole below).
#pragma unroll
  for (int r = 0; r < kAhead; ++r) {
    const int kb = kb0 + r * W * kKeysPerTile;
    if (a.inv_freq == nullptr && p1 == len && kb <= len - 1 && len - 1 < kb + kKeysPerTile && lane < HD / 8) {
      const int j = len - 1 - kb, c = lane * 8;
      const int64_t slot = kv_row(a, bt, len - 1, kv_dim, kvh, HD) + c;
      const uint32_t dst = static_cast<uint32_t>(__cvta_generic_to_shared(ks0 + 2 * r * kTile + j * R + c));
      cp_async16(dst, static_cast<const T*>(a.kv.k) + slot, true);
      cp_async16(dst + kTile * sizeof(T), static_cast<const T*>(a.kv.v) + slot, true);
    }
  }
  cp_async_commit();

  // Q as A fragments: rows gq and gq + 8 (clamped to the group: the extra rows are never stored).
  uint32_t qf[HD / 16][4];
  const T* const q_rows[2] = {q_s + min(gq, G - 1) * HD, q_s + min(gq + 8, G - 1) * HD};
  load_a_fragments<T, HD>(qf, q_rows, tq);
  float o[HD / 8][4];
#pragma unroll
  for (int dn = 0; dn < HD / 8; ++dn) o[dn][0] = o[dn][1] = o[dn][2] = o[dn][3] = 0.0f;
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};
  const float scale_log2 = a.scale * kLog2e;
  int st = 0;
  for (int kb = kb0; kb < p1; kb += W * kKeysPerTile) {
    const int next = kb + W * kKeysPerTile;
    if (kAhead == 1 && kStages == 2 && next < p1) {  // the next 16 positions into the other stage while these are used
      stage_tile<T, HD>(a, bt, kvh, next, p1, -1, ks0 + 2 * (st ^ 1) * kTile, lane);
      cp_async_commit();
      cp_async_wait(1);
    } else if (kRing && kb != kb0 && next < p1) {
      // Wide, splits past two rounds: the next round's copy (issued when the last one was used) may
      // stay in flight; this round's, issued before it, must have landed.
      cp_async_wait(1);
    } else {
      cp_async_wait(0);
    }
    __syncwarp();
    const T* ks = ks0 + 2 * st * kTile;
    const T* vs = ks + kTile;
    // S = Q K^T over the tile's two 8-position halves: matrix l / 8 of the x4 is (positions
    // 8 (l / 16) .., dims 16 kk + 8 ((l / 8) % 2) ..), i.e. b0, b1 of half 0, then of half 1.
    float sc[2][4] = {};
    {
      const T* row = ks + ((lane / 16) * 8 + lane % 8) * R + ((lane / 8) % 2) * 8;
#pragma unroll
      for (int kk = 0; kk < HD / 16; ++kk) {
        uint32_t b[4];
        ldmatrix_x4(b, row + kk * 16);
        mma_16816<T>(sc[0], qf[kk], b[0], b[1]);
        mma_16816<T>(sc[1], qf[kk], b[2], b[3]);
      }
    }
    float mx[2] = {-INFINITY, -INFINITY};
#pragma unroll
    for (int h = 0; h < 2; ++h)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const float v = kb + h * 8 + tq * 2 + (e & 1) < p1 ? sc[h][e] * scale_log2 : -INFINITY;
        sc[h][e] = v;
        mx[e >> 1] = fmaxf(mx[e >> 1], v);
      }
#pragma unroll
    for (int i = 0; i < 2; ++i) {
      mx[i] = fmaxf(mx[i], __shfl_xor_sync(0xffffffffu, mx[i], 1));
      mx[i] = fmaxf(mx[i], __shfl_xor_sync(0xffffffffu, mx[i], 2));
      const float m_new = fmaxf(m[i], mx[i]);  // finite: the tile's first position is < p1
      const float corr = exp2f(m[i] - m_new);
      m[i] = m_new;
      l[i] *= corr;
#pragma unroll
      for (int dn = 0; dn < HD / 8; ++dn) o[dn][2 * i] *= corr, o[dn][2 * i + 1] *= corr;
    }
#pragma unroll
    for (int h = 0; h < 2; ++h)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const float p = exp2f(sc[h][e] - m[e >> 1]);
        sc[h][e] = p;
        l[e >> 1] += p;
      }
    // P (rounded to T, as FlashAttention does) is, register for register, the A fragment.
    const uint32_t pa[4] = {pack2<T>(sc[0][0], sc[0][1]), pack2<T>(sc[0][2], sc[0][3]), pack2<T>(sc[1][0], sc[1][1]),
                            pack2<T>(sc[1][2], sc[1][3])};
    mma_pv16<T, HD>(o, pa, vs, R, lane);  // O += P V
    __syncwarp();  // this stage is read before a copy overwrites it
    if (kStages == 1 && next < p1) {
      stage_tile<T, HD>(a, bt, kvh, next, p1, -1, ks0, lane);
      cp_async_commit();
    }
    // Wide, splits past two rounds (the new row, written to the cache before the barrier above, is
    // copied with its tile): the round after next into the stage just used, so that two rounds are
    // always in flight.
    if (kRing && next + W * kKeysPerTile < p1) {
      stage_tile<T, HD>(a, bt, kvh, next + W * kKeysPerTile, p1, -1, ks0 + 2 * st * kTile, lane);
      cp_async_commit();
    }
    if (kStages == 2) st ^= 1;
  }

  // Merge the warps (a warp with no positions has m = -inf, l = 0, o = 0 and weighs nothing).
#pragma unroll
  for (int i = 0; i < 2; ++i) {
    l[i] += __shfl_xor_sync(0xffffffffu, l[i], 1);
    l[i] += __shfl_xor_sync(0xffffffffu, l[i], 2);
  }
  __syncthreads();  // every warp is done with its tiles: kv_s becomes the merge area
  float* mo = reinterpret_cast<float*>(kv_s);  // [W][16][HD]
#pragma unroll
  for (int i = 0; i < 2; ++i) {
    const int r = gq + 8 * i;
    if (tq == 0) ml_s[warp][r][0] = m[i], ml_s[warp][r][1] = l[i];
#pragma unroll
    for (int dn = 0; dn < HD / 8; ++dn) {
      float* dst = mo + (warp * 16 + r) * HD + dn * 8 + tq * 2;
      dst[0] = o[dn][2 * i];
      dst[1] = o[dn][2 * i + 1];
    }
  }
  __syncthreads();
  for (int i = tid; i < G * HD; i += blockDim.x) {
    const int g = i / HD, d = i % HD;
    float M = -INFINITY;
#pragma unroll
    for (int w = 0; w < W; ++w) M = fmaxf(M, ml_s[w][g][0]);
    float L = 0.0f, acc = 0.0f;
#pragma unroll
    for (int w = 0; w < W; ++w) {
      const float f = exp2f(ml_s[w][g][0] - M);  // 0 for a warp without positions
      L += ml_s[w][g][1] * f;
      acc += mo[(w * 16 + g) * HD + d] * f;
    }
    const int h = kvh * G + g;
    if (n_splits == 1) {
      static_cast<T*>(a.out)[s * static_cast<int64_t>(a.n_heads) * HD + h * HD + d] = from_f32<T>(acc / L);
    } else {
      // The merge kernel's units: the max in natural-log units of the scaled scores, l unscaled.
      const int64_t base = (static_cast<int64_t>(s) * a.n_heads + h) * n_splits + split;
      po[base * HD + d] = acc;
      if (d == 0) {
        pml[base * 2] = M * kLn2;
        pml[base * 2 + 1] = L;
      }
    }
  }
}

template <typename T, int HD>
struct DecodeMma {
  void (*kernel)(AttnArgs, const int32_t*, int32_t, float*, float*);
  int smem, threads;
};
template <typename T, int HD, int kStages, int W = kWarps, int kAhead = 1, bool kRing = false>
DecodeMma<T, HD> decode_mma_variant() {
  constexpr int kSmem = static_cast<int>(decode_mma_smem<T, HD, kStages, W>());
  constexpr auto kernel = attn_decode_mma_kernel<T, HD, kStages, W, kAhead, kRing>;
  static std::atomic<uint64_t> raised{0};
  // A failure here shows as the launch's error (the backend checks after every layer).
  if (kSmem > 48 * 1024) raise_dynamic_smem(reinterpret_cast<const void*>(kernel), kSmem, raised);
  return {kernel, kSmem, W * 32};
}
template <typename T, int HD>
DecodeMma<T, HD> decode_mma(int32_t chunk, bool wide) {
  if (wide) {
    return chunk <= kWideChunk ? decode_mma_variant<T, HD, 2, kWideWarps, 2>()
                               : decode_mma_variant<T, HD, 2, kWideWarps, 2, true>();
  }
  return chunk <= kWarps * kKeysPerTile ? decode_mma_variant<T, HD, 1>() : decode_mma_variant<T, HD, 2>();
}

}  // namespace

template <typename T, int HD>
void launch_decode_mma(const AttnArgs& a, const int32_t* seq_len, dim3 grid, int32_t n_splits, float* po, float* pml,
                       bool wide, cudaStream_t s) {
  const DecodeMma<T, HD> k = decode_mma<T, HD>(a.chunk, wide);
  launch_pdl(k.kernel, grid, k.threads, k.smem, s, a, seq_len, n_splits, po, pml);
}

template <typename T, int HD>
int decode_mma_ctas_per_sm(int32_t chunk, bool wide) {
  // By variant: one stage, two, wide, wide past 256 positions (tensor-parallel ranks' threads share it).
  static std::atomic<int> n[4] = {0, 0, 0, 0};
  std::atomic<int>& v = n[wide ? (chunk <= kWideChunk ? 2 : 3) : chunk <= kWarps * kKeysPerTile ? 0 : 1];
  if (v.load(std::memory_order_relaxed) == 0) {
    const DecodeMma<T, HD> k = decode_mma<T, HD>(chunk, wide);
    int c = 0;
    cudaOccupancyMaxActiveBlocksPerMultiprocessor(&c, k.kernel, k.threads, k.smem);
    v.store(c > 0 ? c : -1, std::memory_order_relaxed);  // -1: does not fit
  }
  return std::max(v.load(std::memory_order_relaxed), 0);
}

template int decode_mma_ctas_per_sm<__nv_bfloat16, 64>(int32_t, bool);
template int decode_mma_ctas_per_sm<__nv_bfloat16, 128>(int32_t, bool);
template int decode_mma_ctas_per_sm<__half, 64>(int32_t, bool);
template int decode_mma_ctas_per_sm<__half, 128>(int32_t, bool);
template void launch_decode_mma<__nv_bfloat16, 64>(const AttnArgs&, const int32_t*, dim3, int32_t, float*, float*, bool,
                                                   cudaStream_t);
template void launch_decode_mma<__nv_bfloat16, 128>(const AttnArgs&, const int32_t*, dim3, int32_t, float*, float*, bool,
                                                    cudaStream_t);
template void launch_decode_mma<__half, 64>(const AttnArgs&, const int32_t*, dim3, int32_t, float*, float*, bool,
                                            cudaStream_t);
template void launch_decode_mma<__half, 128>(const AttnArgs&, const int32_t*, dim3, int32_t, float*, float*, bool,
                                             cudaStream_t);

}  // namespace effitune::engine::cuda::attn_detail
