#include <algorithm>
#include <string>
#include <utility>

#include "effitune/common/check.h"
#include "effitune/engine/kv_cache.h"

namespace effitune::engine {

KvBlockManager::KvBlockManager(int32_t n_blocks, int32_t block_size, int64_t bytes_per_block,
                               std::function<void(int32_t src, int32_t dst)> copy_block)
    : block_size_(block_size), bytes_per_block_(bytes_per_block), copy_block_(std::move(copy_block)) {
  EFFITUNE_CHECK(n_blocks >= 0, "KvBlockManager: negative block count");
  EFFITUNE_CHECK(block_size > 0, "KvBlockManager: block_size must be positive");
  refcount_.assign(static_cast<size_t>(n_blocks), 0);
  // A stack popped from the back: blocks are handed out 0, 1, 2, ... on a fresh manager, which keeps
  // early sequences in low (recently touched) storage.
  free_.reserve(static_cast<size_t>(n_blocks));
  for (int32_t b = n_blocks - 1; b >= 0; --b) free_.push_back(b);
}

SeqId KvBlockManager::create_sequence() {
  SeqId id = next_id_++;
  seqs_.emplace(id, Seq{});
  return id;
}

Result<SeqId> KvBlockManager::fork_sequence(SeqId src) {
  auto it = seqs_.find(src);
  if (it == seqs_.end()) return not_found("fork_sequence: unknown sequence id " + std::to_string(src));
  Seq copy = it->second;
  for (int32_t b : copy.blocks) ++refcount_[static_cast<size_t>(b)];
  SeqId id = next_id_++;
  seqs_.emplace(id, std::move(copy));
  return id;
}

void KvBlockManager::free_sequence(SeqId seq) {
  auto it = seqs_.find(seq);
  if (it == seqs_.end()) return;
  for (int32_t b : it->second.blocks) release(b);
  seqs_.erase(it);
}

int32_t KvBlockManager::alloc() {
  EFFITUNE_CHECK(!free_.empty(), "KvBlockManager::alloc with no free block (reserve must check first)");
  int32_t b = free_.back();
  free_.pop_back();
  refcount_[static_cast<size_t>(b)] = 1;
  return b;
}

void KvBlockManager::release(int32_t block) {
  int32_t& rc = refcount_[static_cast<size_t>(block)];
  EFFITUNE_CHECK(rc > 0, "KvBlockManager: releasing a free block " + std::to_string(block));
  if (--rc == 0) free_.push_back(block);
}

// Blocks to allocate for `n_new` more tokens: new blocks past the table's end, plus one private copy
// of every block that the new tokens will write into while another sequence still references it.
static int32_t blocks_to_allocate(const std::vector<int32_t>& blocks, const std::vector<int32_t>& refcount,
                                  int32_t n_tokens, int32_t n_new, int32_t block_size) {
  if (n_new <= 0) return 0;
  const int64_t end = static_cast<int64_t>(n_tokens) + n_new;
  const int64_t need_total = (end + block_size - 1) / block_size;
  int64_t extra = std::max<int64_t>(0, need_total - static_cast<int64_t>(blocks.size()));
  const int64_t first_written = n_tokens / block_size;
  const int64_t last_existing = std::min<int64_t>(need_total, static_cast<int64_t>(blocks.size()));
  for (int64_t i = first_written; i < last_existing; ++i)
    if (refcount[static_cast<size_t>(blocks[static_cast<size_t>(i)])] > 1) ++extra;
  return static_cast<int32_t>(std::min<int64_t>(extra, INT32_MAX));
}

Status KvBlockManager::reserve(SeqId seq, int32_t n_new) {
  auto it = seqs_.find(seq);
  if (it == seqs_.end()) return not_found("kv reserve: unknown sequence id " + std::to_string(seq));
  if (n_new < 0) return invalid_argument("kv reserve: negative token count " + std::to_string(n_new));
  Seq& s = it->second;
  if (static_cast<int64_t>(s.n_tokens) + n_new > INT32_MAX)
    return out_of_range("kv reserve: sequence length would overflow int32");
  const int32_t needed = blocks_to_allocate(s.blocks, refcount_, s.n_tokens, n_new, block_size_);
  if (needed > free_blocks()) {
    return resource_exhausted("KV cache full: sequence " + std::to_string(seq) + " needs " +
                              std::to_string(needed) + " more blocks, " + std::to_string(free_blocks()) +
                              " free; raise kv_cache_tokens or lower max_sequences");
  }
  if (n_new == 0) return {};
  const int64_t end = static_cast<int64_t>(s.n_tokens) + n_new;
  const size_t need_total = static_cast<size_t>((end + block_size_ - 1) / block_size_);
  // Copy-on-write: un-share every existing block the new tokens land in.
  for (size_t i = static_cast<size_t>(s.n_tokens / block_size_); i < std::min(need_total, s.blocks.size()); ++i) {
    int32_t old = s.blocks[i];
    if (refcount_[static_cast<size_t>(old)] <= 1) continue;
    int32_t fresh = alloc();
    // Only a block holding committed tokens has contents worth copying.
    if (static_cast<int64_t>(i) * block_size_ < s.n_tokens && copy_block_) copy_block_(old, fresh);
    release(old);
    s.blocks[i] = fresh;
  }
  while (s.blocks.size() < need_total) s.blocks.push_back(alloc());
  return {};
}

void KvBlockManager::commit(SeqId seq, int32_t n_new) {
  auto it = seqs_.find(seq);
  EFFITUNE_CHECK(it != seqs_.end(), "kv commit: unknown sequence id " + std::to_string(seq));
  Seq& s = it->second;
  EFFITUNE_CHECK(n_new >= 0, "kv commit: negative token count");
  EFFITUNE_CHECK(static_cast<int64_t>(s.n_tokens) + n_new <= static_cast<int64_t>(s.blocks.size()) * block_size_,
                 "kv commit past the reserved blocks (call reserve first)");
  s.n_tokens += n_new;
}

void KvBlockManager::truncate(SeqId seq, int32_t n_tokens) {
  auto it = seqs_.find(seq);
  if (it == seqs_.end()) return;
  Seq& s = it->second;
  if (n_tokens < 0) n_tokens = 0;
  if (n_tokens >= s.n_tokens) return;
  s.n_tokens = n_tokens;
  const size_t keep = static_cast<size_t>(blocks_for_tokens(n_tokens));
  while (s.blocks.size() > keep) {
    release(s.blocks.back());
    s.blocks.pop_back();
  }
}

int32_t KvBlockManager::length(SeqId seq) const {
  auto it = seqs_.find(seq);
  return it == seqs_.end() ? 0 : it->second.n_tokens;
}

std::span<const int32_t> KvBlockManager::block_table(SeqId seq) const {
  auto it = seqs_.find(seq);
  if (it == seqs_.end()) return {};
  return it->second.blocks;
}

int32_t KvBlockManager::blocks_needed(SeqId seq, int32_t n_new) const {
  auto it = seqs_.find(seq);
  if (it == seqs_.end()) return n_new > 0 ? blocks_for_tokens(n_new) : 0;
  return blocks_to_allocate(it->second.blocks, refcount_, it->second.n_tokens, n_new, block_size_);
}

KvStats KvBlockManager::stats() const {
  KvStats st;
  st.block_size = block_size_;
  st.total_blocks = static_cast<int32_t>(refcount_.size());
  st.used_blocks = st.total_blocks - free_blocks();
  st.bytes_per_block = bytes_per_block_;
  st.total_bytes = bytes_per_block_ * st.total_blocks;
  st.sequences = static_cast<int32_t>(seqs_.size());
  return st;
}

}  // namespace effitune::engine
