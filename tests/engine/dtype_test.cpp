// Element types against independent references: IEEE half/bfloat16 decoded with ldexp and rounded by
// nearest-candidate search in float64, and ggml's quantization formulas evaluated in float64.
#include "effitune/engine/dtype.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

namespace effitune::engine {
namespace {

uint32_t bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
float from_bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// IEEE 754 binary16 by definition.
double half_value(uint16_t h) {
  const int sign = (h >> 15) ? -1 : 1;
  const int e = (h >> 10) & 31;
  const int m = h & 1023;
  if (e == 31) return m ? std::numeric_limits<double>::quiet_NaN() : sign * std::numeric_limits<double>::infinity();
  if (e == 0) return sign * std::ldexp(m, -24);
  return sign * std::ldexp(1024 + m, e - 25);
}

// Nearest half by search over all finite positive halves (monotone in their bit pattern); ties go
// to the even pattern; at or above 65520 (halfway to 2^16) the result is infinity.
uint16_t reference_f32_to_fp16(float f) {
  const uint16_t sign = std::signbit(f) ? 0x8000 : 0;
  const double a = std::fabs(static_cast<double>(f));
  if (a >= 65520.0) return sign | 0x7C00;
  uint16_t lo = 0, hi = 0x7BFF;
  while (lo < hi) {  // largest pattern with value <= a
    const uint16_t mid = static_cast<uint16_t>((lo + hi + 1) / 2);
    if (half_value(mid) <= a) lo = mid; else hi = static_cast<uint16_t>(mid - 1);
  }
  const double below = half_value(lo), above = half_value(static_cast<uint16_t>(lo + 1));
  if (a == below) return sign | lo;
  if (a - below < above - a) return sign | lo;
  if (a - below > above - a) return sign | static_cast<uint16_t>(lo + 1);
  return sign | ((lo & 1) ? static_cast<uint16_t>(lo + 1) : lo);
}

uint16_t reference_f32_to_bf16(float f) {
  const uint32_t u = bits(f);
  const uint32_t lo = u & 0xFFFF0000u;
  const double x = std::fabs(static_cast<double>(f));
  const double below = std::fabs(static_cast<double>(from_bits(lo)));
  // The next magnitude; past the largest finite bf16 it is 2^128, the value rounding treats inf as.
  const bool to_inf = ((lo + 0x10000) & 0x7FFFFFFFu) == 0x7F800000u;
  const double above = to_inf ? std::ldexp(1.0, 128) : std::fabs(static_cast<double>(from_bits(lo + 0x10000)));
  if (x - below < above - x) return static_cast<uint16_t>(lo >> 16);
  if (x - below > above - x) return static_cast<uint16_t>((lo + 0x10000) >> 16);
  return static_cast<uint16_t>(((lo >> 16) & 1) ? (lo + 0x10000) >> 16 : lo >> 16);
}

std::vector<float> interesting_floats() {
  std::vector<float> v = {0.0f, -0.0f, 1.0f, -1.0f, 65504.0f, 65519.996f, 65520.0f, 65536.0f, 1e30f,
                          0x1p-14f, 0x1p-24f, 0x1p-25f, 0x1.8p-25f, 0x1.0p-26f, 0x1.8p-24f, 0x1.4p-24f,
                          0x1.002p0f, 0x1.001p0f, 0x1.003p0f, 0x1.ffep-15f, 0x1.ffcp-15f, 0x1.ffdp-15f,
                          std::numeric_limits<float>::denorm_min(), std::numeric_limits<float>::max()};
  std::mt19937 rng(1234);
  std::uniform_int_distribution<uint32_t> any;
  for (int i = 0; i < 200000; ++i) {
    float f = from_bits(any(rng));
    if (!std::isnan(f)) v.push_back(f);
  }
  // Concentrate on the half range and its subnormals, where rounding decisions happen.
  std::uniform_real_distribution<float> expo(-26.0f, 17.0f);
  for (int i = 0; i < 200000; ++i) v.push_back((i & 1 ? -1.0f : 1.0f) * std::exp2(expo(rng)));
  return v;
}

TEST(Fp16, DecodesEveryHalfByTheIeeeDefinition) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const double want = half_value(static_cast<uint16_t>(h));
    const float got = fp16_to_f32(static_cast<uint16_t>(h));
    if (std::isnan(want)) {
      EXPECT_TRUE(std::isnan(got)) << h;
    } else {
      ASSERT_EQ(static_cast<double>(got), want) << "half 0x" << std::hex << h;
      ASSERT_EQ(std::signbit(got), (h & 0x8000) != 0) << h;
    }
  }
}

TEST(Fp16, EveryHalfRoundTripsExactly) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = fp16_to_f32(static_cast<uint16_t>(h));
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(fp16_to_f32(f32_to_fp16(f)))) << h;  // nan stays nan
    } else {
      ASSERT_EQ(f32_to_fp16(f), h) << "half 0x" << std::hex << h;
    }
  }
}

TEST(Fp16, RoundsToNearestEvenLikeTheReference) {
  for (float f : interesting_floats()) {
    ASSERT_EQ(f32_to_fp16(f), reference_f32_to_fp16(f)) << "f = " << f << " (0x" << std::hex << bits(f) << ")";
  }
  EXPECT_EQ(f32_to_fp16(std::numeric_limits<float>::infinity()), 0x7C00);
  EXPECT_EQ(f32_to_fp16(-std::numeric_limits<float>::infinity()), 0xFC00);
  EXPECT_TRUE(std::isnan(fp16_to_f32(f32_to_fp16(std::numeric_limits<float>::quiet_NaN()))));
  EXPECT_EQ(f32_to_fp16(65519.0f), 0x7BFF);  // below the halfway point to 2^16
  EXPECT_EQ(f32_to_fp16(65520.0f), 0x7C00);  // halfway, odd mantissa: rounds up to inf
  EXPECT_EQ(f32_to_fp16(0x1p-25f), 0x0000);  // halfway to the smallest subnormal: even is zero
  EXPECT_EQ(f32_to_fp16(0x1.8p-24f), 0x0002);  // 1.5 ulp: ties to even (2)
}

TEST(Bf16, RoundTripAndRoundingMatchReference) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = bf16_to_f32(static_cast<uint16_t>(h));
    EXPECT_EQ(bits(f), h << 16);
    if (!std::isnan(f)) ASSERT_EQ(f32_to_bf16(f), h) << h;
    else EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(f))));
  }
  for (float f : interesting_floats()) {
    ASSERT_EQ(f32_to_bf16(f), reference_f32_to_bf16(f)) << "f = " << f << " (0x" << std::hex << bits(f) << ")";
  }
  EXPECT_EQ(f32_to_bf16(from_bits(0x3F808000)), 0x3F80);  // tie, even stays
  EXPECT_EQ(f32_to_bf16(from_bits(0x3F818000)), 0x3F82);  // tie, odd rounds up
  EXPECT_EQ(f32_to_bf16(from_bits(0x7F7FFFFF)), 0x7F80);  // max float rounds to inf
}

TEST(DType, NamesSizesAndParsing) {
  EXPECT_EQ(dtype_block_elems(DType::kQ4_K), 256);
  EXPECT_EQ(dtype_block_bytes(DType::kQ4_K), 144);
  EXPECT_EQ(dtype_block_bytes(DType::kQ8_0), 34);
  EXPECT_EQ(dtype_block_bytes(DType::kQ4_0), 18);
  EXPECT_EQ(dtype_row_bytes(DType::kF16, 10), 20);
  EXPECT_EQ(dtype_row_bytes(DType::kQ4_0, 64), 36);
  for (DType t : {DType::kF32, DType::kF16, DType::kBF16, DType::kQ8_0, DType::kQ4_0, DType::kQ4_K}) {
    EXPECT_EQ(parse_dtype(dtype_name(t)), t);
    EXPECT_TRUE(dtype_supported(static_cast<uint32_t>(t)));
  }
  EXPECT_EQ(parse_dtype("Q8_0"), DType::kQ8_0);
  EXPECT_EQ(parse_dtype("Q4_K"), DType::kQ4_K);
  EXPECT_FALSE(parse_dtype("q5_k").has_value());
  EXPECT_FALSE(dtype_supported(14));  // q6_K
  EXPECT_FALSE(dtype_supported(1000));
}

std::vector<float> random_row(int n, uint32_t seed, float scale) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = nd(rng);
  return v;
}

TEST(Q8_0, MatchesFloat64ReferenceWithinStatedBounds) {
  const int n = 32 * 64;
  for (uint32_t seed = 0; seed < 8; ++seed) {
    auto x = random_row(n, seed, seed % 2 ? 0.02f : 3.0f);
    x[5] = 0.0f;
    std::fill(x.begin() + 64, x.begin() + 96, 0.0f);  // an all-zero block
    std::vector<BlockQ8_0> q(n / 32);
    quantize_row(DType::kQ8_0, x.data(), q.data(), n);
    std::vector<float> y(n);
    dequantize_row(DType::kQ8_0, q.data(), y.data(), n);
    for (int b = 0; b < n / 32; ++b) {
      double amax = 0;
      for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(static_cast<double>(x[b * 32 + j])));
      const double d = amax / 127.0;
      EXPECT_EQ(q[b].d, reference_f32_to_fp16(static_cast<float>(d))) << "block " << b;
      const double d16 = half_value(q[b].d);
      for (int j = 0; j < 32; ++j) {
        const double xv = x[b * 32 + j];
        const double r = d > 0 ? xv / d : 0.0;
        const double want = std::round(r);
        // ggml computes x * (1/d) in float: within 1e-5 of a .5 tie it may round either way.
        if (std::fabs(std::fabs(r - std::trunc(r)) - 0.5) > 1e-5) {
          EXPECT_EQ(q[b].qs[j], static_cast<int>(want)) << "block " << b << " elem " << j;
        } else {
          EXPECT_LE(std::fabs(q[b].qs[j] - r), 0.5 + 1e-5);
        }
        EXPECT_EQ(y[b * 32 + j], static_cast<float>(d16 * q[b].qs[j]));
        // |x - d16 q| <= d/2 (rounding) + |d - d16| * 127, and fp16 keeps |d - d16| <= d * 2^-11.
        EXPECT_LE(std::fabs(xv - y[b * 32 + j]), d * (0.5 + 1e-5) + d * 127.0 * std::ldexp(1.0, -11) + 1e-30);
      }
    }
  }
}

TEST(Q4_0, MatchesFloat64ReferenceWithinStatedBounds) {
  const int n = 32 * 64;
  for (uint32_t seed = 0; seed < 8; ++seed) {
    auto x = random_row(n, 100 + seed, seed % 2 ? 0.02f : 3.0f);
    std::fill(x.begin(), x.begin() + 32, 0.0f);
    std::vector<BlockQ4_0> q(n / 32);
    quantize_row(DType::kQ4_0, x.data(), q.data(), n);
    std::vector<float> y(n);
    dequantize_row(DType::kQ4_0, q.data(), y.data(), n);
    for (int b = 0; b < n / 32; ++b) {
      double amax = 0, max = 0;
      for (int j = 0; j < 32; ++j) {
        const double v = x[b * 32 + j];
        if (std::fabs(v) > amax) {
          amax = std::fabs(v);
          max = v;
        }
      }
      const double d = max / -8.0;  // the signed extreme maps to level 0 (value -8)
      EXPECT_EQ(q[b].d, reference_f32_to_fp16(static_cast<float>(d))) << "block " << b;
      const double d16 = half_value(q[b].d);
      for (int j = 0; j < 32; ++j) {
        const double xv = x[b * 32 + j];
        const int nib = j < 16 ? (q[b].qs[j] & 15) : (q[b].qs[j - 16] >> 4);
        const double r = d != 0 ? xv / d + 8.0 : 8.0;
        const double want = std::min(15.0, std::floor(r + 0.5));  // round half up, clamp at 15
        if (std::fabs(std::fabs(r - std::trunc(r)) - 0.5) > 1e-5) {
          EXPECT_EQ(nib, static_cast<int>(want)) << "block " << b << " elem " << j;
        } else {
          EXPECT_LE(std::fabs(nib - want), 1.0);
        }
        EXPECT_EQ(y[b * 32 + j], static_cast<float>(d16 * (nib - 8)));
        // Rounding error |d|/2, except values above level 7.5 that clamp to 15 (error < |d|), plus
        // the fp16 error of d times the level (<= 8).
        const double bound = (r > 15.5 - 1e-5 ? 1.0 : 0.5 + 1e-5) * std::fabs(d) + std::fabs(d) * 8.0 * std::ldexp(1.0, -11);
        EXPECT_LE(std::fabs(xv - y[b * 32 + j]), bound + 1e-30) << "block " << b << " elem " << j;
      }
    }
  }
}

TEST(Q4_0, DequantizesThePublishedLayout) {
  BlockQ4_0 blk{};
  blk.d = f32_to_fp16(0.5f);
  for (int j = 0; j < 16; ++j) blk.qs[j] = static_cast<uint8_t>(j | ((15 - j) << 4));
  float y[32];
  dequantize_row(DType::kQ4_0, &blk, y, 32);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(y[j], 0.5f * (j - 8));        // low nibbles: elements 0..15
    EXPECT_EQ(y[16 + j], 0.5f * (7 - j));   // high nibbles: elements 16..31
  }
}

// Packs 8 six-bit scales and mins the way ggml's quantize_row_q4_K_ref stores them.
void pack_scales(const int* sc, const int* mn, uint8_t* s) {
  std::memset(s, 0, 12);
  for (int j = 0; j < 8; ++j) {
    if (j < 4) {
      s[j] = static_cast<uint8_t>(sc[j]);
      s[j + 4] = static_cast<uint8_t>(mn[j]);
    } else {
      s[j + 4] = static_cast<uint8_t>((sc[j] & 0xF) | ((mn[j] & 0xF) << 4));
      s[j - 4] |= static_cast<uint8_t>((sc[j] >> 4) << 6);
      s[j] |= static_cast<uint8_t>((mn[j] >> 4) << 6);
    }
  }
}

TEST(Q4_K, DequantizesPackedScalesMinsAndNibbles) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> six(0, 63), nib(0, 15);
  std::vector<BlockQ4_K> blocks(3);
  std::vector<double> want(3 * 256);
  for (int b = 0; b < 3; ++b) {
    int sc[8], mn[8];
    for (int j = 0; j < 8; ++j) {
      sc[j] = six(rng);
      mn[j] = six(rng);
    }
    sc[7] = 63;
    mn[4] = 63;
    pack_scales(sc, mn, blocks[b].scales);
    const float d = 0.01f * (b + 1), dmin = 0.003f * (b + 1);
    blocks[b].d = f32_to_fp16(d);
    blocks[b].dmin = f32_to_fp16(dmin);
    const double dd = half_value(blocks[b].d), dm = half_value(blocks[b].dmin);
    // Sub-block j (32 weights): j even uses low nibbles of qs[32*(j/2) + l], j odd the high nibbles.
    for (int j = 0; j < 8; ++j) {
      for (int l = 0; l < 32; ++l) {
        const int q = nib(rng);
        uint8_t& byte = blocks[b].qs[32 * (j / 2) + l];
        byte = static_cast<uint8_t>(j % 2 ? (byte & 0x0F) | (q << 4) : (byte & 0xF0) | q);
        want[b * 256 + j * 32 + l] = dd * sc[j] * q - dm * mn[j];
      }
    }
  }
  std::vector<float> y(3 * 256);
  dequantize_row(DType::kQ4_K, blocks.data(), y.data(), 3 * 256);
  for (int i = 0; i < 3 * 256; ++i) {
    // float32 products of exact fp16 values: relative error a few ulp of the largest term.
    EXPECT_NEAR(y[i], want[i], 1e-6) << i;
  }
}

TEST(Quantize, NonFiniteInputsStayInRangeAndLeaveOtherBlocksAlone) {
  auto x = random_row(96, 9, 1.0f);
  x[3] = std::numeric_limits<float>::quiet_NaN();
  x[40] = std::numeric_limits<float>::infinity();
  std::vector<BlockQ8_0> q8(3), q8_ref(1);
  std::vector<BlockQ4_0> q4(3), q4_ref(1);
  quantize_row(DType::kQ8_0, x.data(), q8.data(), 96);
  quantize_row(DType::kQ4_0, x.data(), q4.data(), 96);
  quantize_row(DType::kQ8_0, x.data() + 64, q8_ref.data(), 32);
  quantize_row(DType::kQ4_0, x.data() + 64, q4_ref.data(), 32);
  EXPECT_EQ(std::memcmp(&q8[2], &q8_ref[0], sizeof(BlockQ8_0)), 0);  // blocks are independent
  EXPECT_EQ(std::memcmp(&q4[2], &q4_ref[0], sizeof(BlockQ4_0)), 0);
  for (int j = 0; j < 32; ++j) {
    EXPECT_GE(q8[0].qs[j], -127);
    EXPECT_LE(q4[1].qs[j / 2] & 15, 15);
  }
}

TEST(Quantize, PlainFloatTypesRoundTrip) {
  auto x = random_row(64, 3, 1.0f);
  std::vector<uint16_t> h(64), bf(64);
  std::vector<float> y(64), f(64);
  quantize_row(DType::kF16, x.data(), h.data(), 64);
  dequantize_row(DType::kF16, h.data(), y.data(), 64);
  quantize_row(DType::kF32, x.data(), f.data(), 64);
  for (int i = 0; i < 64; ++i) {
    EXPECT_EQ(h[i], reference_f32_to_fp16(x[i]));
    EXPECT_EQ(y[i], static_cast<float>(half_value(h[i])));
    EXPECT_EQ(f[i], x[i]);
  }
  quantize_row(DType::kBF16, x.data(), bf.data(), 64);
  dequantize_row(DType::kBF16, bf.data(), y.data(), 64);
  for (int i = 0; i < 64; ++i) EXPECT_LE(std::fabs(y[i] - x[i]), std::fabs(x[i]) * std::ldexp(1.0, -8));
}

}  // namespace
}  // namespace effitune::engine
