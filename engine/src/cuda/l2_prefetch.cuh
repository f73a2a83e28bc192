// Pulls a weight matrix (or its first bytes) into L2 from a kernel of its own, so that a product
// that cannot keep enough loads in flight itself (cuBLAS on the narrow tensor-parallel shards at
// 64 rows reaches 1.0-1.1 TB/s, bench/README.md session 6) finds its weights there.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace effitune::engine::cuda {

struct L2Prefetch {
  const void* data = nullptr;  // first byte of the matrix
  int64_t rows = 0;            // weight rows (output columns of the product)
  int64_t row_bytes = 0;       // bytes of one row
  int64_t bytes = 0;           // how many bytes to pull, in the order below (<= rows * row_bytes)
  // true: 128-byte lines column-chunk by column-chunk across all rows (the order in which a GEMM
  // whose CTAs each own some rows walks the matrix); false: front to back.
  bool k_major = true;
  // true: real loads (the lines are in L2 when the kernel ends; for measurements); false:
  // prefetch.global.L2 hints (no registers held, nothing waited for).
  bool touch = false;
};

// One kernel of `ctas` CTAs of 256 threads on `s` (no programmatic dependent launch: it is meant for
// a stream of its own, beside the product). Nothing happens when bytes <= 0.
void launch_l2_prefetch(const L2Prefetch& p, int ctas, cudaStream_t s);

}  // namespace effitune::engine::cuda
