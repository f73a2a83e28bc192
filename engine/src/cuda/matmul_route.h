// Which kernel a matmul takes, as host arithmetic only (gemm.cu, gemm_stream.cu), so that CI pins
// the rules at the shapes they were measured on without a GPU. Each rule's numbers are in
// bench/README.md (session 16).
#pragma once

#include <algorithm>
#include <cstdint>

namespace effitune::engine::cuda {

// Activation rows up to which quantized weights take the GEMV when the streaming GEMM could take
// the product. Q4_0's 8-row GEMV (8 dp4a and 8 nibble operations per 32 weights and row, spills at
// its 64-register cap) lost to the GEMMs at 6 and 8 rows (H100: 8B batch 8 973 -> 1,053 tok/s, 1B
// 3,863 -> 4,913); Q8_0's won on 8B (1,090 against 1,006) and lost 6% on 1B.
inline int32_t quant_gemv_max_rows(bool q4) { return q4 ? 4 : 8; }

// Whether a quantized product that leaves the GEMV goes to dequantize + cuBLAS rather than the
// streaming GEMM: when it has fewer than max(8M, 256K x rows) weights. The streaming GEMM pays a
// fixed cost (split-K partials, their ordered sum) that small products do not amortize, and cuBLAS's
// share grows with the rows (H100, each product alone: 64 rows q4_0 TP=4 o 14.6 vs 23.3 us, 1B o
// 15.4 vs 26.0, but 8B qkv 48.1 vs 35.9; 128 rows 8B o 35.9 vs 52.6, but 1B gate|up 64.8 vs 41.9).
inline bool quant_prefers_cublas(int64_t weights, int32_t rows) {
  return weights < std::max<int64_t>(int64_t{8} << 20, int64_t{rows} << 18);
}

// Whether the streaming GEMM's 64-row variant runs its two-CTAs-an-SM build (128 registers instead
// of 156-191): for products of more `slab`-column slabs than SMs only, the one shape class it sped
// up alone (8B gate|up q4_0 at 64 rows 104.6 -> 92.5 us, bf16 148.9 -> 110.2; the narrower products
// lost, q8_0 qkv 38.0 -> 47.1).
inline bool stream_two_ctas(int64_t out_cols, int64_t slab, int64_t sms) { return (out_cols + slab - 1) / slab > sms; }

}  // namespace effitune::engine::cuda
