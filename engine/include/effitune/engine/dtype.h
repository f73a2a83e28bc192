// Weight element types and their block layouts, shared by the GGUF reader/writer and every backend.
// Block layouts are bit-identical to ggml's so that GGUF files from llama.cpp load in place.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string_view>

namespace effitune::engine {

// Values are the GGUF/ggml type ids, so a tensor's type field maps directly.
enum class DType : uint32_t {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ8_0 = 8,
  kQ4_K = 12,
  kBF16 = 30,
};

constexpr int kQK8_0 = 32;
constexpr int kQK4_0 = 32;
constexpr int kQK_K = 256;

// Q8_0: 32 weights = f16 scale d, then 32 int8 q; w = d * q.
struct BlockQ8_0 {
  uint16_t d;
  int8_t qs[kQK8_0];
};
static_assert(sizeof(BlockQ8_0) == 34);

// Q4_0: 32 weights = f16 scale d, then 16 bytes; low nibbles hold weights 0..15, high nibbles 16..31;
// w = d * (nibble - 8).
struct BlockQ4_0 {
  uint16_t d;
  uint8_t qs[kQK4_0 / 2];
};
static_assert(sizeof(BlockQ4_0) == 18);

// Q4_K: 256 weights in 8 sub-blocks of 32, 6-bit sub-scales and mins (ggml's block_q4_K).
struct BlockQ4_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[12];
  uint8_t qs[kQK_K / 2];
};
static_assert(sizeof(BlockQ4_K) == 144);

// Elements per block (1 for plain float types).
int64_t dtype_block_elems(DType t);
// Bytes per block.
int64_t dtype_block_bytes(DType t);
// "f32", "f16", "bf16", "q8_0", "q4_0", "q4_k".
std::string_view dtype_name(DType t);
// Parses the names above (case-insensitive); nullopt for anything else.
std::optional<DType> parse_dtype(std::string_view name);
// True for the GGUF type ids this engine supports.
bool dtype_supported(uint32_t ggml_type);
// Bytes of a row of `n` elements; n must be a multiple of the block size (checked by callers).
inline int64_t dtype_row_bytes(DType t, int64_t n) { return n / dtype_block_elems(t) * dtype_block_bytes(t); }

// IEEE half and bfloat16 conversions (round-to-nearest-even on the way down).
float fp16_to_f32(uint16_t h);
uint16_t f32_to_fp16(float f);
inline float bf16_to_f32(uint16_t h) {
  uint32_t u = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
uint16_t f32_to_bf16(float f);

// Dequantizes one row of `n` elements of type `t` from `src` into `dst` (f32).
void dequantize_row(DType t, const void* src, float* dst, int64_t n);
// Quantizes one row of `n` f32 values into type `t` (ggml's reference rounding). n % block == 0.
void quantize_row(DType t, const float* src, void* dst, int64_t n);

}  // namespace effitune::engine
