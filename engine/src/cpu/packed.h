// Weights (q8_0, q4_0, f16) repacked once at load into 16-row interleaved panels for AVX-512
// kernels (VNNI for the quantized types), after llama.cpp's repacked q4_0x8 layouts. In the row-major GGUF layout every
// 32-weight block of one row is a separate dot product that ends in a horizontal sum; interleaved,
// one 512-bit dpbusd multiplies 4 columns of 16 rows at once against 4 broadcast activation bytes,
// so the 16 lanes of the accumulator are 16 output rows: no horizontal sums, the 16 block scales are
// applied with one multiply, and the weight panel (decoded once) is reused by a tile of tokens.
// The values are exactly those of the stored blocks: results equal the row-major kernels' up to f32
// summation order.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <memory>

#include "effitune/engine/weights.h"
#include "matmul.h"

namespace effitune::engine::cpu {

// Rows per interleaved panel (one AVX-512 register of f32 / int32 lanes).
constexpr int64_t kPanelRows = 16;

class PackedMatrix {
 public:
  // True when this build has the packed kernels (AVX-512 F/BW/VNNI) and `w` can be packed:
  // f16, or q8_0 / q4_0 with cols % 32 == 0.
  static bool can_pack(const TensorView& w);
  // Bytes pack() writes for `w` (a multiple of 64).
  static int64_t packed_bytes(const TensorView& w);
  // Packs `w` (can_pack(w) must hold) into `dst` (packed_bytes(w) bytes, 64-byte aligned, outliving
  // the result), or into memory the result owns when `dst` is null. Rows beyond the last full panel
  // are padded with zero scales.
  static PackedMatrix pack(const TensorView& w, uint8_t* dst = nullptr);

  PackedMatrix() = default;
  DType type() const { return type_; }
  int64_t rows() const { return rows_; }
  int64_t cols() const { return cols_; }
  int64_t bytes() const { return panels() * panel_bytes_; }
  int64_t panels() const { return (rows_ + kPanelRows - 1) / kPanelRows; }

  // y[t * ldy + r] = dot(row r, activation row t) for r in [r0, r1), r0 a multiple of kPanelRows;
  // every token; single-threaded. Quantized types need a.q8, f16 reads a.x.
  void matmul_rows(int64_t r0, int64_t r1, const Activations& a, float* y, int64_t ldy) const;

 private:
  struct Free {
    void operator()(uint8_t* p) const { std::free(p); }
  };
  DType type_ = DType::kF32;
  int64_t rows_ = 0, cols_ = 0;
  int64_t panel_bytes_ = 0;
  const uint8_t* data_ = nullptr;
  std::unique_ptr<uint8_t[], Free> owned_;
};

}  // namespace effitune::engine::cpu
