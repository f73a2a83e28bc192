#include "cpu/matmul.h"

#include <algorithm>
#include <cmath>

#include "cpu/ops.h"
#include "cpu/packed.h"
#include "cpu/simd.h"

namespace effitune::engine::cpu {
namespace {

// Register tiles: 4 weight rows x up to N tokens of accumulators. The weight rows of a tile stay in
// L1 while every token passes over them (prefill), and decode (1 token) still gets 4 independent
// streams of loads in flight. Float tiles use 4 x 6 (24 of the 32 AVX-512 registers, 10 loads per
// 24 FMAs); int8 tiles 4 x 4.
constexpr int kRowTile = 4;
#ifndef EFFITUNE_FLOAT_TOK_TILE
#define EFFITUNE_FLOAT_TOK_TILE 6
#endif
#ifndef EFFITUNE_QUANT_TOK_TILE
#define EFFITUNE_QUANT_TOK_TILE 4
#endif
constexpr int kFloatTokTile = EFFITUNE_FLOAT_TOK_TILE;
// Software prefetch distance along each weight row. Decode rows are short (816 B for a 768-wide
// q8_0 row), too short for the hardware stream prefetcher to ramp up before the tile moves on.
// Measured single-core DRAM streaming of a 32000 x 768 matrix on an idle Xeon (the GPU host): f16
// 5.8 -> 9.5 GB/s, q8_0 5.6 -> 9.9 GB/s with 2048 bytes (1024: about half the gain).
#ifndef EFFITUNE_PREFETCH_BYTES
#define EFFITUNE_PREFETCH_BYTES 2048
#endif
constexpr int kPrefetchBytes = EFFITUNE_PREFETCH_BYTES;

inline void prefetch(const void* p) {
#if defined(__x86_64__)
  _mm_prefetch(static_cast<const char*>(p) + kPrefetchBytes, _MM_HINT_T0);
#else
  __builtin_prefetch(static_cast<const char*>(p) + kPrefetchBytes);
#endif
}
constexpr int kQuantTokTile = EFFITUNE_QUANT_TOK_TILE;

// Calls f.template operator()<NT>(t) over [0, n) in tiles of N tokens, then one smaller tile for
// the remainder, so every tile size is a compile-time constant.
template <int N, typename F>
inline void token_remainder(int64_t rem, int64_t t, F& f) {
  if (rem == N) {
    f.template operator()<N>(t);
  } else if constexpr (N > 1) {
    token_remainder<N - 1>(rem, t, f);
  }
}
template <int N, typename F>
inline void token_tiles(int64_t n, F&& f) {
  int64_t t = 0;
  for (; t + N <= n; t += N) f.template operator()<N>(t);
  if constexpr (N > 1) {
    if (n > t) token_remainder<N - 1>(n - t, t, f);
  }
}

// ---- float weights (f32, f16, bf16): f32 FMA, elements converted on load ----

template <DType T>
struct FloatElem;
template <>
struct FloatElem<DType::kF32> {
  using E = float;
  static float scalar(const E* p) { return *p; }
#if EFFITUNE_SIMD_VF
  static VF load(const E* p) { return vf_load_f32(p); }
#endif
};
template <>
struct FloatElem<DType::kF16> {
  using E = uint16_t;
  static float scalar(const E* p) { return half_to_f32(*p); }
#if EFFITUNE_SIMD_VF
  static VF load(const E* p) { return vf_load_f16(p); }
#endif
};
template <>
struct FloatElem<DType::kBF16> {
  using E = uint16_t;
  static float scalar(const E* p) { return bf16_to_f32(*p); }
#if EFFITUNE_SIMD_VF
  static VF load(const E* p) { return vf_load_bf16(p); }
#endif
};

template <DType T, int NR, int NT>
inline void dot_tile_float(const typename FloatElem<T>::E* const* w, const float* const* x, int64_t cols,
                           float (&out)[NR][NT]) {
  using L = FloatElem<T>;
  int64_t k = 0;
#if EFFITUNE_SIMD_VF
  VF acc[NR][NT];
  for (int r = 0; r < NR; ++r)
    for (int t = 0; t < NT; ++t) acc[r][t] = vf_zero();
  for (; k + kVW <= cols; k += kVW) {
    VF xv[NT];
    for (int t = 0; t < NT; ++t) xv[t] = vf_load_f32(x[t] + k);
    for (int r = 0; r < NR; ++r) {
      if constexpr (NT <= 2 && kPrefetchBytes > 0) prefetch(w[r] + k);
      const VF wv = L::load(w[r] + k);
      for (int t = 0; t < NT; ++t) acc[r][t] = vf_fma(wv, xv[t], acc[r][t]);
    }
  }
  for (int r = 0; r < NR; ++r)
    for (int t = 0; t < NT; ++t) out[r][t] = vf_hsum(acc[r][t]);
#else
  for (int r = 0; r < NR; ++r)
    for (int t = 0; t < NT; ++t) out[r][t] = 0.0f;
#endif
  for (; k < cols; ++k)
    for (int r = 0; r < NR; ++r) {
      const float wk = L::scalar(w[r] + k);
      for (int t = 0; t < NT; ++t) out[r][t] += wk * x[t][k];
    }
}

template <DType T, int NR>
void rows_float(const TensorView& w, int64_t r, const Activations& a, float* y, int64_t ldy) {
  using E = typename FloatElem<T>::E;
  const E* wr[NR];
  for (int i = 0; i < NR; ++i) wr[i] = reinterpret_cast<const E*>(w.row(r + i));
  token_tiles<kFloatTokTile>(a.n_tokens, [&]<int NT>(int64_t t) {
    const float* xs[NT];
    for (int j = 0; j < NT; ++j) xs[j] = a.x + (t + j) * a.cols;
    float out[NR][NT];
    dot_tile_float<T, NR, NT>(wr, xs, a.cols, out);
    for (int i = 0; i < NR; ++i)
      for (int j = 0; j < NT; ++j) y[(t + j) * ldy + r + i] = out[i][j];
  });
}

template <DType T>
void gemm_float(const TensorView& w, int64_t r0, int64_t r1, const Activations& a, float* y, int64_t ldy) {
  int64_t r = r0;
  for (; r + kRowTile <= r1; r += kRowTile) rows_float<T, kRowTile>(w, r, a, y, ldy);
  for (; r < r1; ++r) rows_float<T, 1>(w, r, a, y, ldy);
}

// ---- 8-bit blocks (q8_0, q4_0) x q8 activations: int8 dot products per 32-element block ----

template <DType T>
struct QuantBlock;
template <>
struct QuantBlock<DType::kQ8_0> {
  using B = BlockQ8_0;
  static void to_i8(const B& b, int8_t* q) { std::memcpy(q, b.qs, 32); }
#if EFFITUNE_SIMD_I8
  static __m256i load(const B& b) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qs)); }
#endif
};
template <>
struct QuantBlock<DType::kQ4_0> {
  using B = BlockQ4_0;
  static void to_i8(const B& b, int8_t* q) {
    for (int i = 0; i < 16; ++i) {
      q[i] = static_cast<int8_t>((b.qs[i] & 0x0F) - 8);
      q[i + 16] = static_cast<int8_t>((b.qs[i] >> 4) - 8);
    }
  }
#if EFFITUNE_SIMD_I8
  // The 32 unsigned nibbles (0..15) in weight order: the 16 bytes in both lanes, the upper lane
  // shifted right by 4, then masked. The -8 offset is applied through the activation sums.
  static __m256i load_nibbles(const B& b) {
    const __m256i raw = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b.qs)));
    const __m256i shifted = _mm256_srlv_epi64(raw, _mm256_set_epi64x(4, 4, 0, 0));
    return _mm256_and_si256(shifted, _mm256_set1_epi8(0x0F));
  }
#endif
};

template <DType T, int NR, int NT>
inline void dot_tile_quant(const typename QuantBlock<T>::B* const* w, const ActBlockQ8* const* x, int64_t nb,
                           float (&out)[NR][NT]) {
  using Q = QuantBlock<T>;
#if EFFITUNE_SIMD_I8
  __m256 acc[NR][NT];
  for (int r = 0; r < NR; ++r)
    for (int t = 0; t < NT; ++t) acc[r][t] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    __m256i xq[NT];
    __m256i xoff[NT];
    float xd[NT];
    for (int t = 0; t < NT; ++t) {
      xq[t] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[t][b].qs));
      xd[t] = x[t][b].d;
      // q4_0: -8 * sum(x) spread over the 8 int32 lanes the dot product accumulates into.
      if constexpr (T == DType::kQ4_0) xoff[t] = _mm256_set1_epi32(-x[t][b].sum);
    }
    for (int r = 0; r < NR; ++r) {
      if constexpr (NT <= 2 && kPrefetchBytes > 0) prefetch(&w[r][b]);
      const float wd = half_to_f32(w[r][b].d);
      if constexpr (T == DType::kQ4_0) {
        const __m256i nib = Q::load_nibbles(w[r][b]);
        for (int t = 0; t < NT; ++t) {
          const __m256 dot = _mm256_cvtepi32_ps(i8_dot_u8s8_acc(xoff[t], nib, xq[t]));
          acc[r][t] = _mm256_fmadd_ps(dot, _mm256_set1_ps(wd * xd[t]), acc[r][t]);
        }
      } else {
        const __m256i wq = Q::load(w[r][b]);
        // |w| (unsigned) times x with w's sign: the u8 x s8 form that maddubs/dpbusd need.
        const __m256i aw = _mm256_sign_epi8(wq, wq);
        for (int t = 0; t < NT; ++t) {
          const __m256i sx = _mm256_sign_epi8(xq[t], wq);
          const __m256 dot = _mm256_cvtepi32_ps(i8_dot_u8s8(aw, sx));
          acc[r][t] = _mm256_fmadd_ps(dot, _mm256_set1_ps(wd * xd[t]), acc[r][t]);
        }
      }
    }
  }
  for (int r = 0; r < NR; ++r)
    for (int t = 0; t < NT; ++t) out[r][t] = hsum256(acc[r][t]);
#else
  for (int r = 0; r < NR; ++r)
    for (int t = 0; t < NT; ++t) out[r][t] = 0.0f;
  int8_t wq[32];
  for (int64_t b = 0; b < nb; ++b)
    for (int r = 0; r < NR; ++r) {
      Q::to_i8(w[r][b], wq);
      const float wd = half_to_f32(w[r][b].d);
      for (int t = 0; t < NT; ++t) {
        int32_t s = 0;
        for (int i = 0; i < 32; ++i) s += static_cast<int32_t>(wq[i]) * x[t][b].qs[i];
        out[r][t] += static_cast<float>(s) * wd * x[t][b].d;
      }
    }
#endif
}

template <DType T, int NR>
void rows_quant(const TensorView& w, int64_t r, const Activations& a, float* y, int64_t ldy) {
  using B = typename QuantBlock<T>::B;
  const int64_t nb = a.cols / 32;
  const B* wr[NR];
  for (int i = 0; i < NR; ++i) wr[i] = reinterpret_cast<const B*>(w.row(r + i));
  token_tiles<kQuantTokTile>(a.n_tokens, [&]<int NT>(int64_t t) {
    const ActBlockQ8* xs[NT];
    for (int j = 0; j < NT; ++j) xs[j] = a.q8 + (t + j) * nb;
    float out[NR][NT];
    dot_tile_quant<T, NR, NT>(wr, xs, nb, out);
    for (int i = 0; i < NR; ++i)
      for (int j = 0; j < NT; ++j) y[(t + j) * ldy + r + i] = out[i][j];
  });
}

template <DType T>
void gemm_quant(const TensorView& w, int64_t r0, int64_t r1, const Activations& a, float* y, int64_t ldy) {
  int64_t r = r0;
  for (; r + kRowTile <= r1; r += kRowTile) rows_quant<T, kRowTile>(w, r, a, y, ldy);
  for (; r < r1; ++r) rows_quant<T, 1>(w, r, a, y, ldy);
}

// ---- any other type (q4_k): one row dequantized into an L1-sized buffer, reused by every token ----

void gemm_dequant(const TensorView& w, int64_t r0, int64_t r1, const Activations& a, float* y, int64_t ldy) {
  thread_local std::vector<float> row;
  row.resize(static_cast<size_t>(a.cols));
  for (int64_t r = r0; r < r1; ++r) {
    dequantize_row(w.type, w.row(r), row.data(), a.cols);
    const float* wr[1] = {row.data()};
    for (int64_t t = 0; t < a.n_tokens; ++t) {
      const float* xs[1] = {a.x + t * a.cols};
      float out[1][1];
      dot_tile_float<DType::kF32, 1, 1>(wr, xs, a.cols, out);
      y[t * ldy + r] = out[0][0];
    }
  }
}

bool needs_q8(DType t) { return t == DType::kQ8_0 || t == DType::kQ4_0; }

// Row tiles per claimed chunk: about 8 chunks per thread, so a thread that runs late (or not at all)
// leaves little for the others to wait on, while each chunk is still tens of tiles long.
int64_t chunk_units(const ThreadPool& pool, int64_t units) {
  return std::max<int64_t>(1, units / (8 * static_cast<int64_t>(pool.size())));
}

}  // namespace

void quantize_act_q8(const float* x, int64_t n, ActBlockQ8* out) {
  for (int64_t b = 0; b < n / 32; ++b) {
    const float* v = x + b * 32;
    float amax = 0.0f;
    for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(v[i]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    out[b].d = d;
    int32_t sum = 0;
    for (int i = 0; i < 32; ++i) {
      out[b].qs[i] = static_cast<int8_t>(std::nearbyint(v[i] * id));
      sum += out[b].qs[i];
    }
    out[b].sum = sum;
  }
}

bool matmul_supports(DType t) {
  switch (t) {
    case DType::kF32:
    case DType::kF16:
    case DType::kBF16:
    case DType::kQ8_0:
    case DType::kQ4_0:
    case DType::kQ4_K:
      return true;
  }
  return false;
}

void matmul_rows(const TensorView& w, int64_t r0, int64_t r1, const Activations& a, float* y, int64_t ldy) {
  switch (w.type) {
    case DType::kF32:
      return gemm_float<DType::kF32>(w, r0, r1, a, y, ldy);
    case DType::kF16:
      return gemm_float<DType::kF16>(w, r0, r1, a, y, ldy);
    case DType::kBF16:
      return gemm_float<DType::kBF16>(w, r0, r1, a, y, ldy);
    case DType::kQ8_0:
      return gemm_quant<DType::kQ8_0>(w, r0, r1, a, y, ldy);
    case DType::kQ4_0:
      return gemm_quant<DType::kQ4_0>(w, r0, r1, a, y, ldy);
    default:
      return gemm_dequant(w, r0, r1, a, y, ldy);
  }
}

namespace {

Activations prepare(ThreadPool& pool, bool quant, const float* x, int64_t n_tokens, int64_t cols,
                    std::vector<ActBlockQ8>& q8_scratch) {
  Activations a;
  a.x = x;
  a.n_tokens = n_tokens;
  a.cols = cols;
  const int64_t nb = cols / 32;
  if (quant) {
    q8_scratch.resize(static_cast<size_t>(n_tokens * nb));
    if (n_tokens >= 8) {
      pool.run_chunks(n_tokens, 4, [&](int, int64_t t0, int64_t t1) {
        for (int64_t t = t0; t < t1; ++t) quantize_act_q8(x + t * cols, cols, q8_scratch.data() + t * nb);
      });
    } else {
      for (int64_t t = 0; t < n_tokens; ++t) quantize_act_q8(x + t * cols, cols, q8_scratch.data() + t * nb);
    }
    a.q8 = q8_scratch.data();
  }
  return a;
}

}  // namespace

void matmul(ThreadPool& pool, std::span<const MatmulJob> jobs, const float* x, int64_t n_tokens, int64_t cols,
            std::vector<ActBlockQ8>& q8_scratch) {
  const bool quant = std::any_of(jobs.begin(), jobs.end(), [](const MatmulJob& j) { return needs_q8(j.w->type); });
  const bool packed = std::any_of(jobs.begin(), jobs.end(), [](const MatmulJob& j) { return j.packed != nullptr; });
  const Activations a = prepare(pool, quant, x, n_tokens, cols, q8_scratch);
  // Packed jobs are split at panel boundaries: each job spans whole panels of the concatenation.
  const int64_t align = packed ? kPanelRows : kRowTile;
  auto span_rows = [&](const MatmulJob& j) { return packed ? (j.w->rows + align - 1) / align * align : j.w->rows; };
  int64_t total = 0;
  for (const MatmulJob& j : jobs) total += span_rows(j);
  const int64_t units = (total + align - 1) / align;
  pool.run_chunks(units, chunk_units(pool, units), [&](int, int64_t u0, int64_t u1) {
    const int64_t g0 = u0 * align, g1 = std::min(total, u1 * align);
    int64_t base = 0;
    for (const MatmulJob& j : jobs) {
      const int64_t lo = std::max(g0, base), hi = std::min({g1, base + span_rows(j), base + j.w->rows});
      if (lo < hi) {
        if (j.packed != nullptr) {
          j.packed->matmul_rows(lo - base, hi - base, a, j.y, j.ldy);
        } else {
          matmul_rows(*j.w, lo - base, hi - base, a, j.y, j.ldy);
        }
      }
      base += span_rows(j);
    }
  });
}

void matmul_swiglu(ThreadPool& pool, const TensorView& w_gate, const TensorView& w_up, const float* x, int64_t n_tokens,
                   int64_t cols, float* gate, float* up, int64_t ld, std::vector<ActBlockQ8>& q8_scratch,
                   const PackedMatrix* packed_gate, const PackedMatrix* packed_up) {
  const bool quant = needs_q8(w_gate.type) || needs_q8(w_up.type);
  const bool packed = packed_gate != nullptr && packed_up != nullptr;
  const Activations a = prepare(pool, quant, x, n_tokens, cols, q8_scratch);
  const int64_t align = packed ? kPanelRows : kRowTile;
  const int64_t units = (w_gate.rows + align - 1) / align;
  pool.run_chunks(units, chunk_units(pool, units), [&](int, int64_t u0, int64_t u1) {
    const int64_t r0 = u0 * align, r1 = std::min(w_gate.rows, u1 * align);
    if (packed) {
      packed_gate->matmul_rows(r0, r1, a, gate, ld);
      packed_up->matmul_rows(r0, r1, a, up, ld);
    } else {
      matmul_rows(w_gate, r0, r1, a, gate, ld);
      matmul_rows(w_up, r0, r1, a, up, ld);
    }
    for (int64_t t = 0; t < n_tokens; ++t) silu_mul(gate + t * ld + r0, up + t * ld + r0, r1 - r0, gate + t * ld + r0);
  });
}

}  // namespace effitune::engine::cpu
