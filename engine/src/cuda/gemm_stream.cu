#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "common.cuh"
#include "gemm_stream.cuh"
#include "matmul_route.h"
#include "wgmma.cuh"

namespace effitune::engine::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kSlab = 128;  // W rows (output columns) per CTA: 16 per warp, one m16 tile each
constexpr int kMaxStages = 8;
// Shared memory per CTA when two CTAs share an SM (H100/H200: 228 KiB per SM, 1 KiB reserved per
// CTA), and the limit for one CTA.
constexpr int kSmemTwoCtas = 112 * 1024;
constexpr int kSmemOneCta = 226 * 1024;
constexpr int kMaxSplits = 16;
constexpr int64_t kPartialFloats = int64_t{4} << 20;  // 16 MiB of split-K partial sums
constexpr int32_t kCounters = 4096;                   // one per slab: N up to 512K columns

__host__ __device__ constexpr bool is_quant(WKind w) { return w == WKind::kQ8 || w == WKind::kQ4; }
// K elements per pipeline stage: 128 bytes of each 16-bit or Q8 row (64 of a Q4 row).
__host__ __device__ constexpr int k_tile(WKind w) { return is_quant(w) ? 128 : 64; }
__host__ __device__ constexpr int w_tile_row_bytes(WKind w) { return w == WKind::kQ4 ? 64 : 128; }
// One f16 scale per 32 weights: 4 per row and stage.
__host__ __device__ constexpr int scale_tile_row_bytes(WKind w) { return is_quant(w) ? k_tile(w) / 32 * 2 : 0; }

// Shared-memory tiles are XOR-swizzled in 16-byte chunks so that each warp's fragment loads hit 32
// distinct banks (see compute_stage for the access patterns each swizzle serves).
template <WKind W>
__device__ __forceinline__ int w_swizzle(int c, int r) {
  if constexpr (W == WKind::kQ4) return c ^ ((r >> 1) & 3);  // 4 chunks/row, 8 rows read 16 B each
  else if constexpr (W == WKind::kQ8) return c ^ ((r & 3) << 1);  // 8-byte loads, 4 rows per phase
  else return c ^ ((r & 1) << 2);  // 16-byte loads, 2 rows per phase
}
template <WKind W>
__device__ __forceinline__ int x_swizzle(int c, int tok) {
  if constexpr (W == WKind::kQ4) return c ^ ((tok & 3) << 1);
  else return c ^ ((tok & 1) << 2);
}
// Byte offset of 16-byte chunk c of activation row tok in a stage's activation tile. For wgmma (kWg)
// the tile is two K-halves of 64 elements, each [x_rows, 128 bytes] in the 128-byte swizzle that
// smem_desc_sw128 describes; otherwise one [x_rows, k_tile * 2 bytes] array swizzled for load_b.
template <WKind W, bool kWg>
__device__ __forceinline__ int x_offset(int tok, int c, int x_rows) {
  if constexpr (kWg) return ((c >> 3) * x_rows + tok) * 128 + (((c & 7) ^ (tok & 7)) << 4);
  else return tok * k_tile(W) * 2 + x_swizzle<W>(c, tok) * 16;
}

struct Params {
  DeviceMatrix w;
  MatArgs a;
  GemmStreamWorkspace ws;
  int32_t splits;
  int32_t tiles_per_split;
  int32_t n_ktiles;
  int32_t stages;
  int32_t x_rows;  // activation rows staged: the kernel's kTiles * 8, zero-filled past n_rows
  int32_t stage_bytes;
};

__device__ __forceinline__ uint64_t evict_first_policy() {
  uint64_t p;
  asm volatile("createpolicy.fractional.L2::evict_first.b64 %0, 1.0;\n" : "=l"(p));
  return p;
}
// Weights are read once per step: evict-first keeps the activations (re-read by every CTA) in L2.
__device__ __forceinline__ void cp_async16_stream(uint32_t dst, const void* src, bool valid, uint64_t policy) {
  asm volatile("cp.async.cg.shared.global.L2::cache_hint [%0], [%1], 16, %2, %3;\n" ::"r"(dst), "l"(src),
               "r"(valid ? 16 : 0), "l"(policy));
}
__device__ __forceinline__ void cp_async8(uint32_t dst, const void* src, bool valid) {
  asm volatile("cp.async.ca.shared.global [%0], [%1], 8, %2;\n" ::"r"(dst), "l"(src), "r"(valid ? 8 : 0));
}

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

// d * q exactly, as dequant_q8_kernel computes it (then rounded to bf16 once): 0x4B400000 + q is
// the float 1.5 * 2^23 + q, and 1.5 * 2^23 * d is exact for an f16 d, so one FMA leaves d * q
// (itself exact in f32: 8 x 11 significant bits) without an int-to-float conversion.
// Q4_0's n - 8 goes through it as well (0x4B400000 + n - 8 = 0x4B3FFFF8 + n).
__device__ __forceinline__ float dq_magic(int32_t q, float d, float c) {
  return fmaf(__int_as_float(0x4B400000 + q), d, c);
}

// Loads one W row of the stage into the k32 A-fragment halves. The dot product over K does not
// depend on the order of k inside a k32 step, so thread (g, t) takes 8 physical k's of its rows and
// feeds them to the two m16n8k16 steps as logical columns {2t, 2t+1, 2t+8, 2t+9}; the activations
// use the same permutation (load_b). out[0], out[1]: k16 step 0 (cols 2t.., 2t+8..); out[2], out[3]: step 1.
template <WKind W>
__device__ __forceinline__ void load_a_row(const uint8_t* wt, const __half* sc, int r, int kk, int t, uint32_t (&out)[4]) {
  if constexpr (W == WKind::kQ4) {
    // Block kk of the row: byte j holds weight j (low nibble) and j + 16 (high). Thread t takes
    // bytes 4t..4t+3: weights 4t..4t+3 (step 0) and 16+4t..16+4t+3 (step 1).
    const uint32_t v = *reinterpret_cast<const uint32_t*>(wt + r * 64 + w_swizzle<W>(kk, r) * 16 + 4 * t);
    const float d = __half2float(sc[r * 4 + kk]), c = -12582912.0f * d;
    float f[8];
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      f[i] = dq_magic(static_cast<int32_t>((v >> (8 * i)) & 0xF) - 8, d, c);
      f[4 + i] = dq_magic(static_cast<int32_t>((v >> (8 * i + 4)) & 0xF) - 8, d, c);
    }
    out[0] = pack2<__nv_bfloat16>(f[0], f[1]);
    out[1] = pack2<__nv_bfloat16>(f[2], f[3]);
    out[2] = pack2<__nv_bfloat16>(f[4], f[5]);
    out[3] = pack2<__nv_bfloat16>(f[6], f[7]);
  } else if constexpr (W == WKind::kQ8) {
    // Block kk (32 int8): thread t takes bytes 8t..8t+7.
    const uint2 v = *reinterpret_cast<const uint2*>(wt + r * 128 + w_swizzle<W>(kk * 2 + (t >> 1), r) * 16 + (t & 1) * 8);
    const float d = __half2float(sc[r * 4 + kk]), c = -12582912.0f * d;
    float f[8];
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      f[i] = dq_magic(static_cast<int8_t>(v.x >> (8 * i)), d, c);
      f[4 + i] = dq_magic(static_cast<int8_t>(v.y >> (8 * i)), d, c);
    }
    out[0] = pack2<__nv_bfloat16>(f[0], f[1]);
    out[1] = pack2<__nv_bfloat16>(f[2], f[3]);
    out[2] = pack2<__nv_bfloat16>(f[4], f[5]);
    out[3] = pack2<__nv_bfloat16>(f[6], f[7]);
  } else {
    // 16-bit weights: thread t takes elements kk*32 + 8t .. + 7 (one 16-byte chunk).
    const uint4 v = *reinterpret_cast<const uint4*>(wt + r * 128 + w_swizzle<W>(kk * 4 + t, r) * 16);
    out[0] = v.x, out[1] = v.y, out[2] = v.z, out[3] = v.w;
  }
}

// The B fragments (activation row `tok`) for both k16 steps of k32 step kk, in load_a_row's order.
template <WKind W>
__device__ __forceinline__ void load_b(const uint8_t* xt, int tok, int kk, int t, uint32_t (&b)[4]) {
  constexpr int kRow = k_tile(W) * 2;
  if constexpr (W == WKind::kQ4) {
    const uint2 u0 = *reinterpret_cast<const uint2*>(xt + tok * kRow + x_swizzle<W>(kk * 4 + (t >> 1), tok) * 16 + (t & 1) * 8);
    const uint2 u1 = *reinterpret_cast<const uint2*>(xt + tok * kRow + x_swizzle<W>(kk * 4 + 2 + (t >> 1), tok) * 16 + (t & 1) * 8);
    b[0] = u0.x, b[1] = u0.y, b[2] = u1.x, b[3] = u1.y;
  } else {
    const uint4 u = *reinterpret_cast<const uint4*>(xt + tok * kRow + x_swizzle<W>(kk * 4 + t, tok) * 16);
    b[0] = u.x, b[1] = u.y, b[2] = u.z, b[3] = u.w;
  }
}

// Issues the cp.async copies of K tile `kt` (W rows n0.., their scales, all activation rows) into
// the stage at shared address `st`. Rows past N or n_rows are zero-filled.
template <WKind W, bool kWg>
__device__ __forceinline__ void load_stage(uint32_t st, const Params& p, int64_t n0, int kt, uint64_t policy) {
  constexpr int kRowB = w_tile_row_bytes(W), kChunks = kRowB / 16, kK = k_tile(W);
  const uint8_t* wdata = static_cast<const uint8_t*>(p.w.data);
  const int64_t row_bytes = p.w.data_row_bytes();
#pragma unroll
  for (int u = 0; u < kSlab * kChunks / kThreads; ++u) {
    const int i = threadIdx.x + u * kThreads, r = i / kChunks, c = i % kChunks;
    const int64_t n = n0 + r;
    const bool ok = n < p.w.rows;
    const uint8_t* src = wdata + (ok ? n : 0) * row_bytes + static_cast<int64_t>(kt) * kRowB + c * 16;
    cp_async16_stream(st + r * kRowB + w_swizzle<W>(c, r) * 16, src, ok, policy);
  }
  uint32_t xst = st + kSlab * kRowB;
  if constexpr (is_quant(W)) {
    if (threadIdx.x < kSlab) {
      const int r = threadIdx.x;
      const int64_t n = n0 + r;
      const bool ok = n < p.w.rows;
      const __half* src = p.w.scales + (ok ? n : 0) * (p.w.cols / 32) + static_cast<int64_t>(kt) * (kK / 32);
      cp_async8(xst + r * scale_tile_row_bytes(W), src, ok);
    }
    xst += kSlab * scale_tile_row_bytes(W);
  }
  constexpr int kXChunks = kK * 2 / 16;
  const uint8_t* x = static_cast<const uint8_t*>(p.a.x);
  for (int i = threadIdx.x; i < p.x_rows * kXChunks; i += kThreads) {
    const int tok = i / kXChunks, c = i % kXChunks;
    const bool ok = tok < p.a.n_rows;
    const uint8_t* src = x + ((ok ? tok : 0) * p.a.ldx + static_cast<int64_t>(kt) * kK + c * 8) * 2;
    cp_async16(xst + x_offset<W, kWg>(tok, c, p.x_rows), src, ok);
  }
}

// Every one of the kTiles activation tiles is multiplied (rows past n_rows are zeros): a run-time
// bound here would make the compiler predicate all the tile code instead of skipping it.
template <WKind W, typename T, int kTiles>
__device__ __forceinline__ void compute_stage(const uint8_t* st, float (&acc)[kTiles][4], int warp, int g, int t) {
  constexpr int kRowB = w_tile_row_bytes(W);
  const uint8_t* wt = st;
  const __half* sc = reinterpret_cast<const __half*>(st + kSlab * kRowB);
  const uint8_t* xt = st + kSlab * (kRowB + scale_tile_row_bytes(W));
  const int r0 = warp * 16 + g;
#pragma unroll
  for (int kk = 0; kk < k_tile(W) / 32; ++kk) {
    uint32_t lo[4], hi[4];  // rows r0 and r0 + 8
    load_a_row<W>(wt, sc, r0, kk, t, lo);
    load_a_row<W>(wt, sc, r0 + 8, kk, t, hi);
#pragma unroll
    for (int j = 0; j < kTiles; ++j) {
      uint32_t b[4];
      load_b<W>(xt, j * 8 + g, kk, t, b);
      mma_16816<T>(acc[j], lo[0], hi[0], lo[1], hi[1], b[0], b[1]);
      mma_16816<T>(acc[j], lo[2], hi[2], lo[3], hi[3], b[2], b[3]);
    }
  }
}

// Quantized weights on wgmma (sm_90a): each warp dequantizes its 16 W rows of the stage into A
// registers in the natural k order, then the warpgroup multiplies them by the activation tile, which
// the tensor cores read from shared memory: no B fragment loads, and one wgmma per k16 step instead
// of kTiles mma.sync per warp. A's register j of k16 step s holds columns 2t, 2t + 1 (j = 0, 1: rows
// g, g + 8) or 2t + 8, 2t + 9 (j = 2, 3) of the step: for Q4_0 (byte i of a block holds weight i in
// its low nibble, i + 16 in its high one) thread t reads bytes 2t, 2t + 1, 2t + 8, 2t + 9 of each
// block, whose low nibbles are step 0's columns and high nibbles step 1's; for Q8_0 bytes 16s + 2t ..
// of each step. The weights are rounded to bf16 exactly as load_a_row rounds them (d * q in f32, once).
template <WKind W, int kTiles>
__device__ __forceinline__ void compute_stage_quant_wgmma(const uint8_t* st, uint32_t st_addr, int x_rows,
                                                          float (&acc)[kTiles][4], int warp, int g, int t) {
  constexpr int kRowB = w_tile_row_bytes(W);
  const __half* sc = reinterpret_cast<const __half*>(st + kSlab * kRowB);
  const uint32_t xs = st_addr + kSlab * (kRowB + scale_tile_row_bytes(W));
  const int r0 = warp * 16 + g, sh = 16 * (t & 1), tw = 4 * (t >> 1);
  uint32_t a[8][4];  // [k16 step][fragment register]
#pragma unroll
  for (int kk = 0; kk < 4; ++kk) {
#pragma unroll
    for (int h = 0; h < 2; ++h) {  // rows r0 and r0 + 8
      const int r = r0 + 8 * h;
      const float d = __half2float(sc[r * 4 + kk]), c = -12582912.0f * d;
      if constexpr (W == WKind::kQ4) {
        const uint8_t* blk = st + r * kRowB + w_swizzle<W>(kk, r) * 16;
        const uint32_t p0 = *reinterpret_cast<const uint32_t*>(blk + tw) >> sh;      // bytes 2t, 2t + 1
        const uint32_t p1 = *reinterpret_cast<const uint32_t*>(blk + 8 + tw) >> sh;  // bytes 2t + 8, 2t + 9
        const auto dq = [d, c](uint32_t v, int bit) { return dq_magic(static_cast<int32_t>((v >> bit) & 0xF) - 8, d, c); };
        a[2 * kk][h] = pack2<__nv_bfloat16>(dq(p0, 0), dq(p0, 8));
        a[2 * kk][2 + h] = pack2<__nv_bfloat16>(dq(p1, 0), dq(p1, 8));
        a[2 * kk + 1][h] = pack2<__nv_bfloat16>(dq(p0, 4), dq(p0, 12));
        a[2 * kk + 1][2 + h] = pack2<__nv_bfloat16>(dq(p1, 4), dq(p1, 12));
      } else {
#pragma unroll
        for (int step = 0; step < 2; ++step) {
          // Step `step` of block kk is 16-byte chunk 2 kk + step of the row.
          const uint8_t* ch = st + r * kRowB + w_swizzle<W>(kk * 2 + step, r) * 16;
          const uint32_t p0 = *reinterpret_cast<const uint32_t*>(ch + tw) >> sh;      // bytes 2t, 2t + 1
          const uint32_t p1 = *reinterpret_cast<const uint32_t*>(ch + 8 + tw) >> sh;  // bytes 2t + 8, 2t + 9
          a[2 * kk + step][h] = pack2<__nv_bfloat16>(dq_magic(static_cast<int8_t>(p0), d, c),
                                                     dq_magic(static_cast<int8_t>(p0 >> 8), d, c));
          a[2 * kk + step][2 + h] = pack2<__nv_bfloat16>(dq_magic(static_cast<int8_t>(p1), d, c),
                                                         dq_magic(static_cast<int8_t>(p1 >> 8), d, c));
        }
      }
    }
  }
  wgmma_fence();
#pragma unroll
  for (int s = 0; s < 8; ++s)
    wgmma_rs_bf16<kTiles>(acc, a[s], smem_desc_sw128(xs + (s >> 2) * x_rows * 128 + (s & 3) * 32));
  wgmma_commit();
  wgmma_wait_all();  // the stage is refilled after the next barrier
}

// kMinCtas 2 caps the registers at 128 so that two CTAs share an SM (launch_tiles). kWg: quantized
// weights on wgmma (compute_stage_quant_wgmma; launch_tiles chooses it only where the code was built
// for sm_90a).
template <WKind W, typename T, int kTiles, int kMinCtas = 1, bool kWg = false>
__global__ void __launch_bounds__(kThreads, kMinCtas) gemm_stream_kernel(Params p) {
  static_assert(!kWg || is_quant(W), "the wgmma path is the quantized kinds'");
  extern __shared__ __align__(128) uint8_t smem[];
  __shared__ int last_split;
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, g = lane >> 2, t = lane & 3;
  const int split = blockIdx.y;
  const int64_t n0 = static_cast<int64_t>(blockIdx.x) * kSlab;
  const int kt0 = split * p.tiles_per_split;
  const int nk = min(p.n_ktiles - kt0, p.tiles_per_split);
  const int M = p.a.n_rows, S = p.stages;
  const uint32_t raw = static_cast<uint32_t>(__cvta_generic_to_shared(smem));
  // wgmma's swizzle works on addresses: its stages start 1024-byte aligned (launch_typed adds the slack).
  const uint32_t sbase = kWg ? (raw + 1023) & ~1023u : raw;
  uint8_t* const sgen = smem + (sbase - raw);
  const uint64_t policy = evict_first_policy();

  float acc[kTiles][4];
#pragma unroll
  for (int j = 0; j < kTiles; ++j) acc[j][0] = acc[j][1] = acc[j][2] = acc[j][3] = 0.0f;

  for (int s = 0; s < S - 1; ++s) {
    if (s < nk) load_stage<W, kWg>(sbase + s * p.stage_bytes, p, n0, kt0 + s, policy);
    cp_async_commit();
  }
  for (int i = 0; i < nk; ++i) {
    cp_async_wait(S - 2);  // tile i has landed (one group is committed per tile, empty or not)
    if constexpr (kWg) fence_proxy_async_smem();  // ... and is visible to the tensor cores' reads
    __syncthreads();       // ... for every thread, and everyone is done with tile i - 1's stage
    const int next = i + S - 1;
    if (next < nk) load_stage<W, kWg>(sbase + (next % S) * p.stage_bytes, p, n0, kt0 + next, policy);
    cp_async_commit();
    if constexpr (kWg)
      compute_stage_quant_wgmma<W, kTiles>(sgen + (i % S) * p.stage_bytes, sbase + (i % S) * p.stage_bytes, p.x_rows, acc, warp, g, t);
    else
      compute_stage<W, T, kTiles>(sgen + (i % S) * p.stage_bytes, acc, warp, g, t);
  }
  asm volatile("cp.async.wait_all;\n" ::);

  // Accumulator element (j, e): output column n0 + warp*16 + g (+8 for e >= 2), row j*8 + 2t + (e & 1).
  const int64_t N = p.w.rows;
  if (p.splits > 1) {
    // Split K: every CTA writes its partial sums; the last of the slab to finish adds them in split
    // order (fixed, whatever the arrival order), reading its own back as well so that the sum does
    // not depend on which CTA it is. Each split's loads are issued together, before any store.
    const int64_t plane = static_cast<int64_t>(M) * N;
    const float* part = p.ws.partials;
#pragma unroll
    for (int j = 0; j < kTiles; ++j) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int64_t n = n0 + warp * 16 + g + (e >> 1) * 8;
        const int tok = j * 8 + 2 * t + (e & 1);
        if (n < N && tok < M) __stcg(p.ws.partials + split * plane + tok * N + n, acc[j][e]);
      }
    }
    __threadfence();
    __syncthreads();
    if (tid == 0) {
      const int prev = atomicAdd(p.ws.counters + blockIdx.x, 1);
      last_split = prev == p.splits - 1;
      if (last_split) p.ws.counters[blockIdx.x] = 0;  // ready for the next launch
    }
    __syncthreads();
    if (!last_split) return;
    __threadfence();
#pragma unroll
    for (int j = 0; j < kTiles; ++j) acc[j][0] = acc[j][1] = acc[j][2] = acc[j][3] = 0.0f;
    for (int s = 0; s < p.splits; ++s) {
#pragma unroll
      for (int j = 0; j < kTiles; ++j) {
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int64_t n = n0 + warp * 16 + g + (e >> 1) * 8;
          const int tok = j * 8 + 2 * t + (e & 1);
          if (n < N && tok < M) acc[j][e] += __ldcg(part + s * plane + tok * N + n);
        }
      }
    }
  }
  // The residual's old values are all loaded before the first store: out may alias nothing we
  // read, but the compiler cannot know that and would otherwise serialize load-add-store chains.
  if (p.a.out_mode == MatOut::kF32Accumulate) {
    const float* out = static_cast<const float*>(p.a.out);
#pragma unroll
    for (int j = 0; j < kTiles; ++j) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int64_t n = n0 + warp * 16 + g + (e >> 1) * 8;
        const int tok = j * 8 + 2 * t + (e & 1);
        if (n < N && tok < M) acc[j][e] += out[tok * p.a.ldo + n];
      }
    }
  }
#pragma unroll
  for (int j = 0; j < kTiles; ++j) {
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const int64_t n = n0 + warp * 16 + g + (e >> 1) * 8;
      const int tok = j * 8 + 2 * t + (e & 1);
      if (n < N && tok < M) {
        const int64_t o = tok * p.a.ldo + n;
        if (p.a.out_mode == MatOut::kAct) static_cast<T*>(p.a.out)[o] = from_f32<T>(acc[j][e]);
        else static_cast<float*>(p.a.out)[o] = acc[j][e];
      }
    }
  }
}

// Whether the device code was built for sm_90a (wgmma), as the device compilation saw it.
__device__ const int g_wgmma_built = EFFITUNE_HAS_WGMMA;
bool wgmma_built() {
  static const bool built = [] {
    int v = 0;
    return cudaMemcpyFromSymbol(&v, g_wgmma_built, sizeof v) == cudaSuccess && v == 1;
  }();
  return built;
}

double weight_bytes_per_elem(WKind w) {
  switch (w) {
    case WKind::kQ8: return 34.0 / 32;
    case WKind::kQ4: return 18.0 / 32;
    case WKind::kF32: return 4;
    default: return 2;
  }
}

// Splits of K for `slabs` column slabs: the busiest SM streams ceil(slabs * s / SMs) CTAs of
// slab_bytes / s weight bytes each; splitting costs the partial sums' write and ordered read (M x N
// floats per split, through L2, taken as ~3x HBM bandwidth), and every wave of resident CTAs costs
// its pipeline fill and epilogue (taken as kWaveBytes of streaming). The cheapest estimate wins.
constexpr double kWaveBytes = 64 * 1024;
int choose_splits(WKind kind, int64_t slabs, int64_t M, int64_t N, int64_t K, int max_splits, int ctas_per_sm) {
  const int sms = sm_count();
  const double slab_bytes = kSlab * K * weight_bytes_per_elem(kind);
  int best = 1;
  double best_cost = 0;
  for (int s = 1; s <= max_splits; ++s) {
    double cost = std::ceil(static_cast<double>(slabs * s) / sms) * slab_bytes / s;
    if (s > 1) cost += 2.0 * s * static_cast<double>(M * N) * 4 / sms / 3.0;
    cost += std::ceil(static_cast<double>(slabs * s) / (static_cast<double>(sms) * ctas_per_sm)) * kWaveBytes;
    if (s == 1 || cost < best_cost) best = s, best_cost = cost;
  }
  return best;
}

template <WKind W, typename T, int kTiles, int kMinCtas = 1, bool kWg = false>
void launch_typed(const DeviceMatrix& w, const MatArgs& a, const GemmStreamWorkspace& ws, cudaStream_t stream,
                  int32_t forced_splits) {
  constexpr auto kernel = gemm_stream_kernel<W, T, kTiles, kMinCtas, kWg>;
  // A failure shows as the launch's error (CUDA_RETURN_IF_LAUNCH_ERROR after it).
  static std::atomic<uint64_t> raised{0};  // a bit per device
  (void)raise_dynamic_smem(reinterpret_cast<const void*>(kernel), kSmemOneCta, raised);
  // Two CTAs per SM need <= 128 registers per thread as well as the shared memory.
  static const bool two_ctas_fit = [] {
    cudaFuncAttributes attr{};
    return cudaFuncGetAttributes(&attr, kernel) == cudaSuccess && attr.numRegs <= 128;
  }();
  Params p{};
  p.w = w;
  p.a = a;
  p.ws = ws;
  p.x_rows = kTiles * 8;
  p.stage_bytes = kSlab * (w_tile_row_bytes(W) + scale_tile_row_bytes(W)) + p.x_rows * k_tile(W) * 2;
  // Two CTAs per SM when at least three stages fit in half the SM (one CTA's prologue and epilogue
  // then overlap the other's streaming), else one CTA with as many stages as fit.
  const int slack = kWg ? 1024 : 0;  // the wgmma stages' alignment (gemm_stream_kernel)
  p.stages = two_ctas_fit ? std::min(kMaxStages, (kSmemTwoCtas - slack) / p.stage_bytes) : 0;
  const int ctas_per_sm = p.stages >= 3 ? 2 : 1;
  if (p.stages < 3) p.stages = std::min(kMaxStages, (kSmemOneCta - slack) / p.stage_bytes);
  p.n_ktiles = static_cast<int32_t>(w.cols / k_tile(W));
  const int64_t slabs = (w.rows + kSlab - 1) / kSlab;
  int max_splits = std::min<int64_t>(kMaxSplits, p.n_ktiles);
  max_splits = static_cast<int>(std::min<int64_t>(max_splits, ws.partial_floats / std::max<int64_t>(1, a.n_rows * w.rows)));
  if (slabs > ws.n_counters || ws.partials == nullptr) max_splits = 1;
  max_splits = std::max(max_splits, 1);
  int splits = forced_splits > 0 ? std::min(forced_splits, max_splits)
                                 : choose_splits(W, slabs, a.n_rows, w.rows, w.cols, max_splits, ctas_per_sm);
  p.tiles_per_split = (p.n_ktiles + splits - 1) / splits;
  p.splits = (p.n_ktiles + p.tiles_per_split - 1) / p.tiles_per_split;  // no empty split
  const dim3 grid(static_cast<unsigned>(slabs), static_cast<unsigned>(p.splits));
  kernel<<<grid, kThreads, p.stages * p.stage_bytes + slack, stream>>>(p);
}

// The 64-row build (one or two CTAs an SM) or the 128-row one, on wgmma or not.
template <WKind W, typename T, bool kWg>
void launch_rows(const DeviceMatrix& w, const MatArgs& a, const GemmStreamWorkspace& ws, cudaStream_t s,
                 int32_t splits, bool two_ctas) {
  if (a.n_rows > 64) launch_typed<W, T, 16, 1, kWg>(w, a, ws, s, splits);
  else if (two_ctas) launch_typed<W, T, 8, 2, kWg>(w, a, ws, s, splits);
  else launch_typed<W, T, 8, 1, kWg>(w, a, ws, s, splits);
}

// Activation tiles per warp as a compile-time count: 32, 64 or 128 rows (quantized kinds skip the
// 32-row variant to keep the instantiations few). The 64-row variant has a second build for two CTAs
// an SM (128 registers; 16-20 bytes of spills on wgmma, 48 for Q8_0 on mma.sync), taken where
// matmul_route.h's stream_two_ctas says. EFFITUNE_STREAM_TWO_CTAS=0 / 1 forces one build or the other
// (A/B timing). Quantized kinds take the wgmma builds where the device code was built for sm_90a,
// unless EFFITUNE_STREAM_WGMMA=0.
template <WKind W, typename T>
void launch_tiles(const DeviceMatrix& w, const MatArgs& a, const GemmStreamWorkspace& ws, cudaStream_t s,
                  int32_t splits) {
  static const int forced = env_tristate("EFFITUNE_STREAM_TWO_CTAS");
  if constexpr (!is_quant(W)) {
    if (a.n_rows <= 32) return launch_typed<W, T, 4>(w, a, ws, s, splits);
  }
  const bool two_ctas = forced >= 0 ? forced == 1 : stream_two_ctas(w.rows, kSlab, sm_count());
  // EFFITUNE_STREAM_WGMMA is read at every call (host side, ~0.1 us) so that one test process covers both paths.
  if constexpr (is_quant(W)) {
    if (env_flag("EFFITUNE_STREAM_WGMMA", true) && wgmma_built()) return launch_rows<W, T, true>(w, a, ws, s, splits, two_ctas);
  }
  launch_rows<W, T, false>(w, a, ws, s, splits, two_ctas);
}

}  // namespace

int64_t gemm_stream_workspace_bytes() { return kPartialFloats * 4 + kCounters * 4; }

Status gemm_stream_alloc(GemmStreamWorkspace& ws) {
  (void)wgmma_built();  // asked here, outside any graph capture (it copies from the device)
  CUDA_RETURN_IF_ERROR(cudaMalloc(&ws.partials, kPartialFloats * 4));
  ws.partial_floats = kPartialFloats;
  CUDA_RETURN_IF_ERROR(cudaMalloc(&ws.counters, kCounters * 4));
  CUDA_RETURN_IF_ERROR(cudaMemset(ws.counters, 0, kCounters * 4));
  ws.n_counters = kCounters;
  return {};
}

void gemm_stream_free(GemmStreamWorkspace& ws) {
  cudaFree(ws.partials);
  cudaFree(ws.counters);
  ws = GemmStreamWorkspace{};
}

bool gemm_stream_supports(ActType act, const DeviceMatrix& w, const MatArgs& a) {
  if (a.in != MatIn::kPlain || a.n_rows < kGemmStreamMinRows || a.n_rows > kGemmStreamMaxRows) return false;
  if (a.out_mode != MatOut::kAct && a.out_mode != MatOut::kF32 && a.out_mode != MatOut::kF32Accumulate) return false;
  if (a.argmax != nullptr) return false;
  switch (w.kind) {
    case WKind::kBF16:
    case WKind::kQ8:
    case WKind::kQ4:
      if (act != ActType::kBF16) return false;
      break;
    case WKind::kF16:
      if (act != ActType::kF16) return false;
      break;
    default: return false;
  }
  const int64_t kt = is_quant(w.kind) ? k_tile(WKind::kQ8) : k_tile(WKind::kBF16);
  if (w.cols <= 0 || w.cols % kt != 0 || w.rows <= 0) return false;
  if (a.ldx % 8 != 0 || reinterpret_cast<uintptr_t>(a.x) % 16 != 0) return false;
  if (reinterpret_cast<uintptr_t>(w.data) % 16 != 0) return false;
  if (is_quant(w.kind) && reinterpret_cast<uintptr_t>(w.scales) % 8 != 0) return false;
  return true;
}

void launch_gemm_stream(const DeviceMatrix& w, const MatArgs& a, const GemmStreamWorkspace& ws, cudaStream_t s,
                        int32_t splits) {
  switch (w.kind) {
    case WKind::kBF16: launch_tiles<WKind::kBF16, __nv_bfloat16>(w, a, ws, s, splits); break;
    case WKind::kF16: launch_tiles<WKind::kF16, __half>(w, a, ws, s, splits); break;
    case WKind::kQ8: launch_tiles<WKind::kQ8, __nv_bfloat16>(w, a, ws, s, splits); break;
    case WKind::kQ4: launch_tiles<WKind::kQ4, __nv_bfloat16>(w, a, ws, s, splits); break;
    default: break;
  }
}

}  // namespace effitune::engine::cuda
