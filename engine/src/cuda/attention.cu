#include <cfloat>

#include "attention.cuh"
#include "common.cuh"

namespace effitune::engine::cuda {
namespace {

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

// One CTA per (KV head, step, split of kAttnChunk positions), all G query heads of the group at
// once so that K/V are read once. Scores: one thread per position with the K row's 16-byte loads
// unrolled (HD is a template parameter); P.V: threads own 16-byte column groups of V and split
// the positions, then reduce through shared memory. The first version looped V one element per
// thread over every position and was latency-bound (~80 us per layer at 8 KV heads, batch 1).
template <typename T, int HD>
__global__ void __launch_bounds__(128) attn_decode_kernel(AttnArgs a, const int32_t* seq_len, int32_t n_splits, float* po,
                                                          float* pml) {
  constexpr int kVec = 16 / sizeof(T), kGroups = HD / kVec < 1 ? 1 : HD / kVec, kSubs = 128 / kGroups;
  extern __shared__ float smem[];
  const int kvh = blockIdx.x, s = blockIdx.y, split = blockIdx.z;
  const int G = a.n_heads / a.n_kv_heads;
  const int64_t kv_dim = static_cast<int64_t>(a.n_kv_heads) * HD;
  const int len = seq_len[s];
  const int p0 = split * kAttnChunk, p1 = min(len, p0 + kAttnChunk), n = p1 - p0;
  const int tid = threadIdx.x;
  if (n <= 0) {  // past this sequence's length: an empty split the merge skips
    if (tid < G) {
      float* ml = pml + ((static_cast<int64_t>(s) * a.n_heads + kvh * G + tid) * n_splits + split) * 2;
      ml[0] = -FLT_MAX;
      ml[1] = 0.0f;
    }
    return;
  }
  float* q_s = smem;                       // [G][HD], pre-scaled
  float* sc = q_s + G * HD;                // [G][kAttnChunk]
  float* stat = sc + G * kAttnChunk;       // [G][2]
  float* red = stat + 2 * kAttnMaxGroup;   // [kSubs][G][HD]
  const T* q = static_cast<const T*>(a.qkv) + s * a.ld_qkv + kvh * G * HD;
  for (int i = tid; i < G * HD; i += blockDim.x) q_s[i] = to_f32(q[i]) * a.scale;
  __syncthreads();

  const int32_t* bt = a.block_tables + static_cast<int64_t>(s) * a.bt_stride;
  const T* kc = static_cast<const T*>(a.kv.k);
  const T* vc = static_cast<const T*>(a.kv.v);
  for (int p = p0 + tid; p < p1; p += blockDim.x) {
    const T* kr = kc + (static_cast<int64_t>(bt[p / a.block_size]) * a.block_size + p % a.block_size) * kv_dim + kvh * HD;
    float k[HD];
#pragma unroll
    for (int d0 = 0; d0 < HD; d0 += 8) load8(kr + d0, k + d0);
#pragma unroll
    for (int g = 0; g < kAttnMaxGroup; ++g) {
      if (g >= G) break;
      float dot = 0.0f;
#pragma unroll
      for (int d = 0; d < HD; ++d) dot = fmaf(q_s[g * HD + d], k[d], dot);
      sc[g * kAttnChunk + (p - p0)] = dot;
    }
  }
  __syncthreads();

  const int lane = tid & 31, warp = tid >> 5, n_warps = blockDim.x >> 5;
  for (int g = warp; g < G; g += n_warps) {
    float m = -FLT_MAX;
    for (int i = lane; i < n; i += 32) m = fmaxf(m, sc[g * kAttnChunk + i]);
    m = warp_max(m);
    float l = 0.0f;
    for (int i = lane; i < n; i += 32) {
      const float e = expf(sc[g * kAttnChunk + i] - m);
      sc[g * kAttnChunk + i] = e;
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
  float acc[kAttnMaxGroup][kVec];
#pragma unroll
  for (int g = 0; g < kAttnMaxGroup; ++g)
#pragma unroll
    for (int i = 0; i < kVec; ++i) acc[g][i] = 0.0f;
  if (d0 < HD) {
    for (int p = p0 + sub; p < p1; p += kSubs) {
      float v[kVec];
      const T* vr = vc + (static_cast<int64_t>(bt[p / a.block_size]) * a.block_size + p % a.block_size) * kv_dim + kvh * HD + d0;
      if constexpr (kVec * sizeof(T) == 16 && HD >= kVec) {
        unpack16(*reinterpret_cast<const uint4*>(vr), T{}, v);
      } else {
#pragma unroll
        for (int i = 0; i < kVec; ++i) v[i] = i + d0 < HD ? to_f32(vr[i]) : 0.0f;
      }
#pragma unroll
      for (int g = 0; g < kAttnMaxGroup; ++g) {
        if (g >= G) break;
        const float pr = sc[g * kAttnChunk + (p - p0)];
#pragma unroll
        for (int i = 0; i < kVec; ++i) acc[g][i] = fmaf(pr, v[i], acc[g][i]);
      }
    }
#pragma unroll
    for (int g = 0; g < kAttnMaxGroup; ++g) {
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

template <typename T>
__global__ void attn_merge_kernel(AttnArgs a, int32_t n_splits, const float* po, const float* pml) {
  const int h = blockIdx.x, s = blockIdx.y, hd = a.head_dim;
  const int64_t base = (static_cast<int64_t>(s) * a.n_heads + h) * n_splits;
  float M = -FLT_MAX;
  for (int sp = 0; sp < n_splits; ++sp)
    if (pml[(base + sp) * 2 + 1] > 0.0f) M = fmaxf(M, pml[(base + sp) * 2]);
  for (int d = threadIdx.x; d < hd; d += blockDim.x) {
    float L = 0.0f, o = 0.0f;
    for (int sp = 0; sp < n_splits; ++sp) {
      const float l = pml[(base + sp) * 2 + 1];
      if (l <= 0.0f) continue;
      const float w = expf(pml[(base + sp) * 2] - M);
      L += l * w;
      o += po[(base + sp) * hd + d] * w;
    }
    static_cast<T*>(a.out)[s * static_cast<int64_t>(a.n_heads) * hd + h * hd + d] = from_f32<T>(o / L);
  }
}

// Four lanes share a query row (each a quarter of the head's dims, interleaved) so that the q and
// output accumulators stay in registers: with two lanes per row the 128-dim instance needed ~200
// registers and spilled.
template <typename T, int HD>
__global__ void __launch_bounds__(256) attn_prefill_kernel(AttnArgs a, const int32_t* tiles, const int32_t* pos) {
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
        const int64_t slot = (static_cast<int64_t>(bt[p / a.block_size]) * a.block_size + p % a.block_size) * kv_dim + kvh * hd + d;
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

template <typename T, int HD>
void decode_hd(const AttnArgs& a, const int32_t* seq_len, int32_t n_steps, int32_t n_splits, float* po, float* pml,
               cudaStream_t s) {
  constexpr int kVec = 16 / sizeof(T), kGroups = HD / kVec < 1 ? 1 : HD / kVec, kSubs = 128 / kGroups;
  const int G = a.n_heads / a.n_kv_heads;
  const size_t smem = (static_cast<size_t>(G) * HD + G * kAttnChunk + 2 * kAttnMaxGroup + kSubs * G * HD) * sizeof(float);
  const dim3 grid(a.n_kv_heads, n_steps, n_splits);
  attn_decode_kernel<T, HD><<<grid, 128, smem, s>>>(a, seq_len, n_splits, po, pml);
  if (n_splits > 1) attn_merge_kernel<T><<<dim3(a.n_heads, n_steps), HD < 128 ? HD : 128, 0, s>>>(a, n_splits, po, pml);
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
  if (a.head_dim <= 32) attn_prefill_kernel<T, 32><<<grid, 256, 0, s>>>(a, tiles, pos);
  else if (a.head_dim <= 64) attn_prefill_kernel<T, 64><<<grid, 256, 0, s>>>(a, tiles, pos);
  else attn_prefill_kernel<T, 128><<<grid, 256, 0, s>>>(a, tiles, pos);
}

}  // namespace

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
