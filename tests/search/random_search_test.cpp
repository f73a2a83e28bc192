#include "effitune/search/random_search.h"

#include <gtest/gtest.h>

#include <set>

#include "search_test_util.h"

namespace effitune::search {
namespace {

testing::Evaluation eval_quadratic(const Trial& t) {
  return {TrialStatus::kComplete, testing::quadratic(t.configuration), {}};
}

// The quadratic spans 128 units over the space (from -126 at x = 0, y = -4, z = 64, kind a, to 2).
// With 200 trials random search gets within 2 of the top, 1.6% of that span, in the median over seeds.
TEST(RandomSearchTest, GetsCloseToTheOptimumIn200Trials) {
  std::vector<double> regrets;
  for (uint64_t seed = 0; seed < 10; ++seed) {
    auto s = make_random_search(testing::quadratic_space(), {200}, seed);
    ASSERT_TRUE(s.ok());
    auto log = testing::run_loop(**s, eval_quadratic, 1000);
    EXPECT_TRUE(log.finished);
    EXPECT_EQ(log.trials.size(), 200u);
    regrets.push_back(testing::kQuadraticMax - testing::best_feasible(log.outcomes));
  }
  EXPECT_LT(testing::median(regrets), 2.0);
  EXPECT_GT(testing::median(regrets), 0.0);  // and it is not exact: a baseline, not an oracle
}

TEST(RandomSearchTest, ExhaustsASmallSpaceWithoutRepeats) {
  Space s;
  ASSERT_TRUE(s.add_categorical("a", {"x", "y", "z"}).ok());
  ASSERT_TRUE(s.add_integer("b", 1, 4).ok());
  auto strategy = make_random_search(s, {}, 3);
  ASSERT_TRUE(strategy.ok());
  auto log = testing::run_loop(
      **strategy, [](const Trial& t) { return testing::Evaluation{TrialStatus::kComplete, double(*t.configuration.get_int("b")), {}}; },
      100);
  EXPECT_TRUE(log.finished);
  std::set<std::string> keys;
  for (const auto& t : log.trials) keys.insert(t.configuration.key());
  EXPECT_EQ(log.trials.size(), 12u);
  EXPECT_EQ(keys.size(), 12u);
}

}  // namespace
}  // namespace effitune::search
