// The in-process communicator (engine/src/tp/inprocess_comm.cpp) on its own: every rank gets the
// rank-order f32 sum bit for bit, over many calls in a row of changing sizes (its staging buffers
// alternate between calls) while the ranks drift apart in time, and ranks that pass different counts
// all get an error and stay in step for the next call.
#include <gtest/gtest.h>

#include <chrono>
#include <random>
#include <thread>
#include <vector>

#include "effitune/engine/communicator.h"

namespace effitune::engine {
namespace {

// inputs[call][rank]: a reproducible vector of `size` floats whose sums round (mixed magnitudes).
std::vector<float> values(size_t size, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> v(size);
  for (size_t i = 0; i < size; ++i) v[i] = d(rng) * (i % 3 == 0 ? 1e4f : 1e-3f);
  return v;
}

TEST(InProcessCommunicator, EveryRankGetsTheRankOrderSumOverManyCallsWhileRanksDrift) {
  for (const int32_t ranks : {2, 3, 4}) {
    auto group = make_in_process_group(ranks);
    ASSERT_EQ(group.size(), static_cast<size_t>(ranks));
    const std::vector<size_t> sizes = {4096, 1, 0, 70000, 4096, 5, 4096, 12345};
    constexpr int kCalls = 200;
    std::vector<std::vector<std::vector<float>>> out(kCalls, std::vector<std::vector<float>>(static_cast<size_t>(ranks)));
    std::vector<int> errors(static_cast<size_t>(ranks), 0);
    std::vector<std::thread> threads;
    for (int32_t r = 0; r < ranks; ++r)
      threads.emplace_back([&, r] {
        for (int c = 0; c < kCalls; ++c) {
          std::vector<float> v = values(sizes[static_cast<size_t>(c) % sizes.size()], static_cast<uint32_t>(1000 * c + r));
          // One rank at a time falls behind, so the others run ahead into the next call's buffers.
          if (c % 17 == r) std::this_thread::sleep_for(std::chrono::microseconds(300));
          if (!group[static_cast<size_t>(r)]->all_reduce_sum(v.data(), static_cast<int64_t>(v.size()), nullptr).ok())
            ++errors[static_cast<size_t>(r)];
          out[static_cast<size_t>(c)][static_cast<size_t>(r)] = std::move(v);
        }
      });
    for (auto& t : threads) t.join();
    for (int32_t r = 0; r < ranks; ++r) EXPECT_EQ(errors[static_cast<size_t>(r)], 0) << ranks << " ranks, rank " << r;
    for (int c = 0; c < kCalls; ++c) {
      const size_t size = sizes[static_cast<size_t>(c) % sizes.size()];
      std::vector<float> want = values(size, static_cast<uint32_t>(1000 * c));
      for (int32_t q = 1; q < ranks; ++q) {
        const std::vector<float> v = values(size, static_cast<uint32_t>(1000 * c + q));
        for (size_t i = 0; i < size; ++i) want[i] += v[i];
      }
      for (int32_t r = 0; r < ranks; ++r) {
        const auto& got = out[static_cast<size_t>(c)][static_cast<size_t>(r)];
        ASSERT_EQ(got.size(), size);
        size_t wrong = 0;
        for (size_t i = 0; i < size; ++i) wrong += got[i] != want[i];
        EXPECT_EQ(wrong, 0u) << ranks << " ranks, call " << c << ", rank " << r;
      }
    }
  }
}

TEST(InProcessCommunicator, DifferentCountsAreAnErrorOnEveryRankAndTheNextCallWorks) {
  auto group = make_in_process_group(3);
  std::vector<Status> first(3), second(3);
  std::vector<std::vector<float>> after(3);
  std::vector<std::thread> threads;
  for (int32_t r = 0; r < 3; ++r)
    threads.emplace_back([&, r] {
      std::vector<float> v(r == 1 ? 8 : 16, 1.0f);
      first[static_cast<size_t>(r)] = group[static_cast<size_t>(r)]->all_reduce_sum(v.data(), static_cast<int64_t>(v.size()), nullptr);
      after[static_cast<size_t>(r)].assign(4, static_cast<float>(r + 1));
      second[static_cast<size_t>(r)] = group[static_cast<size_t>(r)]->all_reduce_sum(after[static_cast<size_t>(r)].data(), 4, nullptr);
    });
  for (auto& t : threads) t.join();
  for (int32_t r = 0; r < 3; ++r) {
    EXPECT_EQ(first[static_cast<size_t>(r)].code(), StatusCode::kInternal) << first[static_cast<size_t>(r)].to_string();
    EXPECT_NE(first[static_cast<size_t>(r)].message().find("different counts"), std::string::npos);
    EXPECT_TRUE(second[static_cast<size_t>(r)].ok()) << second[static_cast<size_t>(r)].to_string();
    EXPECT_EQ(after[static_cast<size_t>(r)], std::vector<float>(4, 6.0f)) << "rank " << r;
  }
}

}  // namespace
}  // namespace effitune::engine
