// RankThreads (engine/src/tp/rank_threads.h): every rank's function runs once per run(), and the
// error returned is the cause before its consequences (kDeadlineExceeded: an exchange that gave up
// waiting for the failed rank; kCancelled: a rank stopped at the CUDA step gate), lowest rank first.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "../../engine/src/tp/rank_threads.h"

namespace effitune::engine::tp {
namespace {

// Blocking at once (the CPU ranks) and polling first (the CUDA ranks: spin_wait.h), including calls
// far apart, so that the pollers give up and sleep between them.
TEST(RankThreads, EveryRankRunsOncePerCall) {
  for (const auto spin : {std::chrono::microseconds{0}, std::chrono::microseconds{200}}) {
    RankThreads threads(4, spin);
    std::vector<std::atomic<int>> runs(4);
    for (int call = 0; call < 200; ++call) {
      if (call % 50 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));
      ASSERT_TRUE(threads.run([&](int32_t r) {
        ++runs[static_cast<size_t>(r)];
        return Status{};
      }).ok());
    }
    for (auto& n : runs) EXPECT_EQ(n.load(), 200) << "spin " << spin.count() << " us";
  }
}

TEST(RankThreads, ReturnsTheCauseBeforeTheRanksThatStoppedBecauseOfIt) {
  RankThreads threads(3);
  const Status st = threads.run([](int32_t r) -> Status {
    if (r == 2) return resource_exhausted("rank 2: out of device memory");
    return cancelled("another tensor-parallel rank could not prepare the step");
  });
  EXPECT_EQ(st.code(), StatusCode::kResourceExhausted) << st.to_string();
  const Status two = threads.run([](int32_t r) -> Status {
    return r == 0 ? Status{} : internal_error("rank " + std::to_string(r));
  });
  EXPECT_EQ(two.message(), "rank 1");  // the lowest failing rank
  EXPECT_EQ(threads.run([](int32_t r) { return r == 1 ? cancelled("x") : Status{}; }).code(), StatusCode::kCancelled);
  // A launch that failed on rank 2 and the exchanges that then gave up waiting for it on 0 and 1.
  const Status launch = threads.run([](int32_t r) -> Status {
    return r == 2 ? internal_error("rank 2: launch failed") : deadline_exceeded("waited for rank 2");
  });
  EXPECT_EQ(launch.code(), StatusCode::kInternal) << launch.to_string();
}

}  // namespace
}  // namespace effitune::engine::tp
