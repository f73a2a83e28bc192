// RankThreads (engine/src/tp/rank_threads.h): every rank's function runs once per run(), and the
// error returned is the cause before its consequences (kDeadlineExceeded: an exchange that gave up
// waiting for the failed rank; kCancelled: a rank stopped at the CUDA step gate), lowest rank first.
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <vector>

#include "../../engine/src/tp/rank_threads.h"

namespace effitune::engine::tp {
namespace {

TEST(RankThreads, EveryRankRunsOncePerCall) {
  RankThreads threads(4);
  std::vector<std::atomic<int>> runs(4);
  for (int call = 0; call < 200; ++call)
    ASSERT_TRUE(threads.run([&](int32_t r) {
      ++runs[static_cast<size_t>(r)];
      return Status{};
    }).ok());
  for (auto& n : runs) EXPECT_EQ(n.load(), 200);
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
