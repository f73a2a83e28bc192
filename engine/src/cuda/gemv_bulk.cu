#include <algorithm>

#include "common.cuh"
#include "gemv.cuh"
#include "gemv_detail.cuh"

namespace effitune::engine::cuda {
namespace {

using gemv_detail::kWarps;
using gemv_detail::load_x;
using gemv_detail::rmsnorm_prologue;
using gemv_detail::unpack_weights;
using gemv_detail::WeightChunk;

// Why a second float GEMV. The register-loading kernel (gemv.cu) keeps at most 4-8 16-byte loads
// in flight per lane, and its registers cap the warps per SM: ncu showed the 8B shape's big
// projections at 3.3 TB/s and the small ones at 2.1 TB/s on an H200 (copy bandwidth 4.3), which is
// Little's law with ~50 KB in flight per SM. Here each warp streams its rows through a ring of
// shared-memory stages filled by bulk asynchronous copies (cp.async.bulk, completion counted on one
// mbarrier per stage), so 8 KB per warp and 128 KB per SM are in flight without holding registers,
// and a warp's first stages are issued before it waits on the previous kernel (launch_pdl).
constexpr int kStages = 4;
constexpr int kPieceMax = 2048;  // bytes per stage: a row is streamed in pieces of 512-2048 bytes
constexpr int kCtasPerSm = 2;

__device__ __forceinline__ uint32_t smem_addr(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

__device__ __forceinline__ void mbar_init(uint64_t* bar) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], 1;" ::"r"(smem_addr(bar)) : "memory");
}

// Arms the stage's barrier for `bytes` and starts the copy that completes it.
__device__ __forceinline__ void bulk_load(void* dst, const void* src, uint32_t bytes, uint64_t* bar) {
  // Orders this warp's earlier generic-proxy reads of the stage before the async-proxy write.
  asm volatile("fence.proxy.async.shared::cta;" ::: "memory");
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(smem_addr(bar)), "r"(bytes) : "memory");
  asm volatile(
      "cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];" ::"r"(smem_addr(dst)),
      "l"(src), "r"(bytes), "r"(smem_addr(bar))
      : "memory");
}

__device__ __forceinline__ void mbar_wait(uint64_t* bar, uint32_t parity) {
  uint32_t done = 0;
  while (!done) {
    asm volatile(
        "{\n .reg .pred p;\n mbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\n selp.u32 %0, 1, 0, p;\n}"
        : "=r"(done)
        : "r"(smem_addr(bar)), "r"(parity)
        : "memory");
  }
}

// Warp gw of the grid owns output units gw, gw + (warps in grid), ...; a unit is one output row
// (R = 1) or gate row j and up row j (kGateUp, R = 2), and its R rows are streamed piece by piece
// (`ppr` pieces of `piece` bytes per row) through the warp's kStages stages.
template <WKind W, int B, bool kGateUp, bool kNorm>
__global__ void __launch_bounds__(kWarps * 32, kCtasPerSm) gemv_bulk_kernel(DeviceMatrix m, MatArgs a, int piece) {
  using T = typename WeightChunk<W, true>::Act;
  constexpr int E = WeightChunk<W, true>::kElems;
  constexpr int R = kGateUp ? 2 : 1;
  extern __shared__ __align__(128) uint8_t smem[];
  __shared__ uint64_t bars[kWarps][kStages];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  uint8_t* stage = smem + static_cast<size_t>(warp) * kStages * piece;
  T* xs = reinterpret_cast<T*>(smem + static_cast<size_t>(kWarps) * kStages * piece);

  const int64_t out_rows = kGateUp ? m.rows / 2 : m.rows, rb = m.data_row_bytes();
  const int ppr = static_cast<int>(rb / piece), per_unit = R * ppr;
  const int64_t gw = static_cast<int64_t>(blockIdx.x) * kWarps + warp, nw = static_cast<int64_t>(gridDim.x) * kWarps;
  const int64_t units = gw < out_rows ? (out_rows - gw + nw - 1) / nw : 0;
  const int64_t total = units * per_unit;
  const uint8_t* wdata = static_cast<const uint8_t*>(m.data);
  auto source = [&](int64_t t) {
    const int64_t unit = gw + (t / per_unit) * nw;
    const int within = static_cast<int>(t % per_unit);
    return wdata + (unit + (within / ppr) * out_rows) * rb + static_cast<int64_t>(within % ppr) * piece;
  };

  if (lane == 0) {
    for (int i = 0; i < kStages; ++i) mbar_init(&bars[warp][i]);
    asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
    for (int64_t t = 0; t < kStages && t < total; ++t)
      bulk_load(stage + t * piece, source(t), piece, &bars[warp][t]);
  }
  __syncwarp();
  pdl_trigger();
  pdl_wait();
  const T* x = static_cast<const T*>(a.x);
  int64_t ldx = a.ldx;
  if constexpr (kNorm) {
    rmsnorm_prologue<T, B>(a, m.cols, xs);
    x = xs;
    ldx = m.cols;
  }

  const int chunks = piece / 16;  // per piece; a multiple of 32
  float acc[R][B];
#pragma unroll
  for (int r = 0; r < R; ++r)
#pragma unroll
    for (int b = 0; b < B; ++b) acc[r][b] = 0.0f;
  for (int64_t t = 0; t < total; ++t) {
    const int slot = static_cast<int>(t % kStages);
    mbar_wait(&bars[warp][slot], static_cast<uint32_t>((t / kStages) & 1));
    const int within = static_cast<int>(t % per_unit), r = within / ppr;
    const int64_t c_base = static_cast<int64_t>(within % ppr) * chunks;
    const uint4* src = reinterpret_cast<const uint4*>(stage + slot * piece);
    for (int c = lane; c < chunks; c += 32) {
      float w[E];
      unpack_weights<W, true>(src[c], w);
      const int64_t k0 = (c_base + c) * E;
#pragma unroll
      for (int b = 0; b < B; ++b) {
        if (b >= a.n_rows) break;
        float xv[E];
        load_x<T, E>(x + b * ldx + k0, xv);
        float dot = 0.0f;
#pragma unroll
        for (int i = 0; i < E; ++i) dot = fmaf(w[i], xv[i], dot);
#pragma unroll
        for (int rr = 0; rr < R; ++rr)
          if (rr == r) acc[rr][b] += dot;
      }
    }
    __syncwarp();
    if (lane == 0 && t + kStages < total) bulk_load(stage + slot * piece, source(t + kStages), piece, &bars[warp][slot]);
    if (within != per_unit - 1) continue;
    // The unit's last piece: reduce and store.
    const int64_t row = gw + (t / per_unit) * nw;
#pragma unroll
    for (int rr = 0; rr < R; ++rr)
#pragma unroll
      for (int b = 0; b < B; ++b) acc[rr][b] = warp_sum(acc[rr][b]);
    if (lane == 0) {
#pragma unroll
      for (int b = 0; b < B; ++b) {
        if (b >= a.n_rows) break;
        const int64_t o = b * a.ldo + row;
        if constexpr (kGateUp) {
          const float g = to_f32(from_f32<T>(acc[0][b])), u = to_f32(from_f32<T>(acc[R - 1][b]));
          static_cast<T*>(a.out)[o] = from_f32<T>(g / (1.0f + expf(-g)) * u);
        } else if (a.out_mode == MatOut::kAct) {
          static_cast<T*>(a.out)[o] = from_f32<T>(acc[0][b]);
        } else if (a.out_mode == MatOut::kF32) {
          static_cast<float*>(a.out)[o] = acc[0][b];
        } else {
          static_cast<float*>(a.out)[o] += acc[0][b];
        }
      }
    }
#pragma unroll
    for (int rr = 0; rr < R; ++rr)
#pragma unroll
      for (int b = 0; b < B; ++b) acc[rr][b] = 0.0f;
  }
}

int sm_count() {
  static const int n = [] {
    int dev = 0, v = 0;
    cudaGetDevice(&dev);
    cudaDeviceGetAttribute(&v, cudaDevAttrMultiProcessorCount, dev);
    return std::max(v, 1);
  }();
  return n;
}

int piece_bytes(int64_t row_bytes) {
  for (int p = kPieceMax; p >= 512; p /= 2)
    if (row_bytes % p == 0) return p;
  return 0;
}

template <WKind W, int B, bool kGateUp, bool kNorm>
void launch_k(const DeviceMatrix& m, const MatArgs& a, int piece, cudaStream_t s) {
  using T = typename WeightChunk<W, true>::Act;
  const size_t smem = static_cast<size_t>(kWarps) * kStages * piece + (kNorm ? static_cast<size_t>(a.n_rows) * m.cols * sizeof(T) : 0);
  static const bool raised = [] {
    return cudaFuncSetAttribute(gemv_bulk_kernel<W, B, kGateUp, kNorm>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                100 * 1024) == cudaSuccess;
  }();
  (void)raised;
  const int64_t out_rows = kGateUp ? m.rows / 2 : m.rows;
  const unsigned grid =
      static_cast<unsigned>(std::min<int64_t>(ceil_div(out_rows, kWarps), int64_t{sm_count()} * kCtasPerSm));
  launch_pdl(gemv_bulk_kernel<W, B, kGateUp, kNorm>, grid, kWarps * 32, smem, s, m, a, piece);
}

template <WKind W, int B>
void launch_b(const DeviceMatrix& m, const MatArgs& a, int piece, cudaStream_t s) {
  const bool gate_up = a.out_mode == MatOut::kSwiGluAct, norm = a.in == MatIn::kRmsNorm;
  if (gate_up) norm ? launch_k<W, B, true, true>(m, a, piece, s) : launch_k<W, B, true, false>(m, a, piece, s);
  else norm ? launch_k<W, B, false, true>(m, a, piece, s) : launch_k<W, B, false, false>(m, a, piece, s);
}

template <WKind W>
void launch_w(const DeviceMatrix& m, const MatArgs& a, int piece, cudaStream_t s) {
  if (a.n_rows <= 1) launch_b<W, 1>(m, a, piece, s);
  else if (a.n_rows <= 2) launch_b<W, 2>(m, a, piece, s);
  else if (a.n_rows <= 4) launch_b<W, 4>(m, a, piece, s);
  else launch_b<W, 8>(m, a, piece, s);
}

}  // namespace

bool launch_gemv_bulk(const DeviceMatrix& m, const MatArgs& a, cudaStream_t s) {
  static const bool on = env_flag("EFFITUNE_GEMV_BULK", false);
  if (!on || a.argmax != nullptr || a.in == MatIn::kSwiGlu || a.n_rows < 1 || a.n_rows > kGemvMaxBatch) return false;
  if (m.kind != WKind::kBF16 && m.kind != WKind::kF16) return false;
  const int piece = piece_bytes(m.data_row_bytes());
  if (piece == 0) return false;
  if (a.in == MatIn::kRmsNorm && static_cast<int64_t>(a.n_rows) * m.cols * 2 > 48 * 1024) return false;
  if (m.kind == WKind::kBF16) launch_w<WKind::kBF16>(m, a, piece, s);
  else launch_w<WKind::kF16>(m, a, piece, s);
  return true;
}

}  // namespace effitune::engine::cuda
