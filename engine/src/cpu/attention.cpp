#include "cpu/attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "cpu/ops.h"

namespace effitune::engine::cpu {

void kv_store(float* cache, const KvLayout& layout, int32_t layer, std::span<const int32_t> block_table, int32_t pos,
              const float* row) {
  const int32_t block = block_table[static_cast<size_t>(pos / layout.block_size)];
  const int32_t slot = pos % layout.block_size;
  for (int32_t g = 0; g < layout.n_kv_heads; ++g) {
    float* dst = cache + layout.offset(layer, block, g) + static_cast<int64_t>(slot) * layout.head_dim;
    std::memcpy(dst, row + static_cast<int64_t>(g) * layout.head_dim, sizeof(float) * layout.head_dim);
  }
}

void attend_head(const float* q, const float* k_cache, const float* v_cache, const KvLayout& layout, int32_t layer,
                 std::span<const int32_t> block_table, int32_t pos, int32_t kv_head, float* scores, float* out) {
  const int32_t hd = layout.head_dim, bs = layout.block_size;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  const int32_t n = pos + 1;
  for (int32_t j0 = 0; j0 < n; j0 += bs) {
    const float* k = k_cache + layout.offset(layer, block_table[static_cast<size_t>(j0 / bs)], kv_head);
    const int32_t m = std::min(bs, n - j0);
    for (int32_t s = 0; s < m; ++s) scores[j0 + s] = dot_f32(q, k + static_cast<int64_t>(s) * hd, hd) * scale;
  }
  softmax(scores, n);
  std::fill(out, out + hd, 0.0f);
  for (int32_t j0 = 0; j0 < n; j0 += bs) {
    const float* v = v_cache + layout.offset(layer, block_table[static_cast<size_t>(j0 / bs)], kv_head);
    const int32_t m = std::min(bs, n - j0);
    for (int32_t s = 0; s < m; ++s) {
      const float p = scores[j0 + s];
      const float* vr = v + static_cast<int64_t>(s) * hd;
      for (int32_t d = 0; d < hd; ++d) out[d] += p * vr[d];
    }
  }
}

}  // namespace effitune::engine::cpu
