// Element types: half/bfloat16 conversions and ggml-compatible block (de)quantization.
// The quantizers follow ggml's *_ref functions step by step (including float32 arithmetic and
// ggml's Q4_0 truncation trick) so that files we write quantize exactly as llama.cpp would.
#include "effitune/engine/dtype.h"

#include <algorithm>
#include <cctype>
#include <cmath>

#include "effitune/common/check.h"

namespace effitune::engine {
namespace {

uint32_t f32_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

float bits_f32(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

void dequantize_q8_0(const BlockQ8_0* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const float d = fp16_to_f32(x[i].d);
    for (int j = 0; j < kQK8_0; ++j) y[i * kQK8_0 + j] = d * static_cast<float>(x[i].qs[j]);
  }
}

void dequantize_q4_0(const BlockQ4_0* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const float d = fp16_to_f32(x[i].d);
    for (int j = 0; j < kQK4_0 / 2; ++j) {
      y[i * kQK4_0 + j] = d * static_cast<float>((x[i].qs[j] & 0x0F) - 8);
      y[i * kQK4_0 + j + kQK4_0 / 2] = d * static_cast<float>((x[i].qs[j] >> 4) - 8);
    }
  }
}

// ggml's get_scale_min_k4: 8 six-bit scales and 8 six-bit mins packed into 12 bytes.
void get_scale_min_k4(int j, const uint8_t* q, uint8_t* d, uint8_t* m) {
  if (j < 4) {
    *d = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *d = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
    *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

void dequantize_q4_k(const BlockQ4_K* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const uint8_t* q = x[i].qs;
    const float d = fp16_to_f32(x[i].d);
    const float min = fp16_to_f32(x[i].dmin);
    int is = 0;
    for (int j = 0; j < kQK_K; j += 64) {
      uint8_t sc, m;
      get_scale_min_k4(is + 0, x[i].scales, &sc, &m);
      const float d1 = d * sc, m1 = min * m;
      get_scale_min_k4(is + 1, x[i].scales, &sc, &m);
      const float d2 = d * sc, m2 = min * m;
      for (int l = 0; l < 32; ++l) *y++ = d1 * static_cast<float>(q[l] & 0xF) - m1;
      for (int l = 0; l < 32; ++l) *y++ = d2 * static_cast<float>(q[l] >> 4) - m2;
      q += 32;
      is += 2;
    }
  }
}

// ggml quantize_row_q8_0_ref.
void quantize_q8_0(const float* x, BlockQ8_0* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    float amax = 0.0f;
    for (int j = 0; j < kQK8_0; ++j) amax = std::max(amax, std::fabs(x[i * kQK8_0 + j]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[i].d = f32_to_fp16(d);
    for (int j = 0; j < kQK8_0; ++j) {
      // Finite rows give ggml's values exactly; the clamp and the NaN case only keep non-finite
      // weights from reaching an undefined float->int cast.
      const float r = std::roundf(x[i * kQK8_0 + j] * id);
      y[i].qs[j] = std::isnan(r) ? 0 : static_cast<int8_t>(std::clamp(r, -127.0f, 127.0f));
    }
  }
}

// x*id lies in [-8, 8] for finite rows; +8.5 then truncation rounds half up and 16 clamps to 15,
// exactly as ggml's MIN(15, (int8_t)(x + 8.5f)). NaN (from non-finite rows) maps to level 8 (zero)
// instead of an undefined cast.
uint8_t q4_level(float x) {
  const float v = x + 8.5f;
  return std::isnan(v) ? 8 : static_cast<uint8_t>(std::clamp(v, 0.0f, 15.0f));
}

// ggml quantize_row_q4_0_ref: the signed extreme maps to -8 so the full 16-level range is used.
void quantize_q4_0(const float* x, BlockQ4_0* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const float* xb = x + i * kQK4_0;
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < kQK4_0; ++j) {
      if (amax < std::fabs(xb[j])) {
        amax = std::fabs(xb[j]);
        max = xb[j];
      }
    }
    const float d = max / -8.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[i].d = f32_to_fp16(d);
    for (int j = 0; j < kQK4_0 / 2; ++j) {
      const float x0 = xb[j] * id;
      const float x1 = xb[kQK4_0 / 2 + j] * id;
      const uint8_t xi0 = q4_level(x0), xi1 = q4_level(x1);
      y[i].qs[j] = static_cast<uint8_t>(xi0 | (xi1 << 4));
    }
  }
}

}  // namespace

int64_t dtype_block_elems(DType t) {
  switch (t) {
    case DType::kF32:
    case DType::kF16:
    case DType::kBF16: return 1;
    case DType::kQ8_0: return kQK8_0;
    case DType::kQ4_0: return kQK4_0;
    case DType::kQ4_K: return kQK_K;
  }
  EFFITUNE_CHECK(false, "dtype_block_elems: unknown dtype " + std::to_string(static_cast<uint32_t>(t)));
}

int64_t dtype_block_bytes(DType t) {
  switch (t) {
    case DType::kF32: return 4;
    case DType::kF16:
    case DType::kBF16: return 2;
    case DType::kQ8_0: return sizeof(BlockQ8_0);
    case DType::kQ4_0: return sizeof(BlockQ4_0);
    case DType::kQ4_K: return sizeof(BlockQ4_K);
  }
  EFFITUNE_CHECK(false, "dtype_block_bytes: unknown dtype " + std::to_string(static_cast<uint32_t>(t)));
}

std::string_view dtype_name(DType t) {
  switch (t) {
    case DType::kF32: return "f32";
    case DType::kF16: return "f16";
    case DType::kBF16: return "bf16";
    case DType::kQ8_0: return "q8_0";
    case DType::kQ4_0: return "q4_0";
    case DType::kQ4_K: return "q4_k";
  }
  return "unknown";
}

std::optional<DType> parse_dtype(std::string_view name) {
  std::string lower(name);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (DType t : {DType::kF32, DType::kF16, DType::kBF16, DType::kQ8_0, DType::kQ4_0, DType::kQ4_K}) {
    if (lower == dtype_name(t)) return t;
  }
  return std::nullopt;
}

bool dtype_supported(uint32_t ggml_type) {
  switch (static_cast<DType>(ggml_type)) {
    case DType::kF32:
    case DType::kF16:
    case DType::kBF16:
    case DType::kQ8_0:
    case DType::kQ4_0:
    case DType::kQ4_K: return true;
  }
  return false;
}

float fp16_to_f32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  const uint32_t exp = (h >> 10) & 0x1F;
  uint32_t mant = h & 0x3FF;
  if (exp == 0x1F) return bits_f32(sign | 0x7F800000 | (mant << 13));  // inf / nan (payload kept)
  if (exp != 0) return bits_f32(sign | ((exp + 112) << 23) | (mant << 13));
  if (mant == 0) return bits_f32(sign);
  // Subnormal: value = mant * 2^-24, exact in float.
  const float v = static_cast<float>(mant) * 0x1p-24f;
  return sign ? -v : v;
}

uint16_t f32_to_fp16(float f) {
  const uint32_t x = f32_bits(f);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000);
  const uint32_t ax = x & 0x7FFFFFFF;
  if (ax > 0x7F800000) return static_cast<uint16_t>(sign | 0x7E00 | ((ax >> 13) & 0x3FF));  // quiet nan
  // 65520 is halfway between 65504 (odd mantissa) and 2^16, so it and above round to inf.
  if (ax >= 0x477FF000) return static_cast<uint16_t>(sign | 0x7C00);
  if (ax >= 0x38800000) {  // normal half range (>= 2^-14)
    uint32_t h = (ax >> 13) - (112u << 10);
    const uint32_t rem = ax & 0x1FFF;
    if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) ++h;  // carry into the exponent is correct
    return static_cast<uint16_t>(sign | h);
  }
  if (ax <= 0x33000000) return sign;  // <= 2^-25 rounds to (even) zero
  const uint32_t e = ax >> 23;
  const uint32_t m = (ax & 0x7FFFFF) | 0x800000;
  const uint32_t shift = 126 - e;  // value = m * 2^(e-150) = k * 2^-24  =>  k = m >> (126 - e)
  uint32_t k = m >> shift;
  const uint32_t rem = m & ((1u << shift) - 1);
  const uint32_t half = 1u << (shift - 1);
  if (rem > half || (rem == half && (k & 1))) ++k;  // may become 0x400, the smallest normal: correct
  return static_cast<uint16_t>(sign | k);
}

uint16_t f32_to_bf16(float f) {
  const uint32_t x = f32_bits(f);
  if ((x & 0x7FFFFFFF) > 0x7F800000) return static_cast<uint16_t>((x >> 16) | 0x40);  // quiet nan
  return static_cast<uint16_t>((x + 0x7FFF + ((x >> 16) & 1)) >> 16);
}

void dequantize_row(DType t, const void* src, float* dst, int64_t n) {
  const int64_t nb = n / dtype_block_elems(t);
  EFFITUNE_CHECK(n % dtype_block_elems(t) == 0, "dequantize_row: n is not a multiple of the block size");
  switch (t) {
    case DType::kF32: std::memcpy(dst, src, static_cast<size_t>(n) * 4); return;
    case DType::kF16: {
      const auto* s = static_cast<const uint16_t*>(src);
      for (int64_t i = 0; i < n; ++i) dst[i] = fp16_to_f32(s[i]);
      return;
    }
    case DType::kBF16: {
      const auto* s = static_cast<const uint16_t*>(src);
      for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(s[i]);
      return;
    }
    case DType::kQ8_0: dequantize_q8_0(static_cast<const BlockQ8_0*>(src), dst, nb); return;
    case DType::kQ4_0: dequantize_q4_0(static_cast<const BlockQ4_0*>(src), dst, nb); return;
    case DType::kQ4_K: dequantize_q4_k(static_cast<const BlockQ4_K*>(src), dst, nb); return;
  }
  EFFITUNE_CHECK(false, "dequantize_row: unknown dtype");
}

void quantize_row(DType t, const float* src, void* dst, int64_t n) {
  EFFITUNE_CHECK(n % dtype_block_elems(t) == 0, "quantize_row: n is not a multiple of the block size");
  const int64_t nb = n / dtype_block_elems(t);
  switch (t) {
    case DType::kF32: std::memcpy(dst, src, static_cast<size_t>(n) * 4); return;
    case DType::kF16: {
      auto* d = static_cast<uint16_t*>(dst);
      for (int64_t i = 0; i < n; ++i) d[i] = f32_to_fp16(src[i]);
      return;
    }
    case DType::kBF16: {
      auto* d = static_cast<uint16_t*>(dst);
      for (int64_t i = 0; i < n; ++i) d[i] = f32_to_bf16(src[i]);
      return;
    }
    case DType::kQ8_0: quantize_q8_0(src, static_cast<BlockQ8_0*>(dst), nb); return;
    case DType::kQ4_0: quantize_q4_0(src, static_cast<BlockQ4_0*>(dst), nb); return;
    case DType::kQ4_K: break;
  }
  EFFITUNE_CHECK(false, "quantize_row: no quantizer for " + std::string(dtype_name(t)) +
                            " (callers must reject it; use q4_0 or q8_0)");
}

}  // namespace effitune::engine
