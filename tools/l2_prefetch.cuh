// Pulls a weight matrix (or its first bytes) into L2 from a kernel of its own, for bench_gemm's
// prefetch=C columns: would a product that cannot keep enough loads in flight itself (cuBLAS on the
// narrow tensor-parallel shards at 64 rows reaches 1.0-1.1 TB/s) gain from finding its weights in
// L2? Session 15 measured no (bench/README.md): warm weights took the TP=4 shards only 11-18%
// faster, and a prefetch beside the product made it slower, so the engine does not use it.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace effitune::tools {

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

}  // namespace effitune::tools
