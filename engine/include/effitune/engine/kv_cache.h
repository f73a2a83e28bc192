// Paged KV-cache bookkeeping: fixed-size blocks, a block table per sequence, reference counts so that
// sequences can share prefixes and fork (beam search) with copy-on-write of a partly filled last block.
// The block *storage* belongs to the backend (host or device memory); this class only hands out ids.
// Not thread-safe: the engine's step loop owns it.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <unordered_map>
#include <vector>

#include "effitune/common/status.h"

namespace effitune::engine {

using SeqId = int64_t;

struct KvStats {
  int32_t block_size = 0;       // tokens per block
  int32_t total_blocks = 0;
  int32_t used_blocks = 0;      // referenced by at least one sequence
  int64_t bytes_per_block = 0;  // K and V, all layers
  int64_t total_bytes = 0;
  int32_t sequences = 0;
};

class KvBlockManager {
 public:
  // `copy_block(src, dst)` copies a block's K/V storage; called for copy-on-write.
  KvBlockManager(int32_t n_blocks, int32_t block_size, int64_t bytes_per_block,
                 std::function<void(int32_t src, int32_t dst)> copy_block);

  SeqId create_sequence();
  // New sequence sharing all of `src`'s blocks (refcounts incremented). kNotFound for an unknown id.
  Result<SeqId> fork_sequence(SeqId src);
  // Releases the sequence's blocks (a block returns to the pool when its count reaches zero).
  void free_sequence(SeqId seq);
  // Makes room for `n_new` more tokens: allocates blocks and un-shares a shared, partly filled last
  // block (copy-on-write). On kResourceExhausted nothing has changed.
  Status reserve(SeqId seq, int32_t n_new);
  // Records that `n_new` tokens were written (after reserve + forward).
  void commit(SeqId seq, int32_t n_new);
  // Drops tokens past `n_tokens` (frees blocks no longer needed).
  void truncate(SeqId seq, int32_t n_tokens);

  bool contains(SeqId seq) const { return seqs_.count(seq) != 0; }
  int32_t length(SeqId seq) const;
  std::span<const int32_t> block_table(SeqId seq) const;
  // Blocks that `n_new` more tokens of `seq` would need beyond those it holds (for admission control).
  int32_t blocks_needed(SeqId seq, int32_t n_new) const;
  int32_t blocks_for_tokens(int32_t n_tokens) const { return (n_tokens + block_size_ - 1) / block_size_; }
  int32_t free_blocks() const { return static_cast<int32_t>(free_.size()); }
  int32_t block_size() const { return block_size_; }
  KvStats stats() const;

 private:
  struct Seq {
    std::vector<int32_t> blocks;
    int32_t n_tokens = 0;
  };
  int32_t alloc();
  void release(int32_t block);

  int32_t block_size_;
  int64_t bytes_per_block_;
  std::function<void(int32_t, int32_t)> copy_block_;
  std::vector<int32_t> refcount_;
  std::vector<int32_t> free_;
  std::unordered_map<SeqId, Seq> seqs_;
  SeqId next_id_ = 1;
};

}  // namespace effitune::engine
