#include <algorithm>
#include <type_traits>

#include "common.cuh"
#include "gemm_skinny.cuh"

namespace effitune::engine::cuda {
namespace {

constexpr int kThreads = 256;       // 8 warps, each with its own 16 W rows of the same K chunk
constexpr int kRowsPerCta = 128;
constexpr int kRowsAlign = 64;      // N granularity (a CTA may have only its first 4 warps busy)
constexpr int kAhead = 8;           // k32 steps of W in flight per thread (8 x 32 bytes)
constexpr int kBlockK = 32 * kAhead;  // a chunk is a whole number of these
constexpr int kSmemPerCta = 96 * 1024;  // two CTAs per SM (228 KB)
constexpr int kMaxSplits = 16;

struct SkinnyParams {
  const uint8_t* w;
  int64_t n, k;
  const uint8_t* x;
  int64_t ldx;
  int32_t m;
  void* out;
  int64_t ldo;
  MatOut mode;
  float* partials;  // [splits][m][n] when splits > 1
  int32_t splits;
  int32_t chunk;  // K elements per split: a multiple of kBlockK; the last split may be shorter
};

template <typename T>
__device__ __forceinline__ void mma_16816(float (&d)[4], uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3,
                                          uint32_t b0, uint32_t b1) {
  if constexpr (std::is_same_v<T, __nv_bfloat16>) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
  } else {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
  }
}

__device__ __forceinline__ void cp_async16(uint32_t dst, const void* src, bool valid) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(valid ? 16 : 0));
}

template <typename T>
__device__ __forceinline__ void store_out(const SkinnyParams& p, int64_t tok, int64_t row, float v) {
  const int64_t o = tok * p.ldo + row;
  if (p.mode == MatOut::kAct) static_cast<T*>(p.out)[o] = from_f32<T>(v);
  else if (p.mode == MatOut::kF32) static_cast<float*>(p.out)[o] = v;
  else static_cast<float*>(p.out)[o] += v;
}

// The activations of the chunk in shared memory, 16-byte piece q (k 8q..8q+7) of k32 step s of token
// tok at ((s * NT + tok) * 4 + q) * 16: lane (g, t) of a warp reads piece t of token 8j + g as the B
// fragments of both k16 halves of step s (k 2t, 2t+1 / 2t+8, 2t+9 of half 0 are its first two
// words, half 1 its last two), the same k permutation as its A registers, and a warp's 32 lanes read
// 512 contiguous bytes (no bank conflict).
template <typename T, int NT>
__global__ void __launch_bounds__(kThreads, 2) gemm_skinny_kernel(SkinnyParams p) {
  extern __shared__ __align__(128) uint8_t xs[];
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, g = lane >> 2, t = lane & 3;
  const int64_t n0 = static_cast<int64_t>(blockIdx.x) * kRowsPerCta + warp * 16;
  const bool active = n0 < p.n;  // uniform per warp
  const int split = blockIdx.y;
  const int64_t k0 = static_cast<int64_t>(split) * p.chunk;
  const int klen = static_cast<int>(min(static_cast<int64_t>(p.chunk), p.k - k0));
  const int steps = klen / 32;  // a multiple of kAhead

  // Lane (g, t) feeds W rows n0 + g and n0 + g + 8: 16 bytes of each per k32 step (the t-th quarter
  // of the step's 64 bytes), used as the A fragments of both k16 halves in a permuted k order.
  const int64_t r = n0 + g;
  const uint4* w_lo = reinterpret_cast<const uint4*>(p.w + ((active ? r : 0) * p.k + k0) * 2) + t;
  const uint4* w_hi = w_lo + p.k;  // 8 rows further: 8 * k * 2 bytes
  uint4 a[kAhead][2];
  // The weights do not depend on earlier kernels: their first loads go out before the wait.
  if (active) {
#pragma unroll
    for (int d = 0; d < kAhead; ++d) a[d][0] = ld_stream16(w_lo + d * 4), a[d][1] = ld_stream16(w_hi + d * 4);
  }
  pdl_trigger();
  pdl_wait();

  const uint32_t xs_addr = static_cast<uint32_t>(__cvta_generic_to_shared(xs));
  const int pieces = NT * klen / 8;
  for (int i = tid; i < pieces; i += kThreads) {
    const int q = i & 3, tok = (i >> 2) % NT, s = (i >> 2) / NT;
    const bool ok = tok < p.m;
    cp_async16(xs_addr + i * 16, p.x + ((ok ? tok : 0) * p.ldx + k0 + 32 * s + 8 * q) * 2, ok);
  }
  asm volatile("cp.async.wait_all;\n" ::: "memory");
  __syncthreads();

  float acc[NT / 8][4];
#pragma unroll
  for (int j = 0; j < NT / 8; ++j) acc[j][0] = acc[j][1] = acc[j][2] = acc[j][3] = 0.0f;
  if (active) {
    for (int s0 = 0; s0 < steps; s0 += kAhead) {
#pragma unroll
      for (int d = 0; d < kAhead; ++d) {
        const int s = s0 + d;
#pragma unroll
        for (int j = 0; j < NT / 8; ++j) {
          const uint4 b = *reinterpret_cast<const uint4*>(xs + ((s * NT + 8 * j + g) * 4 + t) * 16);
          mma_16816<T>(acc[j], a[d][0].x, a[d][1].x, a[d][0].y, a[d][1].y, b.x, b.y);
          mma_16816<T>(acc[j], a[d][0].z, a[d][1].z, a[d][0].w, a[d][1].w, b.z, b.w);
        }
        // Slot d is free: step s + kAhead's weights go out now, kAhead steps before they are used.
        if (s + kAhead < steps)
          a[d][0] = ld_stream16(w_lo + (s + kAhead) * 4), a[d][1] = ld_stream16(w_hi + (s + kAhead) * 4);
      }
    }
  }
  if (!active) return;
  // acc[j][e]: W row r + 8 (e >> 1), token 8j + 2t + (e & 1).
#pragma unroll
  for (int j = 0; j < NT / 8; ++j) {
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const int64_t row = r + 8 * (e >> 1), tok = 8 * j + 2 * t + (e & 1);
      if (tok >= p.m) continue;
      if (p.splits == 1) store_out<T>(p, tok, row, acc[j][e]);
      else __stcg(p.partials + (static_cast<int64_t>(split) * p.m + tok) * p.n + row, acc[j][e]);
    }
  }
}

// The split partial sums added in split order (so every run gives the same bits), then stored as
// the output mode asks; four consecutive outputs per thread, every split's loads in flight together.
template <typename T>
__global__ void __launch_bounds__(256) gemm_skinny_reduce_kernel(SkinnyParams p) {
  pdl_trigger();
  pdl_wait();
  const int64_t quads = static_cast<int64_t>(p.m) * p.n / 4, plane = static_cast<int64_t>(p.m) * p.n;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < quads;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    float4 v[kMaxSplits];
#pragma unroll
    for (int s = 0; s < kMaxSplits; ++s)
      if (s < p.splits) v[s] = __ldcg(reinterpret_cast<const float4*>(p.partials + s * plane) + i);
    float4 sum = v[0];
#pragma unroll
    for (int s = 1; s < kMaxSplits; ++s)
      if (s < p.splits) sum.x += v[s].x, sum.y += v[s].y, sum.z += v[s].z, sum.w += v[s].w;
    const int64_t tok = 4 * i / p.n, row = 4 * i % p.n;
    store_out<T>(p, tok, row, sum.x);
    store_out<T>(p, tok, row + 1, sum.y);
    store_out<T>(p, tok, row + 2, sum.z);
    store_out<T>(p, tok, row + 3, sum.w);
  }
}

int tokens_of(int32_t m) { return m <= 32 ? 32 : 64; }

// K chunks: as few as keep about two CTAs (16 warps) per SM streaming (so that the partial sums, M x N
// floats per split through L2, stay small), and no chunk larger than the activations' shared memory.
struct Split {
  int32_t splits, chunk;
};
int64_t max_chunk_blocks(int32_t m) { return std::max<int64_t>(1, kSmemPerCta / (tokens_of(m) * 2 * kBlockK)); }
Split choose_split(int64_t n, int64_t k, int32_t m, int32_t forced) {
  const int64_t blocks = k / kBlockK, tiles = ceil_div(n, kRowsPerCta);
  const int64_t lo = ceil_div(blocks, max_chunk_blocks(m)), hi = std::max(lo, std::min<int64_t>(blocks, kMaxSplits));
  int64_t s = forced > 0 ? forced : std::max<int64_t>(lo, ceil_div(2 * sm_count(), tiles));
  s = std::clamp<int64_t>(s, lo, hi);
  const int64_t per = ceil_div(blocks, s);
  return {static_cast<int32_t>(ceil_div(blocks, per)), static_cast<int32_t>(per * kBlockK)};
}

template <typename T, int NT>
void launch_typed(SkinnyParams p, cudaStream_t s) {
  static const bool raised = [] {
    return cudaFuncSetAttribute(gemm_skinny_kernel<T, NT>, cudaFuncAttributeMaxDynamicSharedMemorySize, kSmemPerCta) ==
           cudaSuccess;
  }();
  (void)raised;
  const dim3 grid(static_cast<unsigned>(ceil_div(p.n, kRowsPerCta)), static_cast<unsigned>(p.splits));
  launch_pdl(gemm_skinny_kernel<T, NT>, grid, dim3(kThreads), static_cast<size_t>(NT) * p.chunk * 2, s, p);
  if (p.splits > 1) {
    const int64_t quads = static_cast<int64_t>(p.m) * p.n / 4;
    const unsigned blocks = static_cast<unsigned>(std::min<int64_t>(ceil_div(quads, 256), 4 * sm_count()));
    launch_pdl(gemm_skinny_reduce_kernel<T>, dim3(blocks), dim3(256), 0, s, p);
  }
}

}  // namespace

bool gemm_skinny_supports(ActType act, const DeviceMatrix& w, const MatArgs& a) {
  if (a.in != MatIn::kPlain || a.n_rows < 1 || a.n_rows > kGemmSkinnyMaxRows || a.argmax != nullptr) return false;
  if (a.out_mode != MatOut::kAct && a.out_mode != MatOut::kF32 && a.out_mode != MatOut::kF32Accumulate) return false;
  if (!((w.kind == WKind::kBF16 && act == ActType::kBF16) || (w.kind == WKind::kF16 && act == ActType::kF16)))
    return false;
  if (w.rows <= 0 || w.rows % kRowsAlign != 0 || w.cols <= 0 || w.cols % kBlockK != 0) return false;
  // Each split's activations must fit the shared memory of two CTAs per SM, in at most kMaxSplits.
  if (ceil_div(w.cols / kBlockK, max_chunk_blocks(a.n_rows)) > kMaxSplits) return false;
  if (a.ldx % 8 != 0 || reinterpret_cast<uintptr_t>(a.x) % 16 != 0 || reinterpret_cast<uintptr_t>(w.data) % 16 != 0)
    return false;
  return true;
}

int64_t gemm_skinny_partial_floats(const DeviceMatrix& w, const MatArgs& a, int32_t splits) {
  const Split sp = choose_split(w.rows, w.cols, a.n_rows, splits);
  return sp.splits > 1 ? static_cast<int64_t>(sp.splits) * a.n_rows * w.rows : 0;
}

void launch_gemm_skinny(const DeviceMatrix& w, const MatArgs& a, float* partials, cudaStream_t s, int32_t splits) {
  SkinnyParams p{};
  p.w = static_cast<const uint8_t*>(w.data);
  p.n = w.rows, p.k = w.cols;
  p.x = static_cast<const uint8_t*>(a.x);
  p.ldx = a.ldx, p.m = a.n_rows;
  p.out = a.out, p.ldo = a.ldo, p.mode = a.out_mode;
  p.partials = partials;
  const Split sp = choose_split(w.rows, w.cols, a.n_rows, splits);
  p.splits = sp.splits, p.chunk = sp.chunk;
  const bool bf16 = w.kind == WKind::kBF16;
  if (tokens_of(a.n_rows) == 32) {
    if (bf16) launch_typed<__nv_bfloat16, 32>(p, s);
    else launch_typed<__half, 32>(p, s);
  } else {
    if (bf16) launch_typed<__nv_bfloat16, 64>(p, s);
    else launch_typed<__half, 64>(p, s);
  }
}

}  // namespace effitune::engine::cuda
