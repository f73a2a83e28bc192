// Device helpers of the GEMV kernels (gemv.cu, gemv_quant.cu): weight chunk types,
// 16-byte loads and unpacking, activation loads and the fused RMSNorm prologue.
#pragma once

#include "common.cuh"
#include "gemv.cuh"

namespace effitune::engine::cuda::gemv_detail {

constexpr int kWarps = 8;  // warps per CTA of every float GEMV kernel

// Stores one GEMV result at out[o] as a.out_mode says (kAct, kF32, kF32Accumulate), in activation
// type T; for kSwiGluAct, `v` is gate and `up` the up row's result: silu(gate) * up, each rounded to T
// first, exactly as the SwiGLU kernel reads them from a gate|up buffer. kF32Accumulate adds to
// `*prev` when given (out[o] read early, see residual_prefetch), else reads out[o] here.
template <typename T>
__device__ __forceinline__ void store_gemv_result(const MatArgs& a, int64_t o, float v, float up = 0.0f,
                                                  const float* prev = nullptr) {
  switch (a.out_mode) {
    case MatOut::kSwiGluAct: {
      const float g = to_f32(from_f32<T>(v)), u = to_f32(from_f32<T>(up));
      static_cast<T*>(a.out)[o] = from_f32<T>(g / (1.0f + expf(-g)) * u);
      break;
    }
    case MatOut::kAct: static_cast<T*>(a.out)[o] = from_f32<T>(v); break;
    case MatOut::kF32: static_cast<float*>(a.out)[o] = v; break;
    case MatOut::kF32Accumulate: {
      float* out = static_cast<float*>(a.out) + o;
      *out = (prev != nullptr ? *prev : *out) + v;
      break;
    }
  }
}

// Greedy decoding fused into the LM head: each CTA folds its rows' logits into one 64-bit key per
// activation row (order-preserving float bits above, the complemented row index below, so the
// larger logit wins and ties go to the lower index, as engine::argmax) and atomicMax-es it into
// a.argmax[b]. One atomic per CTA and row; finish_argmax turns the keys into token ids.
__device__ __forceinline__ unsigned long long argmax_key(float v, int64_t row) {
  const uint32_t u = __float_as_uint(v);
  const uint32_t ordered = (u & 0x80000000u) ? ~u : (u | 0x80000000u);
  return (static_cast<unsigned long long>(ordered) << 32) | (~static_cast<uint32_t>(row));
}

// The CTA's fold: the largest of the warps' keys per activation row (best[warp][b], filled by each
// warp's lane 0), atomicMax-ed into a.argmax. Every thread of the CTA calls it (a barrier inside).
template <int B, int kCtaWarps>
__device__ void argmax_flush(const unsigned long long (&best)[kCtaWarps][B], const MatArgs& a) {
  __syncthreads();
  if (threadIdx.x < B && static_cast<int>(threadIdx.x) < a.n_rows) {
    unsigned long long m = 0;
    for (int w = 0; w < kCtaWarps; ++w) m = max(m, best[w][threadIdx.x]);
    atomicMax(a.argmax + threadIdx.x, m);
  }
}

// kF32Accumulate: the residual values a row's results are added to, loaded by lane 0 into
// prev[b] (shared memory) as soon as the CTA may read them, so that the read-add-write at the end
// of the row does not start a memory round trip of its own after the weights have streamed
// (a dependent read after the stream cost a GEMV-like kernel chain 25% of its bandwidth:
// tools/bench_stream dep=1). Call after pdl_wait; only this warp writes these outputs.
template <int B>
__device__ __forceinline__ void residual_prefetch(const MatArgs& a, int64_t row, float* prev) {
  if (a.out_mode != MatOut::kF32Accumulate) return;
#pragma unroll
  for (int b = 0; b < B; ++b)
    if (b < a.n_rows) prev[b] = static_cast<const float*>(a.out)[b * a.ldo + row];
}

template <WKind W, bool kVec> struct WeightChunk;
// Elements per 16-byte chunk of a float-kind weight row, and the activation type it multiplies.
template <> struct WeightChunk<WKind::kF32, true> {
  static constexpr int kElems = 4;
  using Act = float;
};
template <> struct WeightChunk<WKind::kF16, true> {
  static constexpr int kElems = 8;
  using Act = __half;
};
template <> struct WeightChunk<WKind::kBF16, true> {
  static constexpr int kElems = 8;
  using Act = __nv_bfloat16;
};
template <> struct WeightChunk<WKind::kF32, false> {
  static constexpr int kElems = 1;
  using Act = float;
};
template <> struct WeightChunk<WKind::kF16, false> {
  static constexpr int kElems = 1;
  using Act = __half;
};
template <> struct WeightChunk<WKind::kBF16, false> {
  static constexpr int kElems = 1;
  using Act = __nv_bfloat16;
};

template <WKind W, bool kVec>
__device__ __forceinline__ uint4 load_raw(const uint8_t* row, int64_t c) {
  if constexpr (kVec) {
    return ld_stream16(row + c * 16);
  } else {
    uint4 r{};
    if constexpr (W == WKind::kF32) r.x = reinterpret_cast<const uint32_t*>(row)[c];
    else r.x = reinterpret_cast<const uint16_t*>(row)[c];
    return r;
  }
}

template <WKind W, bool kVec>
__device__ __forceinline__ void unpack_weights(uint4 raw, float* w) {
  if constexpr (!kVec) {
    if constexpr (W == WKind::kF32) w[0] = __uint_as_float(raw.x);
    else if constexpr (W == WKind::kF16) w[0] = __half2float(__ushort_as_half(static_cast<unsigned short>(raw.x)));
    else w[0] = __bfloat162float(__ushort_as_bfloat16(static_cast<unsigned short>(raw.x)));
  } else if constexpr (W == WKind::kF32) {
    unpack16(raw, 0.0f, w);
  } else if constexpr (W == WKind::kF16) {
    unpack16(raw, __half{}, w);
  } else {
    unpack16(raw, __nv_bfloat16{}, w);
  }
}

// Loads E activations starting at p (16-byte vectors when E * sizeof(T) allows).
template <typename T, int E>
__device__ __forceinline__ void load_x(const T* p, float* out) {
  if constexpr ((E * sizeof(T)) % 16 == 0) {
    constexpr int kPer = 16 / sizeof(T);
#pragma unroll
    for (int i = 0; i < E / kPer; ++i) unpack16(*reinterpret_cast<const uint4*>(p + i * kPer), T{}, out + i * kPer);
  } else {
#pragma unroll
    for (int i = 0; i < E; ++i) out[i] = to_f32(p[i]);
  }
}

// Pulls the norm weight (a.norm_w[0..K)) into this SM's L1 before the CTA waits for the previous
// kernel: it is a weight, so it may be read early, and the prologue below then pays one memory round
// trip (x) instead of two (x, then norm_w). Every thread may call it; one 128-byte line per thread.
__device__ __forceinline__ void prefetch_norm_weight(const MatArgs& a, int64_t K) {
  for (int64_t k = static_cast<int64_t>(threadIdx.x) * 32; k < K; k += static_cast<int64_t>(blockDim.x) * 32)
    asm volatile("prefetch.global.L1 [%0];" ::"l"(a.norm_w + k));
}

// This thread's share of sum(x[k]^2) over k < K (K % 4 == 0): float4s k = 4 * threadIdx.x + i * 4 *
// blockDim.x, added in that order, with four loads in flight per trip (a loop of one load per trip
// paid a memory round trip for each, 4 at K = 4096 and 256 threads).
__device__ __forceinline__ float thread_sum_squares(const float* x, int64_t K) {
  float ss = 0.0f;
  const int64_t step = static_cast<int64_t>(blockDim.x) * 4;
  for (int64_t k0 = static_cast<int64_t>(threadIdx.x) * 4; k0 < K; k0 += 4 * step) {
    float4 v[4];
#pragma unroll
    for (int i = 0; i < 4; ++i)
      v[i] = k0 + i * step < K ? *reinterpret_cast<const float4*>(x + k0 + i * step) : make_float4(0.f, 0.f, 0.f, 0.f);
#pragma unroll
    for (int i = 0; i < 4; ++i) ss += v[i].x * v[i].x + v[i].y * v[i].y + v[i].z * v[i].z + v[i].w * v[i].w;
  }
  return ss;
}

// MatIn::kRmsNorm prologue: xs[b][k] = T(x[b][k] * rsqrt(mean_k x[b]^2 + eps) * w[k]) for every
// activation row, in shared memory, by the whole CTA (each CTA recomputes it: a few KB of L2 reads
// while its first weight loads are in flight, instead of a one-CTA RMSNorm launch per projection
// on the critical path). The formula and roundings are rmsnorm_kernel's.
template <typename T, int B>
__device__ void rmsnorm_prologue(const MatArgs& a, int64_t K, T* xs) {
  __shared__ float red[kWarps][B];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const float* x = static_cast<const float*>(a.x);
  float ss[B];
#pragma unroll
  for (int b = 0; b < B; ++b) {
    ss[b] = 0.0f;
    if (b >= a.n_rows) continue;
    ss[b] = warp_sum(thread_sum_squares(x + b * a.ldx, K));
  }
  if (lane == 0) {
#pragma unroll
    for (int b = 0; b < B; ++b) red[warp][b] = ss[b];
  }
  __syncthreads();
#pragma unroll
  for (int b = 0; b < B; ++b) {
    if (b >= a.n_rows) break;
    float total = 0.0f;
    for (int w = 0; w < kWarps; ++w) total += red[w][b];
    const float scale = rsqrtf(total / static_cast<float>(K) + a.norm_eps);
#pragma unroll 4
    for (int64_t k = threadIdx.x * 4; k < K; k += blockDim.x * 4) {
      const float4 v = *reinterpret_cast<const float4*>(x + b * a.ldx + k);
      const float4 w = *reinterpret_cast<const float4*>(a.norm_w + k);
      xs[b * K + k] = from_f32<T>(v.x * scale * w.x);
      xs[b * K + k + 1] = from_f32<T>(v.y * scale * w.y);
      xs[b * K + k + 2] = from_f32<T>(v.z * scale * w.z);
      xs[b * K + k + 3] = from_f32<T>(v.w * scale * w.w);
    }
  }
  __syncthreads();
}

}  // namespace effitune::engine::cuda::gemv_detail
