#include "common.cuh"
#include "gemv.cuh"
#include "gemv_detail.cuh"

namespace effitune::engine::cuda {
namespace {

using gemv_detail::kWarps;
using gemv_detail::load_raw;
using gemv_detail::load_x;
using gemv_detail::rmsnorm_prologue;
using gemv_detail::store_gemv_result;
using gemv_detail::unpack_weights;
using gemv_detail::WeightChunk;
constexpr int kUnroll = 4;  // 16-byte weight loads per lane per batch (two batches in flight)

template <int B>
__device__ __forceinline__ void argmax_epilogue(const float (&acc)[B], int64_t row, bool owner, const MatArgs& a) {
  __shared__ unsigned long long best[kWarps][B];
  if ((threadIdx.x & 31) == 0) {
#pragma unroll
    for (int b = 0; b < B; ++b) best[threadIdx.x >> 5][b] = owner ? gemv_detail::argmax_key(acc[b], row) : 0ULL;
  }
  gemv_detail::argmax_flush<B, kWarps>(best, a);
}

// One output row per group of S warps (S = 1, 2, 4 or 8, chosen at launch): with few rows (the
// 1B shape's 2048-row projections, tensor-parallel shards) one warp per row left only ~16 warps per
// SM, too few loads in flight to reach HBM bandwidth; the S warps of a row split its 16-byte chunks
// (interleaved in 512-byte runs per warp) and sum their partials through shared memory in a fixed
// order, so results stay deterministic. Each lane double-buffers its weight loads: the next kUnroll
// chunks are issued before the current ones are multiplied.
//
// kGateUp: the matrix is gate|up stacked ([2H, K]); the row group j computes gate row j and up row j
// and writes h[j] = silu(gate) * up (each rounded to the activation type first, exactly as the
// separate SwiGLU kernel reads them from the gate|up buffer), so no gate|up buffer or SwiGLU launch
// is needed.
//
// kNorm: the input is MatIn::kRmsNorm (rmsnorm_prologue into dynamic shared memory).
template <WKind W, bool kVec, int B, bool kGateUp, bool kNorm>
__global__ void __launch_bounds__(kWarps * 32) gemv_kernel(DeviceMatrix m, MatArgs a, int split) {
  using Chunk = WeightChunk<W, kVec>;
  using T = typename Chunk::Act;
  constexpr int E = Chunk::kElems;
  constexpr int R = kGateUp ? 2 : 1;  // weight rows per row group
  constexpr int U = kUnroll / R;      // chunks per row per batch: the same loads in flight, and registers, as R = 1
  __shared__ float partial[kWarps][R][B];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int slice = warp % split;
  const int64_t out_rows = kGateUp ? m.rows / 2 : m.rows;
  const int64_t row = static_cast<int64_t>(blockIdx.x) * (kWarps / split) + warp / split;
  const int64_t K = m.cols;
  const uint8_t* wrow[R];
#pragma unroll
  for (int r = 0; r < R; ++r)
    wrow[r] = static_cast<const uint8_t*>(m.data) + (row + r * out_rows) * m.data_row_bytes();
  extern __shared__ uint4 gemv_smem[];
  const T* x = kNorm ? reinterpret_cast<const T*>(gemv_smem) : static_cast<const T*>(a.x);
  const int64_t ldx = kNorm ? K : a.ldx;
  const int64_t n_chunks = K / E, first = static_cast<int64_t>(slice) * 32 + lane, stride = 32LL * split;
  const bool active = row < out_rows;

  uint4 cur[R][U], nxt[R][U];
  // Chunks c0, c0 + stride, ... (U of them) of every row of the group.
  auto load_batch = [&](uint4 (&dst)[R][U], int64_t c0) {
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int64_t c = c0 + stride * u;
#pragma unroll
      for (int r = 0; r < R; ++r)
        if (c < n_chunks) dst[r][u] = load_raw<W, kVec>(wrow[r], c);
    }
  };
  // The first weight loads do not depend on earlier kernels: issue them before waiting on those.
  if (active) load_batch(cur, first);
  if constexpr (kNorm) gemv_detail::prefetch_norm_weight(a, K);
  pdl_trigger();
  pdl_wait();
  __shared__ float prev[kWarps][B];
  if (active && lane == 0 && slice == 0) gemv_detail::residual_prefetch<B>(a, row, prev[warp]);
  if constexpr (kNorm) rmsnorm_prologue<T, B>(a, K, reinterpret_cast<T*>(gemv_smem));

  float acc[R][B];
#pragma unroll
  for (int r = 0; r < R; ++r)
#pragma unroll
    for (int b = 0; b < B; ++b) acc[r][b] = 0.0f;

  if (active) {
    for (int64_t c0 = first; c0 < n_chunks; c0 += stride * U) {
      const bool more = c0 + stride * U < n_chunks;
      if (more) load_batch(nxt, c0 + stride * U);
#pragma unroll
      for (int u = 0; u < U; ++u) {
        const int64_t c = c0 + stride * u;
        if (c >= n_chunks) break;
        float w[R][E];
#pragma unroll
        for (int r = 0; r < R; ++r) unpack_weights<W, kVec>(cur[r][u], w[r]);
        const int64_t k0 = c * E;
#pragma unroll
        for (int b = 0; b < B; ++b) {
          if (b >= a.n_rows) break;
          float xv[E];
          load_x<T, E>(x + b * ldx + k0, xv);
#pragma unroll
          for (int r = 0; r < R; ++r) {
            float dot = 0.0f;
#pragma unroll
            for (int i = 0; i < E; ++i) dot = fmaf(w[r][i], xv[i], dot);
            acc[r][b] += dot;
          }
        }
      }
      if (more) {
#pragma unroll
        for (int r = 0; r < R; ++r)
#pragma unroll
          for (int u = 0; u < U; ++u) cur[r][u] = nxt[r][u];
      }
    }
  }
#pragma unroll
  for (int r = 0; r < R; ++r)
#pragma unroll
    for (int b = 0; b < B; ++b) acc[r][b] = warp_sum(acc[r][b]);
  if (split > 1) {
    if (lane == 0) {
#pragma unroll
      for (int r = 0; r < R; ++r)
#pragma unroll
        for (int b = 0; b < B; ++b) partial[warp][r][b] = acc[r][b];
    }
    __syncthreads();
    if (slice != 0) return;
#pragma unroll
    for (int r = 0; r < R; ++r)
#pragma unroll
      for (int b = 0; b < B; ++b) {
        float sum = 0.0f;
        for (int j = 0; j < split; ++j) sum += partial[warp + j][r][b];
        acc[r][b] = sum;
      }
  }
  if constexpr (!kGateUp) {
    if (a.argmax != nullptr) argmax_epilogue<B>(acc[0], row, active && lane == 0, a);
  }
  if (lane != 0 || !active) return;
#pragma unroll
  for (int b = 0; b < B; ++b) {
    if (b >= a.n_rows) break;
    const int64_t o = b * a.ldo + row;
    store_gemv_result<T>(a, o, acc[0][b], acc[R - 1][b], &prev[warp][b]);
  }
}

// Warps per output row: enough row groups x warps for ~32 warps per SM, but at least one chunk
// batch per warp. EFFITUNE_GEMV_SPLIT=0 keeps one warp per row (A/B timing).
int split_for(int64_t out_rows, int64_t n_chunks) {
  static const bool on = env_flag("EFFITUNE_GEMV_SPLIT", true);
  if (!on) return 1;
  int split = 1;
  while (split < kWarps && out_rows * split < int64_t{sm_count()} * 32 && n_chunks >= 32LL * kUnroll * split * 2)
    split *= 2;
  return split;
}

template <WKind W, bool kVec, int B>
void launch_b(const DeviceMatrix& m, const MatArgs& a, cudaStream_t s) {
  const bool gate_up = a.out_mode == MatOut::kSwiGluAct;
  const int64_t out_rows = gate_up ? m.rows / 2 : m.rows;
  // The argmax epilogue reduces over the whole CTA, so it needs every warp on its own row.
  const int split = a.argmax != nullptr ? 1 : split_for(out_rows, m.cols / WeightChunk<W, kVec>::kElems);
  const unsigned grid = static_cast<unsigned>(ceil_div(out_rows, kWarps / split));
  if constexpr (kVec && W != WKind::kF32) {
    if (a.in == MatIn::kRmsNorm) {
      const size_t smem = static_cast<size_t>(a.n_rows) * m.cols * sizeof(typename WeightChunk<W, kVec>::Act);
      if (gate_up) launch_pdl(gemv_kernel<W, kVec, B, true, true>, grid, kWarps * 32, smem, s, m, a, split);
      else launch_pdl(gemv_kernel<W, kVec, B, false, true>, grid, kWarps * 32, smem, s, m, a, split);
      return;
    }
  }
  if (gate_up) launch_pdl(gemv_kernel<W, kVec, B, true, false>, grid, kWarps * 32, 0, s, m, a, split);
  else launch_pdl(gemv_kernel<W, kVec, B, false, false>, grid, kWarps * 32, 0, s, m, a, split);
}

template <WKind W, bool kVec>
void launch_w(const DeviceMatrix& m, const MatArgs& a, cudaStream_t s) {
  if (a.n_rows <= 1) launch_b<W, kVec, 1>(m, a, s);
  else if (a.n_rows <= 2) launch_b<W, kVec, 2>(m, a, s);
  else if (a.n_rows <= 4) launch_b<W, kVec, 4>(m, a, s);
  else launch_b<W, kVec, 8>(m, a, s);
}

__global__ void finish_argmax_kernel(unsigned long long* keys, int32_t rows, int32_t* out) {
  pdl_trigger();
  pdl_wait();
  const int r = threadIdx.x;
  if (r >= rows) return;
  out[r] = static_cast<int32_t>(~static_cast<uint32_t>(keys[r] & 0xFFFFFFFFull));
  keys[r] = 0;  // ready for the next step
}

}  // namespace

void launch_finish_argmax(unsigned long long* keys, int32_t rows, int32_t* out, cudaStream_t s) {
  if (rows > 0) launch_pdl(finish_argmax_kernel, 1, static_cast<unsigned>(ceil_div(rows, 32) * 32), 0, s, keys, rows, out);
}

bool gemv_fuses_rmsnorm(const DeviceMatrix& w, int32_t n_rows) {
  const bool float16 = w.kind == WKind::kBF16 || w.kind == WKind::kF16;
  const bool quant = w.kind == WKind::kQ8 || w.kind == WKind::kQ4;
  if (w.cols % 8 != 0 || !gemv_fusion_pays(n_rows)) return false;
  // Float kinds: the normalized rows live in static-limit shared memory (48 KB) next to 16-byte rows.
  if (float16) return w.data_row_bytes() % 16 == 0 && static_cast<int64_t>(n_rows) * w.cols * 2 <= 48 * 1024;
  return quant && gemv_quant_fuses_rmsnorm(w, n_rows);
}

bool gemv_fusion_pays(int32_t n_rows) {
  // One launch of up to kGemvMaxBatch rows. Quantized weights also take the GEMV up to 32 rows (in
  // launches of 8), but there the fused kernels lose (8B q8_0 / q4_0 at batch 16: 1,074 / 955 tok/s
  // fused against 1,181 / 1,035 unfused on an H200: their 8-row variants spill registers).
  return n_rows >= 1 && n_rows <= kGemvMaxBatch;
}

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
