// StepGate (engine/src/tp/step_gate.h): the CUDA ranks' all-or-nothing meeting point before a step's
// first launch. Every rank must learn the same answer each round, and a rank that was not ready
// must stop all of them.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "../../engine/src/tp/step_gate.h"

namespace effitune::engine::tp {
namespace {

// ranks threads x rounds rounds; in round r, rank (r % ranks) is not ready when r % 3 == 0.
void run_rounds(int ranks, int rounds) {
  StepGate gate(ranks);
  std::vector<std::vector<char>> got(static_cast<size_t>(ranks), std::vector<char>(static_cast<size_t>(rounds)));
  std::vector<std::thread> threads;
  for (int q = 0; q < ranks; ++q)
    threads.emplace_back([&, q] {
      for (int r = 0; r < rounds; ++r) {
        const bool ready = !(r % 3 == 0 && r % ranks == q);
        got[static_cast<size_t>(q)][static_cast<size_t>(r)] = gate.arrive(ready) ? 1 : 0;
      }
    });
  for (auto& t : threads) t.join();
  for (int r = 0; r < rounds; ++r)
    for (int q = 0; q < ranks; ++q)
      ASSERT_EQ(got[static_cast<size_t>(q)][static_cast<size_t>(r)], r % 3 == 0 ? 0 : 1)
          << ranks << " ranks, round " << r << ", rank " << q;
}

TEST(StepGate, EveryRankLearnsWhetherAllWereReadyEveryRound) {
  for (int ranks : {1, 2, 4, 8}) run_rounds(ranks, 3000);
}

TEST(StepGate, NoRankLeavesBeforeTheLastArrives) {
  StepGate gate(3);
  std::atomic<int> left{0};
  std::thread a([&] { gate.arrive(true), ++left; });
  std::thread b([&] { gate.arrive(true), ++left; });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(left.load(), 0);  // two of three arrived: both still wait
  EXPECT_TRUE(gate.arrive(true));
  a.join();
  b.join();
  EXPECT_EQ(left.load(), 2);
}

}  // namespace
}  // namespace effitune::engine::tp
