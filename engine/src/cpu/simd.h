// The few SIMD primitives the CPU kernels share, with the widest float vector this build targets
// (-march=native): AVX-512 (16 lanes), AVX2+FMA+F16C (8 lanes), or none (scalar code paths).
// EFFITUNE_SIMD_VF: float vectors VF of kVW lanes are available.
// EFFITUNE_SIMD_I8: 256-bit int8 dot products (AVX2, with VNNI's dpbusd when the CPU has it).
#pragma once

#include <cstdint>
#include <cstring>

#include "effitune/engine/dtype.h"

#if defined(__x86_64__)
// GCC 12 reports false "may be used uninitialized" inside its own AVX-512 intrinsics (GCC PR 105593).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#if !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>
#pragma GCC diagnostic pop
#endif

namespace effitune::engine::cpu {

inline float half_to_f32(uint16_t h) {
#if defined(__F16C__)
  return _cvtsh_ss(h);
#else
  return fp16_to_f32(h);
#endif
}

#if defined(__AVX512F__)
#define EFFITUNE_SIMD_VF 1
using VF = __m512;
constexpr int kVW = 16;
inline VF vf_zero() { return _mm512_setzero_ps(); }
inline VF vf_set1(float v) { return _mm512_set1_ps(v); }
inline VF vf_load_f32(const float* p) { return _mm512_loadu_ps(p); }
inline void vf_store(float* p, VF v) { _mm512_storeu_ps(p, v); }
inline VF vf_load_f16(const uint16_t* p) {
  return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}
inline VF vf_load_bf16(const uint16_t* p) {
  const __m512i w = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  return _mm512_castsi512_ps(_mm512_slli_epi32(w, 16));
}
inline VF vf_fma(VF a, VF b, VF c) { return _mm512_fmadd_ps(a, b, c); }
inline VF vf_mul(VF a, VF b) { return _mm512_mul_ps(a, b); }
inline VF vf_add(VF a, VF b) { return _mm512_add_ps(a, b); }
inline float vf_hsum(VF v) { return _mm512_reduce_add_ps(v); }
#elif defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#define EFFITUNE_SIMD_VF 1
using VF = __m256;
constexpr int kVW = 8;
inline VF vf_zero() { return _mm256_setzero_ps(); }
inline VF vf_set1(float v) { return _mm256_set1_ps(v); }
inline VF vf_load_f32(const float* p) { return _mm256_loadu_ps(p); }
inline void vf_store(float* p, VF v) { _mm256_storeu_ps(p, v); }
inline VF vf_load_f16(const uint16_t* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}
inline VF vf_load_bf16(const uint16_t* p) {
  const __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
}
inline VF vf_fma(VF a, VF b, VF c) { return _mm256_fmadd_ps(a, b, c); }
inline VF vf_mul(VF a, VF b) { return _mm256_mul_ps(a, b); }
inline VF vf_add(VF a, VF b) { return _mm256_add_ps(a, b); }
#else
#define EFFITUNE_SIMD_VF 0
#endif

#if defined(__AVX2__) && defined(__FMA__)
#define EFFITUNE_SIMD_I8 1
inline float hsum256(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
#if !defined(__AVX512F__)
inline float vf_hsum(__m256 v) { return hsum256(v); }
#endif
// Sum of u8 x s8 products in groups of four -> 8 int32 lanes. One dpbusd with VNNI; otherwise
// maddubs (pairs to int16, no saturation since |a| <= 128 and |b| <= 127) then madd to int32.
inline __m256i i8_dot_u8s8(__m256i a, __m256i b) {
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
  return _mm256_dpbusd_epi32(_mm256_setzero_si256(), a, b);
#elif defined(__AVXVNNI__)
  return _mm256_dpbusd_avx_epi32(_mm256_setzero_si256(), a, b);
#else
  return _mm256_madd_epi16(_mm256_maddubs_epi16(a, b), _mm256_set1_epi16(1));
#endif
}
// acc + the same dot products (acc lanes each added once). With VNNI the add is free inside dpbusd.
inline __m256i i8_dot_u8s8_acc(__m256i acc, __m256i a, __m256i b) {
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
  return _mm256_dpbusd_epi32(acc, a, b);
#elif defined(__AVXVNNI__)
  return _mm256_dpbusd_avx_epi32(acc, a, b);
#else
  return _mm256_add_epi32(acc, i8_dot_u8s8(a, b));
#endif
}
#else
#define EFFITUNE_SIMD_I8 0
#endif

// "AVX-512 VNNI" etc. for device_name().
inline const char* simd_description() {
#if defined(__AVX512F__) && defined(__AVX512VNNI__)
  return "AVX-512 VNNI";
#elif defined(__AVX512F__)
  return "AVX-512";
#elif defined(__AVX2__) && defined(__AVXVNNI__)
  return "AVX2 VNNI";
#elif defined(__AVX2__)
  return "AVX2";
#else
  return "scalar";
#endif
}

}  // namespace effitune::engine::cpu
