// Megatron-style sharding of a Llama model's weights for tensor parallelism over N ranks.
// Column-parallel (rows of W split): Q, K, V by head, gate and up by hidden unit. Row-parallel
// (columns of W split): the attention output and down projections, whose partial products the
// ranks then sum (Communicator::all_reduce_sum). Embedding and norms are replicated; the LM head is
// replicated or vocab-parallel.
#pragma once

#include <cstdint>
#include <memory>

#include "effitune/common/status.h"
#include "effitune/engine/weights.h"

namespace effitune::engine::tp {

// Whether `n` ranks can split this model: n divides the query and KV head counts and the hidden
// size, and every cut of a block-quantized tensor falls on a block boundary. kInvalidArgument that
// names the first count n does not divide, and the degrees that would work.
Status check_degree(const ModelWeights& weights, int32_t n);

// Rank `rank`'s shard (0 <= rank < n, check_degree ok): its config has n_heads / n heads,
// n_kv_heads / n KV heads, hidden_dim / n and the full model's head_dim. Row slices are views into
// `full` (kept alive by the shard); column slices are copied. Tensors without data (GPU-random
// skeletons) stay without data. With `split_lm_head` (and n dividing the vocabulary) the LM head is
// vocab-parallel: `output` holds rows [rank * V/n, (rank + 1) * V/n), untied, and the backend
// gathers the logits; otherwise it is replicated.
Result<std::shared_ptr<const ModelWeights>> shard_weights(std::shared_ptr<const ModelWeights> full, int32_t rank,
                                                          int32_t n, bool split_lm_head = false);

}  // namespace effitune::engine::tp
