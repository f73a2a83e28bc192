// Grouped-query attention over the paged KV cache. K and V each live in one f32 array laid out
// [layer][block][kv_head][slot][head_dim], so one head's keys of one block are contiguous.
#pragma once

#include <cstdint>
#include <span>

namespace effitune::engine::cpu {

struct KvLayout {
  int32_t n_layers = 0;
  int32_t n_blocks = 0;
  int32_t n_kv_heads = 0;
  int32_t block_size = 0;
  int32_t head_dim = 0;

  int64_t block_floats() const { return static_cast<int64_t>(n_kv_heads) * block_size * head_dim; }
  int64_t layer_floats() const { return block_floats() * n_blocks; }
  int64_t total_floats() const { return layer_floats() * n_layers; }
  // Offset of (layer, block, kv_head, slot 0).
  int64_t offset(int32_t layer, int32_t block, int32_t kv_head) const {
    return layer * layer_floats() + block * block_floats() + static_cast<int64_t>(kv_head) * block_size * head_dim;
  }
};

// Stores one token's K (or V) row of n_kv_heads * head_dim floats at position `pos`.
void kv_store(float* cache, const KvLayout& layout, int32_t layer, std::span<const int32_t> block_table, int32_t pos,
              const float* row);

// Output of query head `head` for one token at position `pos`, attending to positions 0..pos of its
// sequence: out[0..head_dim) = sum_j softmax_j(q.k_j / sqrt(head_dim)) v_j. Query head h reads KV head
// h / (n_heads / n_kv_heads). `scores` holds at least pos + 1 floats of scratch.
void attend_head(const float* q, const float* k_cache, const float* v_cache, const KvLayout& layout, int32_t layer,
                 std::span<const int32_t> block_table, int32_t pos, int32_t kv_head, float* scores, float* out);

}  // namespace effitune::engine::cpu
