// Device-side views shared by the op families: activation types and weight matrices as uploaded.
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace effitune::engine::cuda {

// Activations (and the KV cache) use one float type per model: f32 for an all-f32 model, f16 for
// an all-f16 one, else bf16. The residual stream is always f32.
enum class ActType { kF32, kF16, kBF16 };

inline int act_bytes(ActType t) { return t == ActType::kF32 ? 4 : 2; }

enum class WKind { kF32, kF16, kBF16, kQ8, kQ4 };

// A row-major [rows, cols] weight on the device. Float kinds: `data` holds the elements.
// Quantized kinds are repacked at upload so that every row starts 16-byte aligned: `data` holds
// the quants (Q8: one int8 per weight; Q4: ggml's 16-byte nibble blocks, low nibbles = weights
// 0..15 of the block, high = 16..31) and `scales` one f16 per 32 weights, row-major [rows, cols/32].
struct DeviceMatrix {
  WKind kind = WKind::kF32;
  void* data = nullptr;
  __half* scales = nullptr;
  int64_t rows = 0;
  int64_t cols = 0;

  __host__ __device__ int64_t data_row_bytes() const {
    switch (kind) {
      case WKind::kF32: return cols * 4;
      case WKind::kF16:
      case WKind::kBF16: return cols * 2;
      case WKind::kQ8: return cols;
      case WKind::kQ4: return cols / 2;
    }
    return 0;
  }
  __host__ __device__ int64_t bytes() const {
    const bool quant = kind == WKind::kQ8 || kind == WKind::kQ4;
    return data_row_bytes() * rows + (quant ? rows * (cols / 32) * 2 : 0);
  }
};

}  // namespace effitune::engine::cuda
