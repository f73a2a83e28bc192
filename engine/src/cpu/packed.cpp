#include "cpu/packed.h"

#include <algorithm>
#include <cstring>
#include <new>

#include "cpu/simd.h"
#include "effitune/common/check.h"

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VNNI__)
#define EFFITUNE_PACKED_KERNELS 1
#else
#define EFFITUNE_PACKED_KERNELS 0
#endif

namespace effitune::engine::cpu {
namespace {

// Panel layout, per 16 rows (one panel) and nb = cols / 32 blocks:
//   quants[nb][kQuantBytes]  then  scales[nb][16] (f16, one per row).
// q8_0 block b of the panel: 8 chunks of 64 bytes; chunk j lane r (bytes 4r..4r+3) holds row r's
//   weights 4j..4j+3 plus 128, as unsigned bytes (dpbusd wants u8 x s8; the +128 comes back out as
//   128 * sum(x), which the activation block carries).
// q4_0 block b: 4 chunks of 64 bytes; chunk j lane r holds row r's stored bytes qs[4j..4j+3]
//   unchanged: low nibbles are weights 4j..4j+3, high nibbles weights 16+4j..16+4j+3, both + 8.
// f16 panels have no blocks or scales: column k of the 16 rows is 32 bytes at k * 32, so one
// conversion gives 16 rows' weights and each token's x[k] is a broadcast (f32 FMA, as the row-major
// f16 kernel; only the summation order differs).
constexpr int64_t kBlock = 32;
constexpr int64_t kScaleBytes = kPanelRows * 2;

int64_t quant_bytes(DType t) { return t == DType::kQ8_0 ? 512 : 256; }

int64_t panel_bytes_for(DType t, int64_t cols) {
  return t == DType::kF16 ? cols * kPanelRows * 2 : cols / kBlock * (quant_bytes(t) + kScaleBytes);
}

#if EFFITUNE_PACKED_KERNELS

#ifndef EFFITUNE_PACKED_PREFETCH
#define EFFITUNE_PACKED_PREFETCH 4096
#endif
constexpr int64_t kPrefetchAhead = EFFITUNE_PACKED_PREFETCH;

// Accumulates NT tokens of one panel over all blocks into acc[t] (16 rows each).
template <bool kQ4, int NT>
inline void panel_tile(const uint8_t* quants, const uint16_t* scales, int64_t nb, const ActBlockQ8* const* x,
                       __m512 (&acc)[NT]) {
  const __m512i low4 = _mm512_set1_epi8(0x0F);
  for (int t = 0; t < NT; ++t) acc[t] = _mm512_setzero_ps();
  constexpr int64_t kQBytes = kQ4 ? 256 : 512;
  for (int64_t b = 0; b < nb; ++b) {
    __m512i w[8];
    // Decode (NT small) streams the weights once: prefetch ahead of the hardware prefetcher, which
    // ramps up too slowly on these panel-sized streams.
    if constexpr (NT <= 2 && kPrefetchAhead > 0) {
      for (int64_t l = 0; l < kQBytes; l += 64) _mm_prefetch(reinterpret_cast<const char*>(quants + b * kQBytes + l + kPrefetchAhead), _MM_HINT_T0);
    }
    if constexpr (kQ4) {
      const uint8_t* q = quants + b * 256;
      for (int j = 0; j < 4; ++j) {
        const __m512i raw = _mm512_loadu_si512(q + j * 64);
        w[j] = _mm512_and_si512(raw, low4);
        w[j + 4] = _mm512_and_si512(_mm512_srli_epi16(raw, 4), low4);
      }
    } else {
      const uint8_t* q = quants + b * 512;
      for (int j = 0; j < 8; ++j) w[j] = _mm512_loadu_si512(q + j * 64);
    }
    const __m512 ws = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(scales + b * kPanelRows)));
    for (int t = 0; t < NT; ++t) {
      const ActBlockQ8& xb = x[t][b];
      int32_t xq[8];
      std::memcpy(xq, xb.qs, 32);
      // The stored offset (128 for q8_0, 8 for q4_0) times sum(x) starts the integer sum negative.
      __m512i s0 = _mm512_set1_epi32(-(kQ4 ? 8 : 128) * xb.sum);
      __m512i s1 = _mm512_setzero_si512();
      for (int j = 0; j < 8; j += 2) {
        s0 = _mm512_dpbusd_epi32(s0, w[j], _mm512_set1_epi32(xq[j]));
        s1 = _mm512_dpbusd_epi32(s1, w[j + 1], _mm512_set1_epi32(xq[j + 1]));
      }
      const __m512 dot = _mm512_cvtepi32_ps(_mm512_add_epi32(s0, s1));
      acc[t] = _mm512_fmadd_ps(dot, _mm512_mul_ps(ws, _mm512_set1_ps(xb.d)), acc[t]);
    }
  }
}

#ifndef EFFITUNE_PACKED_TOK_TILE
#define EFFITUNE_PACKED_TOK_TILE 4
#endif
constexpr int kTokTile = EFFITUNE_PACKED_TOK_TILE;

template <bool kQ4, int NT>
inline void panel_tokens(const uint8_t* quants, const uint16_t* scales, int64_t nb, const Activations& a, int64_t t0,
                         float* y, int64_t ldy, __mmask16 mask) {
  const ActBlockQ8* xs[NT];
  for (int j = 0; j < NT; ++j) xs[j] = a.q8 + (t0 + j) * nb;
  __m512 acc[NT];
  panel_tile<kQ4, NT>(quants, scales, nb, xs, acc);
  for (int j = 0; j < NT; ++j) _mm512_mask_storeu_ps(y + (t0 + j) * ldy, mask, acc[j]);
}

template <bool kQ4, int N>
inline void panel_remainder(int64_t rem, const uint8_t* quants, const uint16_t* scales, int64_t nb,
                            const Activations& a, int64_t t0, float* y, int64_t ldy, __mmask16 mask) {
  if (rem == N) {
    panel_tokens<kQ4, N>(quants, scales, nb, a, t0, y, ldy, mask);
  } else if constexpr (N > 1) {
    panel_remainder<kQ4, N - 1>(rem, quants, scales, nb, a, t0, y, ldy, mask);
  }
}

template <bool kQ4>
void packed_rows(const uint8_t* data, int64_t panel_bytes, int64_t rows, int64_t cols, int64_t r0, int64_t r1,
                 const Activations& a, float* y, int64_t ldy) {
  const int64_t nb = cols / kBlock;
  const int64_t qbytes = kQ4 ? 256 : 512;
  for (int64_t r = r0; r < r1 && r < rows; r += kPanelRows) {
    const uint8_t* panel = data + (r / kPanelRows) * panel_bytes;
    const auto* scales = reinterpret_cast<const uint16_t*>(panel + nb * qbytes);
    const int64_t valid = std::min<int64_t>(kPanelRows, std::min(r1, rows) - r);
    const __mmask16 mask = static_cast<__mmask16>((1u << valid) - 1u);
    float* yr = y + r;
    int64_t t = 0;
    for (; t + kTokTile <= a.n_tokens; t += kTokTile) panel_tokens<kQ4, kTokTile>(panel, scales, nb, a, t, yr, ldy, mask);
    if (t < a.n_tokens) panel_remainder<kQ4, kTokTile - 1>(a.n_tokens - t, panel, scales, nb, a, t, yr, ldy, mask);
  }
}

// f16 panels: NT tokens of one panel, column by column.
template <int NT>
inline void f16_panel_tokens(const uint16_t* panel, int64_t cols, const Activations& a, int64_t t0, float* y,
                             int64_t ldy, __mmask16 mask) {
  const float* xs[NT];
  for (int j = 0; j < NT; ++j) xs[j] = a.x + (t0 + j) * a.cols;
  __m512 acc[NT];
  for (int j = 0; j < NT; ++j) acc[j] = _mm512_setzero_ps();
  for (int64_t k = 0; k < cols; ++k) {
    if (NT <= 2 && kPrefetchAhead > 0 && (k & 1) == 0)
      _mm_prefetch(reinterpret_cast<const char*>(panel + k * kPanelRows) + kPrefetchAhead, _MM_HINT_T0);
    const __m512 w = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(panel + k * kPanelRows)));
    for (int j = 0; j < NT; ++j) acc[j] = _mm512_fmadd_ps(w, _mm512_set1_ps(xs[j][k]), acc[j]);
  }
  for (int j = 0; j < NT; ++j) _mm512_mask_storeu_ps(y + (t0 + j) * ldy, mask, acc[j]);
}

template <int N>
inline void f16_remainder(int64_t rem, const uint16_t* panel, int64_t cols, const Activations& a, int64_t t0, float* y,
                          int64_t ldy, __mmask16 mask) {
  if (rem == N) {
    f16_panel_tokens<N>(panel, cols, a, t0, y, ldy, mask);
  } else if constexpr (N > 1) {
    f16_remainder<N - 1>(rem, panel, cols, a, t0, y, ldy, mask);
  }
}

// Tokens per f16 tile: 8 accumulators and one weight register per column step.
#ifndef EFFITUNE_PACKED_F16_TOK_TILE
#define EFFITUNE_PACKED_F16_TOK_TILE 8
#endif
constexpr int kF16TokTile = EFFITUNE_PACKED_F16_TOK_TILE;

void packed_rows_f16(const uint8_t* data, int64_t panel_bytes, int64_t rows, int64_t cols, int64_t r0, int64_t r1,
                     const Activations& a, float* y, int64_t ldy) {
  for (int64_t r = r0; r < r1 && r < rows; r += kPanelRows) {
    const auto* panel = reinterpret_cast<const uint16_t*>(data + (r / kPanelRows) * panel_bytes);
    const int64_t valid = std::min<int64_t>(kPanelRows, std::min(r1, rows) - r);
    const __mmask16 mask = static_cast<__mmask16>((1u << valid) - 1u);
    float* yr = y + r;
    int64_t t = 0;
    for (; t + kF16TokTile <= a.n_tokens; t += kF16TokTile) f16_panel_tokens<kF16TokTile>(panel, cols, a, t, yr, ldy, mask);
    if (t < a.n_tokens) f16_remainder<kF16TokTile - 1>(a.n_tokens - t, panel, cols, a, t, yr, ldy, mask);
  }
}

#endif  // EFFITUNE_PACKED_KERNELS

}  // namespace

bool PackedMatrix::can_pack(const TensorView& w) {
  if (!EFFITUNE_PACKED_KERNELS || w.rows <= 0 || w.cols <= 0 || w.data == nullptr) return false;
  if (w.type == DType::kF16) return true;
  return (w.type == DType::kQ8_0 || w.type == DType::kQ4_0) && w.cols % kBlock == 0;
}

int64_t PackedMatrix::packed_bytes(const TensorView& w) {
  const int64_t panels = (w.rows + kPanelRows - 1) / kPanelRows;
  return (panels * panel_bytes_for(w.type, w.cols) + 63) / 64 * 64;
}

PackedMatrix PackedMatrix::pack(const TensorView& w, uint8_t* dst) {
  EFFITUNE_CHECK(can_pack(w), "PackedMatrix::pack: weights cannot be packed (type or shape)");
  PackedMatrix p;
  p.type_ = w.type;
  p.rows_ = w.rows;
  p.cols_ = w.cols;
  const int64_t nb = w.cols / kBlock, qbytes = quant_bytes(w.type);
  p.panel_bytes_ = panel_bytes_for(w.type, w.cols);
  // 64-byte alignment: every 64-byte chunk is one cache line (panel_bytes_ is a multiple of 64 when
  // nb is even, as in every model shape; loads stay unaligned-safe otherwise).
  uint8_t* raw = dst;
  if (raw == nullptr) {
    raw = static_cast<uint8_t*>(std::aligned_alloc(64, static_cast<size_t>(packed_bytes(w))));
    if (raw == nullptr) throw std::bad_alloc();
    p.owned_.reset(raw);
  }
  p.data_ = raw;
  const bool q4 = w.type == DType::kQ4_0;
  if (w.type == DType::kF16) {
    for (int64_t g = 0; g < p.panels(); ++g) {
      auto* panel = reinterpret_cast<uint16_t*>(raw + g * p.panel_bytes_);
      for (int64_t r = 0; r < kPanelRows; ++r) {
        const int64_t row = g * kPanelRows + r;
        const auto* src = row < w.rows ? reinterpret_cast<const uint16_t*>(w.row(row)) : nullptr;
        for (int64_t k = 0; k < w.cols; ++k) panel[k * kPanelRows + r] = src != nullptr ? src[k] : 0;
      }
    }
    return p;
  }
  for (int64_t g = 0; g < p.panels(); ++g) {
    uint8_t* panel = raw + g * p.panel_bytes_;
    auto* scales = reinterpret_cast<uint16_t*>(panel + nb * qbytes);
    for (int64_t b = 0; b < nb; ++b) {
      uint8_t* q = panel + b * qbytes;
      for (int64_t r = 0; r < kPanelRows; ++r) {
        const int64_t row = g * kPanelRows + r;
        const bool valid = row < w.rows;
        if (q4) {
          const auto* blk = valid ? reinterpret_cast<const BlockQ4_0*>(w.row(row)) + b : nullptr;
          scales[b * kPanelRows + r] = valid ? blk->d : 0;
          for (int j = 0; j < 4; ++j)
            for (int k = 0; k < 4; ++k) q[j * 64 + r * 4 + k] = valid ? blk->qs[4 * j + k] : 0x88;
        } else {
          const auto* blk = valid ? reinterpret_cast<const BlockQ8_0*>(w.row(row)) + b : nullptr;
          scales[b * kPanelRows + r] = valid ? blk->d : 0;
          for (int j = 0; j < 8; ++j)
            for (int k = 0; k < 4; ++k)
              q[j * 64 + r * 4 + k] = valid ? static_cast<uint8_t>(blk->qs[4 * j + k] + 128) : 128;
        }
      }
    }
  }
  return p;
}

void PackedMatrix::matmul_rows(int64_t r0, int64_t r1, const Activations& a, float* y, int64_t ldy) const {
  EFFITUNE_CHECK(r0 % kPanelRows == 0 && (a.q8 != nullptr || type_ == DType::kF16) && a.cols == cols_,
                 "PackedMatrix::matmul_rows: bad call");
#if EFFITUNE_PACKED_KERNELS
  if (type_ == DType::kF16) {
    packed_rows_f16(data_, panel_bytes_, rows_, cols_, r0, r1, a, y, ldy);
  } else if (type_ == DType::kQ4_0) {
    packed_rows<true>(data_, panel_bytes_, rows_, cols_, r0, r1, a, y, ldy);
  } else {
    packed_rows<false>(data_, panel_bytes_, rows_, cols_, r0, r1, a, y, ldy);
  }
#else
  (void)r1;
  (void)y;
  (void)ldy;
#endif
}

}  // namespace effitune::engine::cpu
