#include "common.cuh"
#include "gemv.cuh"

namespace effitune::engine::cuda {
namespace {

constexpr int kWarps = 8;   // rows per CTA: one warp per output row
constexpr int kUnroll = 4;  // 16-byte weight loads in flight per lane before the first use

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

template <WKind W, bool kVec, int B, bool kSwiGlu>
__global__ void __launch_bounds__(kWarps * 32) gemv_kernel(DeviceMatrix m, MatArgs a) {
  using Chunk = WeightChunk<W, kVec>;
  using T = typename Chunk::Act;
  constexpr int E = Chunk::kElems;
  const int lane = threadIdx.x & 31;
  const int64_t row = static_cast<int64_t>(blockIdx.x) * kWarps + (threadIdx.x >> 5);
  if (row >= m.rows) return;
  const int64_t K = m.cols;
  const uint8_t* wrow = static_cast<const uint8_t*>(m.data) + row * m.data_row_bytes();
  const T* x = static_cast<const T*>(a.x);
  const int64_t n_chunks = K / E;

  float acc[B];
#pragma unroll
  for (int b = 0; b < B; ++b) acc[b] = 0.0f;

  for (int64_t c0 = lane; c0 < n_chunks; c0 += 32 * kUnroll) {
    uint4 raw[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int64_t c = c0 + 32 * u;
      if (c < n_chunks) raw[u] = load_raw<W, kVec>(wrow, c);
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int64_t c = c0 + 32 * u;
      if (c >= n_chunks) break;
      float w[E];
      unpack_weights<W, kVec>(raw[u], w);
      const int64_t k0 = c * E;
#pragma unroll
      for (int b = 0; b < B; ++b) {
        if (b >= a.n_rows) break;
        float xv[E];
        const T* xb = x + b * a.ldx;
        if constexpr (kSwiGlu) {
          float up[E];
          load_x<T, E>(xb + k0, xv);
          load_x<T, E>(xb + K + k0, up);
#pragma unroll
          for (int i = 0; i < E; ++i) xv[i] = xv[i] / (1.0f + __expf(-xv[i])) * up[i];
        } else {
          load_x<T, E>(xb + k0, xv);
        }
        float dot = 0.0f;
#pragma unroll
        for (int i = 0; i < E; ++i) dot = fmaf(w[i], xv[i], dot);
        acc[b] += dot;
      }
    }
  }
#pragma unroll
  for (int b = 0; b < B; ++b) acc[b] = warp_sum(acc[b]);
  if (lane != 0) return;
#pragma unroll
  for (int b = 0; b < B; ++b) {
    if (b >= a.n_rows) break;
    const int64_t o = b * a.ldo + row;
    if (a.out_mode == MatOut::kAct) static_cast<T*>(a.out)[o] = from_f32<T>(acc[b]);
    else if (a.out_mode == MatOut::kF32) static_cast<float*>(a.out)[o] = acc[b];
    else static_cast<float*>(a.out)[o] += acc[b];
  }
}

template <WKind W, bool kVec, int B>
void launch_b(const DeviceMatrix& m, const MatArgs& a, cudaStream_t s) {
  const unsigned grid = static_cast<unsigned>(ceil_div(m.rows, kWarps));
  if (a.in == MatIn::kSwiGlu) gemv_kernel<W, kVec, B, true><<<grid, kWarps * 32, 0, s>>>(m, a);
  else gemv_kernel<W, kVec, B, false><<<grid, kWarps * 32, 0, s>>>(m, a);
}

template <WKind W, bool kVec>
void launch_w(const DeviceMatrix& m, const MatArgs& a, cudaStream_t s) {
  if (a.n_rows <= 1) launch_b<W, kVec, 1>(m, a, s);
  else if (a.n_rows <= 2) launch_b<W, kVec, 2>(m, a, s);
  else if (a.n_rows <= 4) launch_b<W, kVec, 4>(m, a, s);
  else launch_b<W, kVec, 8>(m, a, s);
}

}  // namespace

void launch_gemv(const DeviceMatrix& m, const MatArgs& a, cudaStream_t s) {
  // Vector loads need 16-byte aligned rows: true for every quantized row and for float rows whose
  // byte length is a multiple of 16 (not stories260K's hidden 172 in bf16).
  const bool vec = m.data_row_bytes() % 16 == 0;
  switch (m.kind) {
    case WKind::kF32: vec ? launch_w<WKind::kF32, true>(m, a, s) : launch_w<WKind::kF32, false>(m, a, s); break;
    case WKind::kF16: vec ? launch_w<WKind::kF16, true>(m, a, s) : launch_w<WKind::kF16, false>(m, a, s); break;
    case WKind::kBF16: vec ? launch_w<WKind::kBF16, true>(m, a, s) : launch_w<WKind::kBF16, false>(m, a, s); break;
    case WKind::kQ8:
    case WKind::kQ4: launch_gemv_quant(m, a, s); break;
  }
}

}  // namespace effitune::engine::cuda
