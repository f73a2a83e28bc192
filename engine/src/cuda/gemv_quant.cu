#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>

#include "common.cuh"
#include "gemv.cuh"
#include "gemv_detail.cuh"

namespace effitune::engine::cuda {
namespace {

constexpr int kWarps = 16;   // warps per CTA; each warp owns one output row at a time
constexpr int kUnroll = 4;   // 16-byte weight loads in flight per lane
constexpr int kCtasPerSm = 2;  // a small persistent grid: the activation prologue runs once per CTA
constexpr int kMaxSmem = 200 * 1024;

// Shared memory per activation row: K int8 quants, then per 32-block {d, 8 * d * sum(q)} (the second
// term removes Q4_0's +8 offset: sum((n - 8) q) = sum(n q) - 8 sum(q)).
inline int64_t smem_per_row(int64_t k) { return k + (k / 32) * 8; }

// Quantizes 8 floats held by each of 4 consecutive lanes (one 32-block); every lane of the warp calls it.
__device__ __forceinline__ void quantize_block8(const float* v, bool valid, int8_t* q_out, float2* s_out) {
  float amax = 0.0f;
#pragma unroll
  for (int i = 0; i < 8; ++i) amax = fmaxf(amax, fabsf(v[i]));
  amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, 1));
  amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, 2));
  const float d = amax / 127.0f;
  const float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
  int sum = 0;
  uint32_t packed[2] = {0, 0};
#pragma unroll
  for (int i = 0; i < 8; ++i) {
    const int q = valid ? __float2int_rn(v[i] * inv) : 0;
    sum += q;
    packed[i / 4] |= (static_cast<uint32_t>(q) & 0xFFu) << (8 * (i % 4));
  }
  sum += __shfl_xor_sync(0xffffffffu, sum, 1);
  sum += __shfl_xor_sync(0xffffffffu, sum, 2);
  if (!valid) return;
  *reinterpret_cast<uint2*>(q_out) = make_uint2(packed[0], packed[1]);
  if ((threadIdx.x & 3) == 0) *s_out = make_float2(d, 8.0f * d * static_cast<float>(sum));
}

// In: the activation prologue's input mode (MatIn::kPlain, kSwiGlu or kRmsNorm).
// kGateUp (MatOut::kSwiGluAct): the matrix is gate|up stacked ([2H, K]); a warp streams gate row j
// and up row j side by side (half the chunks per row in flight, so the same registers) and writes
// h[j] = silu(gate) * up in bf16, which spares the down projection the per-CTA SwiGLU prologue
// (each of ~260 CTAs recomputed 14k silu and read 57 KB of gate|up for the 8B shape).
//
// kArgmax: MatArgs::argmax is set (the LM head of greedy decoding).
//
// kPipe: each lane holds two half-size batches, the next one's loads in flight while this one is
// multiplied (the same registers as one full batch), instead of a full batch at a time with
// nothing in flight while it is used. The same results bit for bit: each lane adds its chunks in
// the same order. Which batches take it: pipe_rows.
template <WKind W, int B, MatIn In, bool kGateUp, bool kArgmax, bool kPipe>
__global__ void __launch_bounds__(kWarps * 32, kCtasPerSm) gemv_quant_kernel(DeviceMatrix m, MatArgs a) {
  constexpr int R = kGateUp ? 2 : 1, U = kUnroll / R / (kPipe ? 2 : 1);
  extern __shared__ uint4 smem[];
  const int64_t K = m.cols, nb = K / 32, n_chunks = m.data_row_bytes() / 16;
  const int n_rows = a.n_rows;
  int8_t* xq = reinterpret_cast<int8_t*>(smem);
  float2* xs = reinterpret_cast<float2*>(xq + n_rows * K);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const uint8_t* wdata = static_cast<const uint8_t*>(m.data);
  const int64_t rb = m.data_row_bytes();

  const int64_t out_rows = kGateUp ? m.rows / 2 : m.rows;
  uint4 raw[R][U], nraw[R][U];  // nraw, nsc: kPipe's next batch
  float sc[R][U], nsc[R][U];
  // Loads (weights and their block scales) for chunks c0, c0 + 32, ... of output `row`.
  auto load_batch = [&](uint4 (&rw)[R][U], float (&sv)[R][U], int64_t row, int64_t c0) {
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int64_t c = c0 + 32 * u;
#pragma unroll
      for (int r = 0; r < R; ++r) {
        const int64_t wr = row + r * out_rows;
        if (c < n_chunks) {
          rw[r][u] = ld_stream16(wdata + wr * rb + c * 16);
          sv[r][u] = __half2float(m.scales[wr * nb + (W == WKind::kQ4 ? c : c / 2)]);
        }
      }
    }
  };
#pragma unroll
  for (int r = 0; r < R; ++r)
#pragma unroll
    for (int u = 0; u < U; ++u) raw[r][u] = nraw[r][u] = make_uint4(0, 0, 0, 0), sc[r][u] = nsc[r][u] = 0.0f;

  const int64_t step = static_cast<int64_t>(gridDim.x) * kWarps;
  int64_t row = static_cast<int64_t>(blockIdx.x) * kWarps + warp;
  // The first weights are in flight while the CTA waits for the previous kernel (launch_pdl) and
  // then quantizes the activations.
  if (row < out_rows) load_batch(raw, sc, row, lane);
  if constexpr (In == MatIn::kRmsNorm) gemv_detail::prefetch_norm_weight(a, K);
  pdl_trigger();
  pdl_wait();

  // kRmsNorm: each row's scale first (the formula and roundings of rmsnorm_kernel).
  __shared__ float red[kWarps][B];
  __shared__ float norm_scale[B];
  if constexpr (In == MatIn::kRmsNorm) {
    const float* xf = static_cast<const float*>(a.x);
#pragma unroll
    for (int b = 0; b < B; ++b) {
      const float ss = warp_sum(b < n_rows ? gemv_detail::thread_sum_squares(xf + b * a.ldx, K) : 0.0f);
      if (lane == 0) red[warp][b] = ss;
    }
    __syncthreads();
    if (threadIdx.x < B) {
      float total = 0.0f;
      for (int w = 0; w < kWarps; ++w) total += red[w][threadIdx.x];
      norm_scale[threadIdx.x] = rsqrtf(total / static_cast<float>(K) + a.norm_eps);
    }
    __syncthreads();
  }

  const __nv_bfloat16* x = static_cast<const __nv_bfloat16*>(a.x);
  const int64_t units = n_rows * (K / 8);
  for (int64_t u0 = 0; u0 < units; u0 += kWarps * 32) {
    const int64_t u = u0 + threadIdx.x;
    const bool valid = u < units;
    float v[8];
    const int64_t b = valid ? u / (K / 8) : 0, k0 = valid ? (u % (K / 8)) * 8 : 0;
    const __nv_bfloat16* xb = x + b * a.ldx + k0;
    if (valid && In == MatIn::kRmsNorm) {
      const float* xf = static_cast<const float*>(a.x) + b * a.ldx + k0;
#pragma unroll
      for (int i = 0; i < 8; ++i)
        v[i] = __bfloat162float(__float2bfloat16_rn(xf[i] * norm_scale[b] * a.norm_w[k0 + i]));
    } else if (valid) {
      unpack16(*reinterpret_cast<const uint4*>(xb), __nv_bfloat16{}, v);
      if constexpr (In == MatIn::kSwiGlu) {
        float up[8];
        unpack16(*reinterpret_cast<const uint4*>(xb + K), __nv_bfloat16{}, up);
#pragma unroll
        for (int i = 0; i < 8; ++i) v[i] = v[i] / (1.0f + __expf(-v[i])) * up[i];
      }
    }
    quantize_block8(v, valid, xq + b * K + k0, xs + b * nb + k0 / 32);
  }
  __syncthreads();

  // kArgmax: each warp's largest key per activation row so far, kept by its lane 0 in shared memory
  // (in registers the B >= 2 variants spilled up to 340 bytes).
  __shared__ unsigned long long best[kArgmax ? kWarps : 1][B];
  if (kArgmax && lane == 0) {
#pragma unroll
    for (int b = 0; b < B; ++b) best[warp][b] = 0;
  }
  __shared__ float prev[kWarps][B];
  for (; row < out_rows; row += step) {
    if (lane == 0) gemv_detail::residual_prefetch<B>(a, row, prev[warp]);
    float acc[R][B];
#pragma unroll
    for (int r = 0; r < R; ++r)
#pragma unroll
      for (int b = 0; b < B; ++b) acc[r][b] = 0.0f;
    for (int64_t c0 = lane; c0 < n_chunks; c0 += 32 * U) {
      if constexpr (kPipe) {
        // The next batch (this row's, else the next row's first) goes out before this one is used.
        if (c0 + 32 * U < n_chunks) load_batch(nraw, nsc, row, c0 + 32 * U);
        else if (row + step < out_rows) load_batch(nraw, nsc, row + step, lane);
      } else if (c0 != lane) {
        load_batch(raw, sc, row, c0);
      }
#pragma unroll
      for (int u = 0; u < U; ++u) {
        const int64_t c = c0 + 32 * u;
        if (c >= n_chunks) break;
#pragma unroll
        for (int r = 0; r < R; ++r) {
        const int w[4] = {static_cast<int>(raw[r][u].x), static_cast<int>(raw[r][u].y), static_cast<int>(raw[r][u].z),
                          static_cast<int>(raw[r][u].w)};
#pragma unroll
        for (int b = 0; b < B; ++b) {
          if (b >= n_rows) break;
          if constexpr (W == WKind::kQ4) {
            // Block c: low nibbles are weights 0..15, high nibbles 16..31.
            const uint4 xa = *reinterpret_cast<const uint4*>(xq + b * K + c * 32);
            const uint4 xh = *reinterpret_cast<const uint4*>(xq + b * K + c * 32 + 16);
            const int xl[4] = {static_cast<int>(xa.x), static_cast<int>(xa.y), static_cast<int>(xa.z),
                               static_cast<int>(xa.w)};
            const int xu[4] = {static_cast<int>(xh.x), static_cast<int>(xh.y), static_cast<int>(xh.z),
                               static_cast<int>(xh.w)};
            int dot = 0;
#pragma unroll
            for (int j = 0; j < 4; ++j) {
              dot = __dp4a(w[j] & 0x0F0F0F0F, xl[j], dot);
              dot = __dp4a((w[j] >> 4) & 0x0F0F0F0F, xu[j], dot);
            }
            const float2 s = xs[b * nb + c];
            acc[r][b] = fmaf(sc[r][u], fmaf(s.x, static_cast<float>(dot), -s.y), acc[r][b]);
          } else {
            // Chunk c: weights 16 (c % 2) .. + 15 of block c / 2.
            const uint4 xa = *reinterpret_cast<const uint4*>(xq + b * K + c * 16);
            int dot = __dp4a(w[0], static_cast<int>(xa.x), 0);
            dot = __dp4a(w[1], static_cast<int>(xa.y), dot);
            dot = __dp4a(w[2], static_cast<int>(xa.z), dot);
            dot = __dp4a(w[3], static_cast<int>(xa.w), dot);
            acc[r][b] = fmaf(sc[r][u] * xs[b * nb + c / 2].x, static_cast<float>(dot), acc[r][b]);
          }
        }
        }
      }
      if constexpr (kPipe) {
#pragma unroll
        for (int r = 0; r < R; ++r)
#pragma unroll
          for (int u = 0; u < U; ++u) raw[r][u] = nraw[r][u], sc[r][u] = nsc[r][u];
      }
    }
    // The next row's first loads go out before this row's reduction.
    if (!kPipe && row + step < out_rows) load_batch(raw, sc, row + step, lane);
#pragma unroll
    for (int r = 0; r < R; ++r)
#pragma unroll
      for (int b = 0; b < B; ++b) acc[r][b] = warp_sum(acc[r][b]);
    if (lane != 0) continue;
#pragma unroll
    for (int b = 0; b < B; ++b) {
      if (b >= n_rows) break;
      const int64_t o = b * a.ldo + row;
      gemv_detail::store_gemv_result<__nv_bfloat16>(a, o, acc[0][b], acc[R - 1][b], &prev[warp][b]);
      if constexpr (kArgmax) best[warp][b] = max(best[warp][b], gemv_detail::argmax_key(acc[0][b], row));
    }
  }
  if constexpr (kArgmax) gemv_detail::argmax_flush<B, kWarps>(best, a);
}

template <WKind W, int B, MatIn In, bool kGateUp, bool kArgmax, bool kPipe>
void launch_kp(const DeviceMatrix& m, const MatArgs& a, cudaStream_t s) {
  const int64_t smem = a.n_rows * smem_per_row(m.cols);
  static std::atomic<uint64_t> raised{0};  // a bit per device
  (void)raise_dynamic_smem(reinterpret_cast<const void*>(gemv_quant_kernel<W, B, In, kGateUp, kArgmax, kPipe>), kMaxSmem,
                           raised);
  const int per_sm = static_cast<int>(std::clamp<int64_t>(kMaxSmem / std::max<int64_t>(smem, 1), 1, kCtasPerSm));
  const unsigned grid = static_cast<unsigned>(std::min<int64_t>(ceil_div(kGateUp ? m.rows / 2 : m.rows, kWarps), int64_t{sm_count()} * per_sm));
  launch_pdl(gemv_quant_kernel<W, B, In, kGateUp, kArgmax, kPipe>, grid, kWarps * 32, smem, s, m, a);
}

// Whether `rows` activation rows take kPipe. EFFITUNE_GEMV_PIPE: unset or 1, two rows; 0, none; wide,
// two to eight. Session 22 on an H100, three runs each, tok/s off -> on: batch 2 8B q4_0 721.4 -> 741.4
// (+2.8%), at 1,024-token prompts 642.6 -> 664.0, q8_0 504.1 -> 519.0 (+3.0%), 1B q4_0 / q8_0 unchanged
// (2,811 / 2,812, 2,365 / 2,355). Batch 1 lost (8B q4_0 457.8 -> 454.6, 1B q8_0 1,467.8 -> 1,375.0): with
// one row the multiply is short, and only half of each lane's first weights go out before the PDL
// wait. At 4 and 8 rows (wide) 8B q4_0 batch 4 888.0 -> 900.9, q8_0 825.3 -> 851.5, q8_0 batch 8 1,096.8
// -> 1,120.5, but 1B q8_0 batch 4 3,580.3 -> 3,504.7 (its 2,048-wide rows are one batch): off by
// default until a rule by row length is measured.
bool pipe_rows(int rows) {
  static const int max_rows = [] {
    const char* v = std::getenv("EFFITUNE_GEMV_PIPE");
    if (v != nullptr && std::strcmp(v, "0") == 0) return 0;
    if (v != nullptr && std::strcmp(v, "wide") == 0) return kGemvMaxBatch;
    return 2;
  }();
  return rows >= 2 && rows <= max_rows;
}

template <WKind W, int B, MatIn In, bool kGateUp, bool kArgmax = false>
void launch_k(const DeviceMatrix& m, const MatArgs& a, cudaStream_t s) {
  if constexpr (B >= 2) {
    if (pipe_rows(B)) return launch_kp<W, B, In, kGateUp, kArgmax, true>(m, a, s);
  }
  launch_kp<W, B, In, kGateUp, kArgmax, false>(m, a, s);
}

template <WKind W, int B>
void launch_b(const DeviceMatrix& m, const MatArgs& a, cudaStream_t s) {
  const bool gate_up = a.out_mode == MatOut::kSwiGluAct;
  switch (a.in) {
    case MatIn::kSwiGlu: launch_k<W, B, MatIn::kSwiGlu, false>(m, a, s); break;
    case MatIn::kRmsNorm:
      if (gate_up) launch_k<W, B, MatIn::kRmsNorm, true>(m, a, s);
      else launch_k<W, B, MatIn::kRmsNorm, false>(m, a, s);
      break;
    case MatIn::kPlain:
      if (gate_up) launch_k<W, B, MatIn::kPlain, true>(m, a, s);
      else if (a.argmax != nullptr) launch_k<W, B, MatIn::kPlain, false, true>(m, a, s);
      else launch_k<W, B, MatIn::kPlain, false>(m, a, s);
      break;
  }
}

template <WKind W>
void launch_w(const DeviceMatrix& m, const MatArgs& a, cudaStream_t s) {
  if (a.n_rows <= 1) launch_b<W, 1>(m, a, s);
  else if (a.n_rows <= 2) launch_b<W, 2>(m, a, s);
  else if (a.n_rows <= 4) launch_b<W, 4>(m, a, s);
  else launch_b<W, 8>(m, a, s);
}

}  // namespace

bool gemv_quant_fuses_rmsnorm(const DeviceMatrix& w, int32_t n_rows) {
  return n_rows * smem_per_row(w.cols) <= kMaxSmem;
}

void launch_gemv_quant(const DeviceMatrix& m, const MatArgs& a, cudaStream_t s) {
  if (m.kind == WKind::kQ8) launch_w<WKind::kQ8>(m, a, s);
  else launch_w<WKind::kQ4>(m, a, s);
}

}  // namespace effitune::engine::cuda
