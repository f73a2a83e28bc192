#include <algorithm>
#include <atomic>
#include <cfloat>
#include <cstdlib>
#include <cstring>
#include <type_traits>

#include "attention.cuh"
#include "attention_mma.cuh"
#include "decode_attn_choice.h"
#include "common.cuh"

namespace effitune::engine::cuda {
namespace {

using namespace attn_detail;

// Eight consecutive elements as floats (head_dim is a multiple of 8, rows 16-byte aligned).
template <typename T>
__device__ __forceinline__ void load8(const T* p, float* out) {
  if constexpr (sizeof(T) == 4) {
    unpack16(*reinterpret_cast<const uint4*>(p), T{}, out);
    unpack16(*reinterpret_cast<const uint4*>(p + 4), T{}, out + 4);
  } else {
    unpack16(*reinterpret_cast<const uint4*>(p), T{}, out);
  }
}

// One CTA per (KV head, step, split of a.chunk positions), all G query heads of the group at
// once so that K/V are read once. Scores: one thread per position with the K row's 16-byte loads
// unrolled (HD is a template parameter); P.V: threads own 16-byte column groups of V and split
// the positions, then reduce through shared memory. The first version looped V one element per
// thread over every position and was latency-bound (~80 us per layer at 8 KV heads, batch 1).
//
// kG: the largest query-head group the instantiation takes (4 or 8): the per-group accumulators are
// sized by it, so a 4-head group (Llama-3 8B/1B) needs half the registers of the 8-head case.
// kRowInRegs: each thread holds its K row as HD floats (fastest when the grid is a few CTAs, at batch
// 1), or issues the row's 16-byte loads and folds them into the dot products piece by piece (96
// instead of 164 registers for HD = 128: 5 CTAs per SM instead of 3, which at batch 64 is the
// difference between one wave and 1.3).
template <typename T, int HD, int kG, bool kRowInRegs>
__global__ void __launch_bounds__(128) attn_decode_kernel(AttnArgs a, const int32_t* seq_len, int32_t n_splits, float* po,
                                                          float* pml) {
  pdl_trigger();
  constexpr int kVec = 16 / sizeof(T), kGroups = HD / kVec < 1 ? 1 : HD / kVec, kSubs = 128 / kGroups;
  extern __shared__ float smem[];
  const int kvh = blockIdx.x, s = blockIdx.y, split = blockIdx.z;
  const int G = a.n_heads / a.n_kv_heads;
  const int64_t kv_dim = static_cast<int64_t>(a.n_kv_heads) * HD;
  // Before waiting for the QKV projection: the step's lengths and block tables come from the host,
  // and the cached K/V rows of the earlier positions from earlier steps, so their latencies can
  // overlap the previous kernel's tail: this thread's RoPE angle, and the CTA's old K/V rows pulled
  // into L1 (the new position's rows are written below, by this CTA or by rope_store_kernel).
  const int len = seq_len[s];
  const int chunk = a.chunk;
  const int p0 = split * chunk, p1 = min(len, p0 + chunk), n = p1 - p0;
  const int tid = threadIdx.x;
  const int32_t* bt = a.block_tables + static_cast<int64_t>(s) * a.bt_stride;
  float rope_sn = 0.0f, rope_cs = 1.0f;  // angle (len - 1) * inv_freq[tid % (HD / 2)]: 128 % (HD / 2) == 0
  if (a.inv_freq != nullptr) {
    double sd, cd;
    sincos(static_cast<double>(len - 1) * a.inv_freq[tid % (HD / 2)], &sd, &cd);
    rope_sn = static_cast<float>(sd), rope_cs = static_cast<float>(cd);
  }
  if (a.prefetch_kv) {
    constexpr int kLines = (HD * static_cast<int>(sizeof(T)) + 127) / 128;  // 128-byte lines per row
    for (int i = tid; i < (min(p1, len - 1) - p0) * 2 * kLines; i += blockDim.x) {
      const int p = p0 + i / (2 * kLines), line = i % kLines;
      const T* base = (i / kLines) % 2 ? static_cast<const T*>(a.kv.v) : static_cast<const T*>(a.kv.k);
      const T* row = base + kv_row(a, bt, p, kv_dim, kvh, HD);
      asm volatile("prefetch.global.L1 [%0];" ::"l"(reinterpret_cast<const char*>(row) + line * 128));
    }
  }
  pdl_wait();
  if (n <= 0) {  // past this sequence's length
    mark_empty_split(a, pml, s, kvh, n_splits, split);
    return;
  }
  float* q_s = smem;                       // [G][HD], pre-scaled
  float* sc = q_s + G * HD;                // [G][chunk]
  float* stat = sc + G * chunk;            // [G][2]
  float* red = stat + 2 * kAttnMaxGroup;  // [kSubs][G][HD] (decode_hd sizes the region the same way)
  const T* q = static_cast<const T*>(a.qkv) + s * a.ld_qkv + kvh * G * HD;
  const T* kc = static_cast<const T*>(a.kv.k);
  const T* vc = static_cast<const T*>(a.kv.v);
  if (a.inv_freq == nullptr) {
    for (int i = tid; i < G * HD; i += blockDim.x) q_s[i] = to_f32(q[i]) * a.scale;
  } else {
    // RoPE fused in (decode only): rotate this group's query heads for the new position len - 1,
    // and the CTA whose split holds that position also rotates and stores its K and V, which no
    // other CTA reads. Same angles (double) and roundings as rope_store_kernel.
    const int pos = len - 1;
    for (int i = tid; i < G * HD / 2; i += blockDim.x) {
      const int g = i / (HD / 2), j = i % (HD / 2);  // j == tid % (HD / 2): the angle computed above
      const float sn = rope_sn, cs = rope_cs;
      const float x0 = to_f32(q[g * HD + 2 * j]), x1 = to_f32(q[g * HD + 2 * j + 1]);
      q_s[g * HD + 2 * j] = to_f32(from_f32<T>(x0 * cs - x1 * sn)) * a.scale;
      q_s[g * HD + 2 * j + 1] = to_f32(from_f32<T>(x0 * sn + x1 * cs)) * a.scale;
    }
    if (p1 == len) {
      const T* kn = static_cast<const T*>(a.qkv) + s * a.ld_qkv + static_cast<int64_t>(a.n_heads) * HD + kvh * HD;
      const T* vn = kn + kv_dim;
      const int64_t slot = kv_row(a, bt, pos, kv_dim, kvh, HD);
      T* kw = static_cast<T*>(a.kv.k) + slot;
      T* vw = static_cast<T*>(a.kv.v) + slot;
      for (int j = tid; j < HD / 2; j += blockDim.x) {  // j == tid
        const float sn = rope_sn, cs = rope_cs;
        const float x0 = to_f32(kn[2 * j]), x1 = to_f32(kn[2 * j + 1]);
        kw[2 * j] = from_f32<T>(x0 * cs - x1 * sn);
        kw[2 * j + 1] = from_f32<T>(x0 * sn + x1 * cs);
      }
      for (int d = tid; d < HD; d += blockDim.x) vw[d] = vn[d];
    }
  }
  __syncthreads();

  auto k_row = [&](int p) {
    return kc + kv_row(a, bt, p, kv_dim, kvh, HD);
  };
  if constexpr (kRowInRegs) {
    for (int p = p0 + tid; p < p1; p += blockDim.x) {
      const T* kr = k_row(p);
      float k[HD];
#pragma unroll
      for (int d0 = 0; d0 < HD; d0 += 8) load8(kr + d0, k + d0);
#pragma unroll
      for (int g = 0; g < kG; ++g) {
        if (g >= G) break;
        float dot = 0.0f;
#pragma unroll
        for (int d = 0; d < HD; ++d) dot = fmaf(q_s[g * HD + d], k[d], dot);
        sc[g * chunk + (p - p0)] = dot;
      }
    }
  } else {
    // Scores, one thread per position. !kRowInRegs: the K row's 16-byte loads are issued first (raw),
    // then each piece is unpacked into one running dot product per query head, in the same order as the
    // whole-row dot of the other variant, so both give the same bits.
    constexpr int kRowVecs = HD * static_cast<int>(sizeof(T)) / 16, kPer = 16 / static_cast<int>(sizeof(T));
    for (int p = p0 + tid; p < p1; p += blockDim.x) {
      const T* kr = k_row(p);
      uint4 raw[kRowVecs];
#pragma unroll
      for (int v = 0; v < kRowVecs; ++v) raw[v] = reinterpret_cast<const uint4*>(kr)[v];
      float dot[kG];
#pragma unroll
      for (int g = 0; g < kG; ++g) dot[g] = 0.0f;
#pragma unroll
      for (int v = 0; v < kRowVecs; ++v) {
        float k[kPer];
        unpack16(raw[v], T{}, k);
#pragma unroll
        for (int g = 0; g < kG; ++g) {
          if (g >= G) break;
#pragma unroll
          for (int i = 0; i < kPer; ++i) dot[g] = fmaf(q_s[g * HD + v * kPer + i], k[i], dot[g]);
        }
      }
#pragma unroll
      for (int g = 0; g < kG; ++g) {
        if (g >= G) break;
        sc[g * chunk + (p - p0)] = dot[g];
      }
    }
  }
  __syncthreads();

  const int lane = tid & 31, warp = tid >> 5, n_warps = blockDim.x >> 5;
  for (int g = warp; g < G; g += n_warps) {
    float m = -FLT_MAX;
    for (int i = lane; i < n; i += 32) m = fmaxf(m, sc[g * chunk + i]);
    m = warp_max(m);
    float l = 0.0f;
    for (int i = lane; i < n; i += 32) {
      const float e = expf(sc[g * chunk + i] - m);
      sc[g * chunk + i] = e;
      l += e;
    }
    l = warp_sum(l);
    if (lane == 0) {
      stat[2 * g] = m;
      stat[2 * g + 1] = l;
    }
  }
  __syncthreads();

  const int grp = tid % kGroups, sub = tid / kGroups;
  const int d0 = grp * kVec;
  float acc[kG][kVec];
#pragma unroll
  for (int g = 0; g < kG; ++g)
#pragma unroll
    for (int i = 0; i < kVec; ++i) acc[g][i] = 0.0f;
  auto v_row = [&](int p) {
    return vc + kv_row(a, bt, p, kv_dim, kvh, HD) + d0;
  };
  auto accumulate = [&](int p, const float (&v)[kVec]) {
#pragma unroll
    for (int g = 0; g < kG; ++g) {
      if (g >= G) break;
      const float pr = sc[g * chunk + (p - p0)];
#pragma unroll
      for (int i = 0; i < kVec; ++i) acc[g][i] = fmaf(pr, v[i], acc[g][i]);
    }
  };
  if (d0 < HD) {
    if constexpr (kVec * sizeof(T) == 16 && HD >= kVec) {
      // kPv positions' 16-byte loads in flight per thread before their FMAs: one load per loop
      // trip left each thread waiting a memory latency per position (an 8B layer's attention took
      // 9 us at batch 1 and 45 us at batch 64, at 0.8 TB/s).
      constexpr int kPv = 8;
      for (int p = p0 + sub; p < p1; p += kSubs * kPv) {
        uint4 raw[kPv];
#pragma unroll
        for (int u = 0; u < kPv; ++u)
          if (p + u * kSubs < p1) raw[u] = *reinterpret_cast<const uint4*>(v_row(p + u * kSubs));
#pragma unroll
        for (int u = 0; u < kPv; ++u) {
          if (p + u * kSubs >= p1) break;
          float v[kVec];
          unpack16(raw[u], T{}, v);
          accumulate(p + u * kSubs, v);
        }
      }
    } else {
      for (int p = p0 + sub; p < p1; p += kSubs) {
        float v[kVec];
        const T* vr = v_row(p);
#pragma unroll
        for (int i = 0; i < kVec; ++i) v[i] = i + d0 < HD ? to_f32(vr[i]) : 0.0f;
        accumulate(p, v);
      }
    }
#pragma unroll
    for (int g = 0; g < kG; ++g) {
      if (g >= G) break;
#pragma unroll
      for (int i = 0; i < kVec; ++i)
        if (d0 + i < HD) red[(sub * G + g) * HD + d0 + i] = acc[g][i];
    }
  }
  __syncthreads();
  for (int i = tid; i < G * HD; i += blockDim.x) {
    const int g = i / HD, dd = i % HD;
    float o = 0.0f;
    for (int ps = 0; ps < kSubs; ++ps) o += red[(ps * G + g) * HD + dd];
    const int h = kvh * G + g;
    if (n_splits == 1) {
      static_cast<T*>(a.out)[s * static_cast<int64_t>(a.n_heads) * HD + h * HD + dd] = from_f32<T>(o / stat[2 * g + 1]);
    } else {
      const int64_t base = (static_cast<int64_t>(s) * a.n_heads + h) * n_splits + split;
      po[base * HD + dd] = o;
      if (dd == 0) {
        pml[base * 2] = stat[2 * g];
        pml[base * 2 + 1] = stat[2 * g + 1];
      }
    }
  }
}

// The splits' partial results of one (sequence, query head), merged: out = sum_sp o_sp w_sp / sum_sp
// l_sp w_sp with w_sp = exp(m_sp - max m), over the splits that hold positions (l > 0), in split order.
// The threads first take the splits' maxima and weights side by side (kMergeTile splits at a time,
// through shared memory); each thread then sums its dim over the tile, its loads independent of one
// another. A loop that read each split's statistics and partial in turn paid a memory round trip a
// split: ~0.24 us a split at batch 1 (H100, bench/README.md session 21), ~8 us at 33 splits. The
// arithmetic, and so the bits, are those of that loop.
constexpr int kMergeTile = 1024;

template <typename T>
__global__ void attn_merge_kernel(AttnArgs a, int32_t n_splits, const float* po, const float* pml) {
  pdl_trigger();
  pdl_wait();
  __shared__ float w_s[kMergeTile], l_s[kMergeTile], red[128];
  const int h = blockIdx.x, s = blockIdx.y, hd = a.head_dim, tid = threadIdx.x, nt = blockDim.x;
  const int64_t base = (static_cast<int64_t>(s) * a.n_heads + h) * n_splits;
  float M = -FLT_MAX;
  for (int sp = tid; sp < n_splits; sp += nt)
    if (pml[(base + sp) * 2 + 1] > 0.0f) M = fmaxf(M, pml[(base + sp) * 2]);
  red[tid] = M;
  __syncthreads();
  for (int off = 64; off > 0; off >>= 1) {  // blockDim.x <= 128
    if (tid < off && tid + off < nt) red[tid] = fmaxf(red[tid], red[tid + off]);
    __syncthreads();
  }
  M = red[0];
  float L = 0.0f, o = 0.0f;  // dim tid (blockDim.x >= head_dim: decode_hd launches min(HD, 128) for HD <= 128)
  for (int t0 = 0; t0 < n_splits; t0 += kMergeTile) {
    const int n = min(kMergeTile, n_splits - t0);
    for (int i = tid; i < n; i += nt) {
      const float l = pml[(base + t0 + i) * 2 + 1];
      l_s[i] = l;
      w_s[i] = l > 0.0f ? expf(pml[(base + t0 + i) * 2] - M) : 0.0f;
    }
    __syncthreads();
#pragma unroll 8
    for (int i = 0; i < n; ++i) {
      const float l = l_s[i], w = w_s[i];
      if (l <= 0.0f) continue;
      L += l * w;
      if (tid < hd) o += po[(base + t0 + i) * hd + tid] * w;
    }
    __syncthreads();  // the tile is read before the next one overwrites it
  }
  if (tid < hd) static_cast<T*>(a.out)[s * static_cast<int64_t>(a.n_heads) * hd + h * hd + tid] = from_f32<T>(o / L);
}

// Four lanes share a query row (each a quarter of the head's dims, interleaved) so that the q and
// output accumulators stay in registers: with two lanes per row the 128-dim instance needed ~200
// registers and spilled.
template <typename T, int HD>
__global__ void __launch_bounds__(256) attn_prefill_kernel(AttnArgs a, const int32_t* tiles, const int32_t* pos) {
  pdl_trigger();
  pdl_wait();
  constexpr int kKeys = 32, kLanes = 4, kHalf = HD / kLanes;
  __shared__ float ks[kKeys][HD];
  __shared__ float vs[kKeys][HD];
  const int tile = blockIdx.x, kvh = blockIdx.y, tid = threadIdx.x;
  const int s = tiles[3 * tile], t0 = tiles[3 * tile + 1], nq = tiles[3 * tile + 2];
  const int G = a.n_heads / a.n_kv_heads, hd = a.head_dim;
  const int64_t kv_dim = static_cast<int64_t>(a.n_kv_heads) * hd;
  const int r = tid / kLanes, half = tid % kLanes;
  const bool active = r < nq * G;
  const int qi = min(r / G, nq - 1), g = r % G;
  const int t = t0 + qi;
  const int my_pos = pos[t], max_pos = pos[t0 + nq - 1];
  const T* q = static_cast<const T*>(a.qkv) + t * a.ld_qkv + (kvh * G + g) * hd;
  float qr[kHalf], acc[kHalf];
#pragma unroll
  for (int j = 0; j < kHalf; ++j) {
    const int d = kLanes * j + half;
    qr[j] = d < hd ? to_f32(q[d]) * a.scale : 0.0f;
    acc[j] = 0.0f;
  }
  float m = -FLT_MAX, l = 0.0f;
  const int32_t* bt = a.block_tables + static_cast<int64_t>(s) * a.bt_stride;
  const T* kc = static_cast<const T*>(a.kv.k);
  const T* vc = static_cast<const T*>(a.kv.v);
  for (int kb = 0; kb <= max_pos; kb += kKeys) {
    __syncthreads();
    for (int i = tid; i < kKeys * hd; i += blockDim.x) {
      const int j = i / hd, d = i % hd, p = kb + j;
      float kv = 0.0f, vv = 0.0f;
      if (p <= max_pos) {
        const int64_t slot = kv_row(a, bt, p, kv_dim, kvh, hd) + d;
        kv = to_f32(kc[slot]);
        vv = to_f32(vc[slot]);
      }
      ks[j][d] = kv;
      vs[j][d] = vv;
    }
    __syncthreads();
    float sc[kKeys];
    float mt = -FLT_MAX;
#pragma unroll
    for (int j = 0; j < kKeys; ++j) {
      float dot = 0.0f;
#pragma unroll
      for (int jj = 0; jj < kHalf; ++jj)
        if (kLanes * jj + half < hd) dot = fmaf(qr[jj], ks[j][kLanes * jj + half], dot);
      dot += __shfl_xor_sync(0xffffffffu, dot, 1);
      dot += __shfl_xor_sync(0xffffffffu, dot, 2);
      sc[j] = kb + j <= my_pos ? dot : -FLT_MAX;
      mt = fmaxf(mt, sc[j]);
    }
    const float m_new = fmaxf(m, mt);
    const float corr = expf(m - m_new);
    l *= corr;
#pragma unroll
    for (int jj = 0; jj < kHalf; ++jj) acc[jj] *= corr;
#pragma unroll
    for (int j = 0; j < kKeys; ++j) {
      const float p = kb + j <= my_pos ? expf(sc[j] - m_new) : 0.0f;
      l += p;
#pragma unroll
      for (int jj = 0; jj < kHalf; ++jj)
        if (kLanes * jj + half < hd) acc[jj] = fmaf(p, vs[j][kLanes * jj + half], acc[jj]);
    }
    m = m_new;
  }
  if (!active) return;
  T* out = static_cast<T*>(a.out) + t * static_cast<int64_t>(a.n_heads) * hd + (kvh * G + g) * hd;
#pragma unroll
  for (int jj = 0; jj < kHalf; ++jj) {
    const int d = kLanes * jj + half;
    if (d < hd) out[d] = from_f32<T>(acc[jj] / l);
  }
}

// Tensor-core prefill for 16-bit activations and head_dim 64 or 128 (FlashAttention-2 layout on
// mma.sync m16n8k16): four warps own 16 query rows each (rows = the tile's tokens x the KV head's G
// query heads, so GQA heads share every K/V tile), S = Q K^T and O += P V run on tensor cores with
// f32 accumulation, the online softmax stays in registers (exp2 with log2(e) folded into the scale),
// and P is rounded to the activation type for the second product, as FlashAttention does. K/V tiles
// of 64 positions go to shared memory by cp.async in two stages (the next tile loads while this one
// is used), both row-major, rows padded by 8 elements so that a warp's fragment loads fall in distinct
// banks; V reaches the P V product through ldmatrix .trans. (Until session 21 each tile was loaded
// and then transposed into shared memory by scalar stores that 16 threads sent to one bank, with
// nothing in flight during the products: ~100 TFLOP/s of attention at 8,000-16,000-token prompts.)
constexpr int kPrefillKeys = 64;
template <typename T, int HD>
constexpr size_t prefill_mma_smem() {
  return sizeof(T) * 2 * 2 * kPrefillKeys * (HD + 8);
}

// Three CTAs an SM (168 registers at head_dim 128, no spills; unbounded it took 174 and held two).
template <typename T, int HD>
__global__ void __launch_bounds__(128, 3) attn_prefill_mma_kernel(AttnArgs a, const int32_t* tiles, const int32_t* pos) {
  pdl_trigger();
  pdl_wait();
  constexpr int kKeys = kPrefillKeys, kPadK = HD + 8, kVecs = HD / 8, kTile = kKeys * kPadK;
  extern __shared__ __align__(16) unsigned char prefill_smem[];
  T* kv_s = reinterpret_cast<T*>(prefill_smem);  // [2 stages][K, V][position][dim]
  const int tile = blockIdx.x, kvh = blockIdx.y, tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const int gq = lane >> 2, tq = lane & 3;
  const int s = tiles[3 * tile], t0 = tiles[3 * tile + 1], nq = tiles[3 * tile + 2];
  const int G = a.n_heads / a.n_kv_heads, rows = nq * G;
  const int64_t kv_dim = static_cast<int64_t>(a.n_kv_heads) * HD;
  const int max_pos = pos[t0 + nq - 1];
  const int32_t* bt = a.block_tables + static_cast<int64_t>(s) * a.bt_stride;
  const T* kc = static_cast<const T*>(a.kv.k);
  const T* vc = static_cast<const T*>(a.kv.v);
  // Positions kb .. kb + 63 of K and V into stage st (zeros past max_pos), one commit group.
  const auto stage = [&](int kb, int st) {
    const uint32_t kbase = static_cast<uint32_t>(__cvta_generic_to_shared(kv_s + st * 2 * kTile));
    for (int i = tid; i < kKeys * kVecs; i += blockDim.x) {
      const int j = i / kVecs, c = (i % kVecs) * 8, p = kb + j;
      const bool ok = p <= max_pos;
      const int64_t slot = ok ? kv_row(a, bt, p, kv_dim, kvh, HD) + c : 0;
      const uint32_t off = static_cast<uint32_t>((j * kPadK + c) * sizeof(T));
      cp_async16(kbase + off, kc + slot, ok);
      cp_async16(kbase + off + kTile * sizeof(T), vc + slot, ok);
    }
    cp_async_commit();
  };
  stage(0, 0);

  // This thread's two rows: warp * 16 + gq and + 8 (rows past the tile compute on a clamped row and
  // are not stored).
  int my_pos[2];
  uint32_t qf[HD / 16][4];
  const T* q_rows[2];
#pragma unroll
  for (int i = 0; i < 2; ++i) {
    const int r = min(warp * 16 + gq + 8 * i, rows - 1), t = t0 + r / G;
    my_pos[i] = pos[t];
    q_rows[i] = static_cast<const T*>(a.qkv) + t * a.ld_qkv + (kvh * G + r % G) * HD;
  }
  load_a_fragments<T, HD>(qf, q_rows, tq);
  float o[HD / 8][4];
#pragma unroll
  for (int dn = 0; dn < HD / 8; ++dn) o[dn][0] = o[dn][1] = o[dn][2] = o[dn][3] = 0.0f;
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};
  const float scale_log2 = a.scale * 1.4426950408889634f;

  int st = 0;
  for (int kb = 0; kb <= max_pos; kb += kKeys, st ^= 1) {
    // The next tile into the other stage (read in the previous trip, which every thread has left:
    // the barrier at the end of it); then this one's copies, every thread's, landed.
    if (kb + kKeys <= max_pos) {
      stage(kb + kKeys, st ^ 1);
      cp_async_wait(1);
    } else {
      cp_async_wait(0);
    }
    __syncthreads();
    const T* ks = kv_s + st * 2 * kTile;
    const T* vs = ks + kTile;

    float sc[kKeys / 8][4];
#pragma unroll
    for (int n = 0; n < kKeys / 8; ++n) {
      sc[n][0] = sc[n][1] = sc[n][2] = sc[n][3] = 0.0f;
      const T* krow = &ks[(n * 8 + gq) * kPadK + tq * 2];
#pragma unroll
      for (int kk = 0; kk < HD / 16; ++kk) mma_16816<T>(sc[n], qf[kk], ld32(krow + kk * 16), ld32(krow + kk * 16 + 8));
    }
    float mx[2] = {-INFINITY, -INFINITY};
#pragma unroll
    for (int n = 0; n < kKeys / 8; ++n)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int key = kb + n * 8 + tq * 2 + (e & 1);
        const float v = key <= my_pos[e >> 1] ? sc[n][e] * scale_log2 : -INFINITY;
        sc[n][e] = v;
        mx[e >> 1] = fmaxf(mx[e >> 1], v);
      }
    float corr[2];
#pragma unroll
    for (int i = 0; i < 2; ++i) {
      mx[i] = fmaxf(mx[i], __shfl_xor_sync(0xffffffffu, mx[i], 1));
      mx[i] = fmaxf(mx[i], __shfl_xor_sync(0xffffffffu, mx[i], 2));
      // Position 0 is in the first tile and every row attends to it, so m is finite from then on.
      const float m_new = fmaxf(m[i], mx[i]);
      corr[i] = exp2f(m[i] - m_new);
      m[i] = m_new;
      l[i] *= corr[i];
    }
#pragma unroll
    for (int dn = 0; dn < HD / 8; ++dn) {
      o[dn][0] *= corr[0], o[dn][1] *= corr[0];
      o[dn][2] *= corr[1], o[dn][3] *= corr[1];
    }
#pragma unroll
    for (int n = 0; n < kKeys / 8; ++n)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const float p = exp2f(sc[n][e] - m[e >> 1]);
        sc[n][e] = p;
        l[e >> 1] += p;
      }
    // The S accumulator of key columns 16 kk .. 16 kk + 15 is, register for register, the A
    // fragment of P for that k-step.
#pragma unroll
    for (int kk = 0; kk < kKeys / 16; ++kk) {
      const uint32_t pa[4] = {pack2<T>(sc[2 * kk][0], sc[2 * kk][1]), pack2<T>(sc[2 * kk][2], sc[2 * kk][3]),
                              pack2<T>(sc[2 * kk + 1][0], sc[2 * kk + 1][1]),
                              pack2<T>(sc[2 * kk + 1][2], sc[2 * kk + 1][3])};
      mma_pv16<T, HD>(o, pa, vs + kk * 16 * kPadK, kPadK, lane);
    }
    __syncthreads();  // this stage is read before the next trip's copy overwrites it
  }

#pragma unroll
  for (int i = 0; i < 2; ++i) {
    l[i] += __shfl_xor_sync(0xffffffffu, l[i], 1);
    l[i] += __shfl_xor_sync(0xffffffffu, l[i], 2);
    const int r = warp * 16 + gq + 8 * i;
    if (r >= rows) continue;
    const int t = t0 + r / G;
    T* out = static_cast<T*>(a.out) + t * static_cast<int64_t>(a.n_heads) * HD + (kvh * G + r % G) * HD + tq * 2;
    const float inv = 1.0f / l[i];
#pragma unroll
    for (int dn = 0; dn < HD / 8; ++dn)
      *reinterpret_cast<uint32_t*>(out + dn * 8) = pack2<T>(o[dn][2 * i] * inv, o[dn][2 * i + 1] * inv);
  }
}

// EFFITUNE_ATTN_DECODE_MMA: -1 unset, else 0 or 1 (decode_attn_choice.h).
int decode_mma_env() {
  static const int env = env_tristate("EFFITUNE_ATTN_DECODE_MMA");
  return env;
}

// EFFITUNE_ATTN_WIDE=0: no wide variant of the tensor-core decode kernel (A/B; decode_split_length).
bool decode_wide_env() {
  static const bool on = env_flag("EFFITUNE_ATTN_WIDE", true);
  return on;
}

template <typename T, int HD>
void decode_hd(const AttnArgs& a, const int32_t* seq_len, int32_t n_steps, int32_t n_splits, float* po, float* pml,
               cudaStream_t s) {
  constexpr int kVec = 16 / sizeof(T), kGroups = HD / kVec < 1 ? 1 : HD / kVec, kSubs = 128 / kGroups;
  const int G = a.n_heads / a.n_kv_heads;
  // The scalar kernel's shared memory: q, the split's scores, the softmax stats and the partial outputs.
  const auto scalar_smem = [&](int chunk) {
    return (static_cast<size_t>(G) * HD + static_cast<size_t>(G) * chunk + 2 * kAttnMaxGroup + kSubs * G * HD) * sizeof(float);
  };
  const size_t smem = scalar_smem(a.chunk);
  const dim3 grid(a.n_kv_heads, n_steps, n_splits);
  // Measured on an H200 (8B bf16): the registers-light variant gives batch 64 +8% (10,150 -> 11,000
  // tok/s) but batch 1 q4_0 -5% (483 -> 455), so it takes over once the CTAs would fill the SMs.
  const bool few_ctas = static_cast<int64_t>(grid.x) * grid.y * grid.z < sm_count();
  const bool row_in_regs = a.k_row_in_regs >= 0 ? a.k_row_in_regs != 0 : few_ctas;
  // The old K/V rows go to L1 before the wait only while the CTAs are few (latency-bound): at batch
  // 64 each SM holds several CTAs whose splits would not fit L1 together.
  static const bool prefetch_on = env_flag("EFFITUNE_ATTN_PREFETCH", true);
  AttnArgs args = a;
  args.prefetch_kv = prefetch_on && few_ctas;
  constexpr bool kMmaKinds = !std::is_same_v<T, float> && (HD == 64 || HD == 128);
  // The CTAs that hold positions (the grid's splits are a power of two; the rest exit at once).
  const int64_t live = a.live_splits > 0 ? std::min<int64_t>(a.live_splits, n_splits) : n_splits;
  const int64_t ctas = static_cast<int64_t>(grid.x) * grid.y * live;
  bool mma = false;
  if constexpr (kMmaKinds) {
    // The scalar kernel's CTAs per SM (its registers-light variant, the one that runs once the CTAs
    // fill the SMs, where this choice matters), measured once per group size and split length: its
    // shared memory depends on both.
    // Splits longer than 64 are measured at kAttnMaxChunk's shared memory (the most a scalar split holds).
    static std::atomic<int> scalar_cache[kAttnMaxGroup + 1][2] = {};
    std::atomic<int>& scalar_per_sm = scalar_cache[std::min(G, kAttnMaxGroup)][a.chunk > kAttnChunk ? 1 : 0];
    if (scalar_per_sm.load(std::memory_order_relaxed) == 0) {
      const void* scalar = G <= 4 ? reinterpret_cast<const void*>(attn_decode_kernel<T, HD, 4, false>)
                                  : reinterpret_cast<const void*>(attn_decode_kernel<T, HD, 8, false>);
      int v = 0;
      cudaOccupancyMaxActiveBlocksPerMultiprocessor(&v, scalar, 128, scalar_smem(a.chunk > kAttnChunk ? kAttnMaxChunk : kAttnChunk));
      scalar_per_sm.store(v > 0 ? v : 1, std::memory_order_relaxed);
    }
    // Splits above kAttnMaxChunk positions (the one-wave rule's) do not fit the scalar kernel's scores.
    mma = G <= 16 && (a.chunk > kAttnMaxChunk ||
                      use_decode_mma(a.decode_mma, decode_mma_env(), ctas, sm_count(), decode_mma_ctas_per_sm<T, HD>(a.chunk, false),
                                     scalar_per_sm.load(std::memory_order_relaxed)));
  }
  if (mma) {
    if constexpr (kMmaKinds) {
      // The wide variant for splits of 256 whose CTAs fit wide_fits (decode_split_length's rule):
      // every tile in flight before the wait (and at up to 256 positions no merge launch).
      const bool wide = use_decode_wide(a.decode_wide, decode_wide_env(), a.chunk, ctas, sm_count(),
                                        decode_mma_ctas_per_sm<T, HD>(a.chunk, true));
      launch_decode_mma<T, HD>(a, seq_len, grid, n_splits, po, pml, wide, s);
    }
  } else if (G <= 4) {
    if (row_in_regs) launch_pdl(attn_decode_kernel<T, HD, 4, true>, grid, 128, smem, s, args, seq_len, n_splits, po, pml);
    else launch_pdl(attn_decode_kernel<T, HD, 4, false>, grid, 128, smem, s, args, seq_len, n_splits, po, pml);
  } else {
    if (row_in_regs) launch_pdl(attn_decode_kernel<T, HD, 8, true>, grid, 128, smem, s, args, seq_len, n_splits, po, pml);
    else launch_pdl(attn_decode_kernel<T, HD, 8, false>, grid, 128, smem, s, args, seq_len, n_splits, po, pml);
  }
  if (n_splits > 1)
    launch_pdl(attn_merge_kernel<T>, dim3(a.n_heads, n_steps), HD < 128 ? HD : 128, 0, s, a, n_splits, po,
               static_cast<const float*>(pml));
}

template <typename T>
void decode_t(const AttnArgs& a, const int32_t* seq_len, int32_t n_steps, int32_t n_splits, float* po, float* pml,
              cudaStream_t s) {
  switch (a.head_dim) {
    case 8: decode_hd<T, 8>(a, seq_len, n_steps, n_splits, po, pml, s); break;
    case 16: decode_hd<T, 16>(a, seq_len, n_steps, n_splits, po, pml, s); break;
    case 32: decode_hd<T, 32>(a, seq_len, n_steps, n_splits, po, pml, s); break;
    case 64: decode_hd<T, 64>(a, seq_len, n_steps, n_splits, po, pml, s); break;
    default: decode_hd<T, 128>(a, seq_len, n_steps, n_splits, po, pml, s); break;
  }
}

template <typename T>
void prefill_t(const AttnArgs& a, const int32_t* tiles, int32_t n_tiles, const int32_t* pos, cudaStream_t s) {
  const dim3 grid(n_tiles, a.n_kv_heads);
  if constexpr (!std::is_same_v<T, float>) {
    if (a.head_dim == 128 || a.head_dim == 64) {
      const auto kernel = a.head_dim == 128 ? attn_prefill_mma_kernel<T, 128> : attn_prefill_mma_kernel<T, 64>;
      const int smem = static_cast<int>(a.head_dim == 128 ? prefill_mma_smem<T, 128>() : prefill_mma_smem<T, 64>());
      static std::atomic<uint64_t> raised[2] = {0, 0};  // a bit per device, per head_dim
      // A failure here shows as the launch's error (the backend checks after every layer).
      if (smem > 48 * 1024) raise_dynamic_smem(reinterpret_cast<const void*>(kernel), smem, raised[a.head_dim == 128]);
      launch_pdl(kernel, grid, 128, smem, s, a, tiles, pos);
      return;
    }
  }
  if (a.head_dim <= 32) launch_pdl(attn_prefill_kernel<T, 32>, grid, 256, 0, s, a, tiles, pos);
  else if (a.head_dim <= 64) launch_pdl(attn_prefill_kernel<T, 64>, grid, 256, 0, s, a, tiles, pos);
  else launch_pdl(attn_prefill_kernel<T, 128>, grid, 256, 0, s, a, tiles, pos);
}

// The tensor-core decode kernel's CTAs an SM at `chunk` positions a split (`wide`: its wide
// variant), 0 where it does not run.
int decode_mma_per_sm(ActType act, int32_t head_dim, int32_t group, int32_t chunk, bool wide = false) {
  if (group > 16) return 0;
  if (act == ActType::kBF16 && head_dim == 128) return attn_detail::decode_mma_ctas_per_sm<__nv_bfloat16, 128>(chunk, wide);
  if (act == ActType::kBF16 && head_dim == 64) return attn_detail::decode_mma_ctas_per_sm<__nv_bfloat16, 64>(chunk, wide);
  if (act == ActType::kF16 && head_dim == 128) return attn_detail::decode_mma_ctas_per_sm<__half, 128>(chunk, wide);
  if (act == ActType::kF16 && head_dim == 64) return attn_detail::decode_mma_ctas_per_sm<__half, 64>(chunk, wide);
  return 0;
}

}  // namespace

int32_t decode_attn_chunk(ActType act, int32_t head_dim, int32_t n_heads, int32_t n_kv_heads, int32_t steps,
                          int32_t max_len) {
  static const bool on = env_flag("EFFITUNE_ATTN_LONG_SPLITS", true);
  static const bool wave = env_flag("EFFITUNE_ATTN_WAVE_SPLITS", true);
  static const int forced = [] {  // EFFITUNE_ATTN_CHUNK=64|128|192|256|384|...: every step at that length (A/B)
    const char* v = std::getenv("EFFITUNE_ATTN_CHUNK");
    const int c = v == nullptr ? 0 : std::atoi(v);
    return c > 0 && c % kAttnChunk == 0 ? c : 0;
  }();
  const int group = n_kv_heads > 0 ? n_heads / n_kv_heads : 0;
  // Forced lengths above kAttnMaxChunk only where the tensor-core kernel runs.
  if (forced > 0) return forced <= kAttnMaxChunk || decode_mma_per_sm(act, head_dim, group, forced) > 0 ? forced : kAttnMaxChunk;
  if (!on) return kAttnChunk;
  // The rules by waves need the tensor-core kernel's occupancy at both stage counts (0: not asked).
  const bool ask = wave && decode_mma_env() != 0;
  return decode_split_length(static_cast<int64_t>(steps) * n_kv_heads, max_len, sm_count(),
                             ask ? decode_mma_per_sm(act, head_dim, group, kAttnChunk) : 0,
                             ask ? decode_mma_per_sm(act, head_dim, group, kAttnMaxChunk) : 0,
                             ask && decode_wide_env() ? decode_mma_per_sm(act, head_dim, group, kWideChunk, true) : 0,
                             ask && decode_wide_env() ? decode_mma_per_sm(act, head_dim, group, 2 * kWideChunk, true) : 0);
}

int32_t decode_attn_live_splits(int32_t max_len, int32_t chunk) { return (max_len + chunk - 1) / chunk; }

int32_t decode_attn_splits(int32_t max_len, int32_t chunk) {
  const int32_t need = decode_attn_live_splits(max_len, chunk);
  int32_t p = 1;
  while (p < need) p <<= 1;
  return p;
}

void launch_attn_decode(ActType act, const AttnArgs& a, const int32_t* seq_len, int32_t n_steps, int32_t n_splits,
                        float* partial_o, float* partial_ml, cudaStream_t s) {
  if (n_steps <= 0) return;
  switch (act) {
    case ActType::kF32: decode_t<float>(a, seq_len, n_steps, n_splits, partial_o, partial_ml, s); break;
    case ActType::kF16: decode_t<__half>(a, seq_len, n_steps, n_splits, partial_o, partial_ml, s); break;
    case ActType::kBF16: decode_t<__nv_bfloat16>(a, seq_len, n_steps, n_splits, partial_o, partial_ml, s); break;
  }
}

void launch_attn_prefill(ActType act, const AttnArgs& a, const int32_t* tiles, int32_t n_tiles, const int32_t* pos,
                         cudaStream_t s) {
  if (n_tiles <= 0) return;
  switch (act) {
    case ActType::kF32: prefill_t<float>(a, tiles, n_tiles, pos, s); break;
    case ActType::kF16: prefill_t<__half>(a, tiles, n_tiles, pos, s); break;
    case ActType::kBF16: prefill_t<__nv_bfloat16>(a, tiles, n_tiles, pos, s); break;
  }
}

}  // namespace effitune::engine::cuda
