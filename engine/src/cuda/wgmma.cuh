// Hopper warpgroup MMA (wgmma) for the quantized weight-streaming GEMM: D[64, N] += A[64, 16] B[16, N]
// with A (weights dequantized to bf16) in registers, B (activations, bf16) in shared memory (K-major,
// 128-byte swizzle) and D in f32 registers. Needs sm_90a (the arch-specific feature set): code built
// for other targets gets EFFITUNE_HAS_WGMMA 0, these become no-ops, and the host must not choose them
// (wgmma_available()).
// A's registers per warp w of the warpgroup are mma.sync m16n8k16's: a[0] = rows 16w + g, columns 2t,
// 2t + 1; a[1] rows + 8; a[2] columns + 8; a[3] both (g = lane / 4, t = lane % 4). D repeats the
// m16n8 accumulator per 8-column block j: d[j][0..3] = (g, 8j + 2t), (g, 8j + 2t + 1), (g + 8, 8j +
// 2t), (g + 8, 8j + 2t + 1).
#pragma once

#include <cstdint>

#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define EFFITUNE_HAS_WGMMA 1
#else
#define EFFITUNE_HAS_WGMMA 0
#endif

namespace effitune::engine::cuda {

// Shared-memory matrix descriptor for a K-major tile whose rows are 128 bytes, swizzled in 1024-byte
// atoms of 8 rows (16-byte chunk c of row r at chunk c ^ (r % 8); atoms 1024-byte aligned): start
// address >> 4 in bits 0-13, stride between 8-row atoms (1024 >> 4) in bits 32-45, layout "128-byte
// swizzle" (1) in bits 62-63; the leading offset is unused for this layout. Stepping K by 16
// elements inside the 128-byte row moves the start address by 32 bytes (the swizzle is applied to
// the computed addresses, so the rows stay where the copies put them).
__device__ __forceinline__ uint64_t smem_desc_sw128(uint32_t smem_addr) {
  return (static_cast<uint64_t>((smem_addr & 0x3FFFF) >> 4)) | (static_cast<uint64_t>(1024 >> 4) << 32) |
         (uint64_t{1} << 62);
}

// Orders this thread's earlier register writes (A fragments, accumulators) before the wgmma reads.
__device__ __forceinline__ void wgmma_fence() {
#if EFFITUNE_HAS_WGMMA
  asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
#endif
}
__device__ __forceinline__ void wgmma_commit() {
#if EFFITUNE_HAS_WGMMA
  asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
#endif
}
__device__ __forceinline__ void wgmma_wait_all() {
#if EFFITUNE_HAS_WGMMA
  asm volatile("wgmma.wait_group.sync.aligned 0;\n" ::: "memory");
#endif
}
// Makes this thread's generic-proxy shared-memory writes (cp.async) visible to the async proxy that
// wgmma reads B through; a barrier after it covers every thread's writes.
__device__ __forceinline__ void fence_proxy_async_smem() {
#if EFFITUNE_HAS_WGMMA
  asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
#endif
}

// D[64, 8 * kJ] += A B for one k16 step, bf16 operands.
template <int kJ>
__device__ __forceinline__ void wgmma_rs_bf16(float (&d)[kJ][4], const uint32_t (&a)[4], uint64_t desc_b);


template <>
__device__ __forceinline__ void wgmma_rs_bf16<8>(float (&d)[8][4], const uint32_t (&a)[4], uint64_t desc_b) {
#if EFFITUNE_HAS_WGMMA
  asm volatile(
      "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 "
      "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, "
      "{%32, %33, %34, %35}, %36, 1, 1, 1, 0;\n"
      : "+f"(d[0][0]), "+f"(d[0][1]), "+f"(d[0][2]), "+f"(d[0][3]),
        "+f"(d[1][0]), "+f"(d[1][1]), "+f"(d[1][2]), "+f"(d[1][3]),
        "+f"(d[2][0]), "+f"(d[2][1]), "+f"(d[2][2]), "+f"(d[2][3]),
        "+f"(d[3][0]), "+f"(d[3][1]), "+f"(d[3][2]), "+f"(d[3][3]),
        "+f"(d[4][0]), "+f"(d[4][1]), "+f"(d[4][2]), "+f"(d[4][3]),
        "+f"(d[5][0]), "+f"(d[5][1]), "+f"(d[5][2]), "+f"(d[5][3]),
        "+f"(d[6][0]), "+f"(d[6][1]), "+f"(d[6][2]), "+f"(d[6][3]),
        "+f"(d[7][0]), "+f"(d[7][1]), "+f"(d[7][2]), "+f"(d[7][3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(desc_b));
#else
  (void)d, (void)a, (void)desc_b;
#endif
}

template <>
__device__ __forceinline__ void wgmma_rs_bf16<16>(float (&d)[16][4], const uint32_t (&a)[4], uint64_t desc_b) {
#if EFFITUNE_HAS_WGMMA
  asm volatile(
      "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 "
      "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, "
      "{%64, %65, %66, %67}, %68, 1, 1, 1, 0;\n"
      : "+f"(d[0][0]), "+f"(d[0][1]), "+f"(d[0][2]), "+f"(d[0][3]),
        "+f"(d[1][0]), "+f"(d[1][1]), "+f"(d[1][2]), "+f"(d[1][3]),
        "+f"(d[2][0]), "+f"(d[2][1]), "+f"(d[2][2]), "+f"(d[2][3]),
        "+f"(d[3][0]), "+f"(d[3][1]), "+f"(d[3][2]), "+f"(d[3][3]),
        "+f"(d[4][0]), "+f"(d[4][1]), "+f"(d[4][2]), "+f"(d[4][3]),
        "+f"(d[5][0]), "+f"(d[5][1]), "+f"(d[5][2]), "+f"(d[5][3]),
        "+f"(d[6][0]), "+f"(d[6][1]), "+f"(d[6][2]), "+f"(d[6][3]),
        "+f"(d[7][0]), "+f"(d[7][1]), "+f"(d[7][2]), "+f"(d[7][3]),
        "+f"(d[8][0]), "+f"(d[8][1]), "+f"(d[8][2]), "+f"(d[8][3]),
        "+f"(d[9][0]), "+f"(d[9][1]), "+f"(d[9][2]), "+f"(d[9][3]),
        "+f"(d[10][0]), "+f"(d[10][1]), "+f"(d[10][2]), "+f"(d[10][3]),
        "+f"(d[11][0]), "+f"(d[11][1]), "+f"(d[11][2]), "+f"(d[11][3]),
        "+f"(d[12][0]), "+f"(d[12][1]), "+f"(d[12][2]), "+f"(d[12][3]),
        "+f"(d[13][0]), "+f"(d[13][1]), "+f"(d[13][2]), "+f"(d[13][3]),
        "+f"(d[14][0]), "+f"(d[14][1]), "+f"(d[14][2]), "+f"(d[14][3]),
        "+f"(d[15][0]), "+f"(d[15][1]), "+f"(d[15][2]), "+f"(d[15][3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(desc_b));
#else
  (void)d, (void)a, (void)desc_b;
#endif
}

}  // namespace effitune::engine::cuda
