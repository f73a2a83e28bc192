// Pieces shared by the attention kernels (attention.cu) and the tensor-core decode kernel
// (attention_decode_mma.cu): paged K/V addressing and the mma.sync / ldmatrix fragments.
#pragma once

#include <cuda_runtime.h>

#include <cfloat>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "attention.cuh"
#include "common.cuh"

namespace effitune::engine::cuda::attn_detail {

// Element offset of position p's row for KV head kvh (head_dim hd) in a K or V layer of the paged
// cache, through the sequence's block table bt.
// A power-of-two block size (the engine's 16) takes a shift and a mask: a division by a run-time
// value is ~20 instructions, and the decode kernel is latency-bound on its instruction chain.
__device__ __forceinline__ int64_t kv_row(const AttnArgs& a, const int32_t* bt, int p, int64_t kv_dim, int kvh, int hd) {
  const int bs = a.block_size;
  const bool pow2 = (bs & (bs - 1)) == 0;
  const int blk = pow2 ? p >> (__ffs(bs) - 1) : p / bs, off = pow2 ? p & (bs - 1) : p % bs;
  return (static_cast<int64_t>(bt[blk]) * bs + off) * kv_dim + static_cast<int64_t>(kvh) * hd;
}

template <typename T>
__device__ __forceinline__ void mma_16816(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  if constexpr (std::is_same_v<T, __nv_bfloat16>) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  } else {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  }
}

template <typename T>
__device__ __forceinline__ uint32_t ld32(const T* p) {
  return *reinterpret_cast<const uint32_t*>(p);
}

// The m16n8k16 A fragments of a thread's two rows of a 16-row tile along HD: rows[0] is its row
// lane / 4, rows[1] that row + 8 (tq = lane % 4), for every k16 step.
template <typename T, int HD>
__device__ __forceinline__ void load_a_fragments(uint32_t (&f)[HD / 16][4], const T* const (&rows)[2], int tq) {
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int kk = 0; kk < HD / 16; ++kk) {
      f[kk][i] = ld32(rows[i] + kk * 16 + tq * 2);
      f[kk][2 + i] = ld32(rows[i] + kk * 16 + 8 + tq * 2);
    }
}

// Four 8x8 b16 matrices from shared memory; lane l gives the row address of matrix l / 8, row l % 8.
// .trans hands each thread a column pair instead of a row pair (V as the B operand of P V).
__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], const void* smem_row) {
  const unsigned addr = static_cast<unsigned>(__cvta_generic_to_shared(smem_row));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t (&r)[4], const void* smem_row) {
  const unsigned addr = static_cast<unsigned>(__cvta_generic_to_shared(smem_row));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}

// O += P V over 16 positions, on tensor cores: P as the A fragment `pa` (rounded to T, as
// FlashAttention does), V row-major in shared memory (`v16`: its 16 rows, `row_stride` elements apart)
// through ldmatrix .trans. Matrix l / 8 of the x4 is (positions 8 ((l / 8) % 2) .., dims 16 dp +
// 8 (l / 16) ..), i.e. b0, b1 of dims 16 dp .. 16 dp + 7, then of 16 dp + 8 .. 16 dp + 15.
template <typename T, int HD>
__device__ __forceinline__ void mma_pv16(float (&o)[HD / 8][4], const uint32_t (&pa)[4], const T* v16, int row_stride,
                                         int lane) {
  const T* vrow = v16 + (((lane / 8) % 2) * 8 + lane % 8) * row_stride + (lane / 16) * 8;
#pragma unroll
  for (int dp = 0; dp < HD / 16; ++dp) {
    uint32_t b[4];
    ldmatrix_x4_trans(b, vrow + dp * 16);
    mma_16816<T>(o[2 * dp], pa, b[0], b[1]);
    mma_16816<T>(o[2 * dp + 1], pa, b[2], b[3]);
  }
}

// A decode split past its sequence's length (step s, KV head kvh): its (max, sum) for each of the
// group's query heads say "no positions", which the merge skips.
__device__ __forceinline__ void mark_empty_split(const AttnArgs& a, float* pml, int s, int kvh, int32_t n_splits,
                                                 int split) {
  const int G = a.n_heads / a.n_kv_heads, g = threadIdx.x;
  if (g >= G) return;
  float* ml = pml + ((static_cast<int64_t>(s) * a.n_heads + kvh * G + g) * n_splits + split) * 2;
  ml[0] = -FLT_MAX;
  ml[1] = 0.0f;
}

// The tensor-core decode kernel for 16-bit activations, head_dim 64 or 128 and up to 16 query heads
// per KV head, on grid (KV heads, steps, splits) with the decode kernel's outputs (attention.cu).
// `wide` (splits of up to kWideChunk positions): the 8-warp variant, two 16-position tiles a warp,
// all of them copied before the wait on the previous kernel.
template <typename T, int HD>
void launch_decode_mma(const AttnArgs& a, const int32_t* seq_len, dim3 grid, int32_t n_splits, float* po, float* pml,
                       bool wide, cudaStream_t s);
// How many of its CTAs (for splits of `chunk` positions; `wide`: the wide variant) an SM holds at
// once (its registers and shared memory; measured once); 0 where one does not fit.
template <typename T, int HD>
int decode_mma_ctas_per_sm(int32_t chunk, bool wide = false);

}  // namespace effitune::engine::cuda::attn_detail
