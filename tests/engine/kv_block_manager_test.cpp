// KvBlockManager: allocation, fork, copy-on-write, truncate, exhaustion, stats.
#include <gtest/gtest.h>

#include <functional>
#include <set>
#include <utility>
#include <vector>

#include "effitune/engine/kv_cache.h"

namespace effitune::engine {
namespace {

using Copies = std::vector<std::pair<int32_t, int32_t>>;

struct Fixture {
  Copies copies;
  KvBlockManager kv;
  explicit Fixture(int32_t n_blocks, int32_t block_size = 4)
      : kv(n_blocks, block_size, 1024, [this](int32_t s, int32_t d) { copies.emplace_back(s, d); }) {}
};

std::vector<int32_t> table(const KvBlockManager& kv, SeqId s) {
  auto t = kv.block_table(s);
  return {t.begin(), t.end()};
}

TEST(KvBlockManagerTest, ReserveCommitAllocatesWholeBlocks) {
  Fixture f(8);
  SeqId a = f.kv.create_sequence();
  EXPECT_EQ(f.kv.blocks_needed(a, 5), 2);
  ASSERT_TRUE(f.kv.reserve(a, 5).ok());
  f.kv.commit(a, 5);
  EXPECT_EQ(f.kv.length(a), 5);
  EXPECT_EQ(table(f.kv, a), (std::vector<int32_t>{0, 1}));
  EXPECT_EQ(f.kv.blocks_needed(a, 3), 0);  // fits in the partly filled block 1
  EXPECT_EQ(f.kv.blocks_needed(a, 4), 1);
  EXPECT_EQ(f.kv.free_blocks(), 6);
  EXPECT_TRUE(f.copies.empty());
}

// Iteration table: each row is one operation and the state expected after it.
TEST(KvBlockManagerTest, ForkCopyOnWriteTruncateTable) {
  Fixture f(6);
  SeqId a = f.kv.create_sequence();
  SeqId b = -1;
  struct Row {
    const char* op;
    std::function<void()> run;
    int32_t len_a, len_b, free_blocks, copies;
  };
  const std::vector<Row> rows = {
      {"a: prefill 6", [&] { ASSERT_TRUE(f.kv.reserve(a, 6).ok()); f.kv.commit(a, 6); }, 6, 0, 4, 0},
      {"fork a -> b", [&] { b = *f.kv.fork_sequence(a); }, 6, 6, 4, 0},
      // b writes into the shared, partly filled block 1: b gets a private copy (1 -> new block).
      {"b: +1", [&] { ASSERT_TRUE(f.kv.reserve(b, 1).ok()); f.kv.commit(b, 1); }, 6, 7, 3, 1},
      // a's block 1 is no longer shared: no copy.
      {"a: +2", [&] { ASSERT_TRUE(f.kv.reserve(a, 2).ok()); f.kv.commit(a, 2); }, 8, 7, 3, 1},
      // a fills block 1 exactly and spills into a new block.
      {"a: +3", [&] { ASSERT_TRUE(f.kv.reserve(a, 3).ok()); f.kv.commit(a, 3); }, 11, 7, 2, 1},
      {"a: truncate 4", [&] { f.kv.truncate(a, 4); }, 4, 7, 4, 1},
      {"free b", [&] { f.kv.free_sequence(b); }, 4, 0, 5, 1},
  };
  for (const Row& r : rows) {
    r.run();
    EXPECT_EQ(f.kv.length(a), r.len_a) << r.op;
    EXPECT_EQ(f.kv.length(b), r.len_b) << r.op;
    EXPECT_EQ(f.kv.free_blocks(), r.free_blocks) << r.op;
    EXPECT_EQ(static_cast<int32_t>(f.copies.size()), r.copies) << r.op;
  }
  // The copy went from the shared block to b's new private block, and a kept the original.
  ASSERT_EQ(f.copies.size(), 1u);
  EXPECT_EQ(f.copies[0].first, 1);
  EXPECT_EQ(table(f.kv, a), (std::vector<int32_t>{0}));
}

TEST(KvBlockManagerTest, ForkAtBlockBoundaryNeedsNoCopy) {
  Fixture f(4);
  SeqId a = f.kv.create_sequence();
  ASSERT_TRUE(f.kv.reserve(a, 4).ok());
  f.kv.commit(a, 4);
  SeqId b = *f.kv.fork_sequence(a);
  EXPECT_EQ(f.kv.blocks_needed(b, 1), 1);
  ASSERT_TRUE(f.kv.reserve(b, 1).ok());
  f.kv.commit(b, 1);
  EXPECT_TRUE(f.copies.empty());
  EXPECT_EQ(table(f.kv, a)[0], table(f.kv, b)[0]);  // the full block stays shared
  EXPECT_EQ(f.kv.stats().used_blocks, 2);
}

TEST(KvBlockManagerTest, ExhaustionLeavesStateUnchanged) {
  Fixture f(3);
  SeqId a = f.kv.create_sequence();
  ASSERT_TRUE(f.kv.reserve(a, 6).ok());
  f.kv.commit(a, 6);
  SeqId b = *f.kv.fork_sequence(a);
  // b needs a copy of the shared block 1 plus 1 new block = 2, only 1 free.
  EXPECT_EQ(f.kv.blocks_needed(b, 4), 2);
  const auto before_table = table(f.kv, b);
  Status st = f.kv.reserve(b, 4);
  EXPECT_EQ(st.code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(table(f.kv, b), before_table);
  EXPECT_EQ(f.kv.length(b), 6);
  EXPECT_EQ(f.kv.free_blocks(), 1);
  EXPECT_TRUE(f.copies.empty());
  // What fits still works: 1 more token only needs the copy.
  EXPECT_TRUE(f.kv.reserve(b, 1).ok());
  EXPECT_EQ(f.kv.free_blocks(), 0);
}

TEST(KvBlockManagerTest, BlocksReturnWhenLastReferenceGoes) {
  Fixture f(4);
  SeqId a = f.kv.create_sequence();
  ASSERT_TRUE(f.kv.reserve(a, 8).ok());
  f.kv.commit(a, 8);
  SeqId b = *f.kv.fork_sequence(a);
  SeqId c = *f.kv.fork_sequence(b);
  f.kv.free_sequence(a);
  f.kv.free_sequence(b);
  EXPECT_EQ(f.kv.free_blocks(), 2);
  f.kv.free_sequence(c);
  EXPECT_EQ(f.kv.free_blocks(), 4);
  EXPECT_FALSE(f.kv.contains(c));
  f.kv.free_sequence(c);  // unknown ids are ignored
  EXPECT_EQ(f.kv.fork_sequence(c).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(f.kv.reserve(c, 1).code(), StatusCode::kNotFound);
}

TEST(KvBlockManagerTest, StatsAndIds) {
  Fixture f(10, 16);
  SeqId a = f.kv.create_sequence(), b = f.kv.create_sequence();
  EXPECT_NE(a, b);
  ASSERT_TRUE(f.kv.reserve(a, 17).ok());
  f.kv.commit(a, 17);
  KvStats s = f.kv.stats();
  EXPECT_EQ(s.block_size, 16);
  EXPECT_EQ(s.total_blocks, 10);
  EXPECT_EQ(s.used_blocks, 2);
  EXPECT_EQ(s.bytes_per_block, 1024);
  EXPECT_EQ(s.total_bytes, 10 * 1024);
  EXPECT_EQ(s.sequences, 2);
  EXPECT_EQ(f.kv.blocks_for_tokens(0), 0);
  EXPECT_EQ(f.kv.blocks_for_tokens(16), 1);
  EXPECT_EQ(f.kv.blocks_for_tokens(17), 2);
  std::set<int32_t> ids(f.kv.block_table(a).begin(), f.kv.block_table(a).end());
  EXPECT_EQ(ids.size(), 2u);
  EXPECT_EQ(f.kv.reserve(a, -1).code(), StatusCode::kInvalidArgument);
}

TEST(KvBlockManagerTest, TruncateIntoSharedBlockThenWriteCopies) {
  Fixture f(6);
  SeqId a = f.kv.create_sequence();
  ASSERT_TRUE(f.kv.reserve(a, 8).ok());
  f.kv.commit(a, 8);
  SeqId b = *f.kv.fork_sequence(a);
  f.kv.truncate(b, 6);  // b now ends inside block 1, still shared with a
  EXPECT_EQ(f.kv.free_blocks(), 4);
  ASSERT_TRUE(f.kv.reserve(b, 1).ok());
  f.kv.commit(b, 1);
  ASSERT_EQ(f.copies.size(), 1u);  // a's block 1 must not be overwritten by b's token 6
  EXPECT_NE(table(f.kv, a)[1], table(f.kv, b)[1]);
  EXPECT_EQ(table(f.kv, a)[0], table(f.kv, b)[0]);
}

}  // namespace
}  // namespace effitune::engine
