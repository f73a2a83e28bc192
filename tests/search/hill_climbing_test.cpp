#include "effitune/search/hill_climbing.h"

#include <gtest/gtest.h>

#include "search_test_util.h"

namespace effitune::search {
namespace {

testing::Evaluation eval_quadratic(const Trial& t) {
  return {TrialStatus::kComplete, testing::quadratic(t.configuration), {}};
}

HillClimbingOptions quadratic_options() {
  HillClimbingOptions o;
  o.resolution = 21;       // every x
  o.resolutions["y"] = 9;  // -4, -3, ..., 4
  o.resolutions["z"] = 7;  // 1, 2, 4, ..., 64
  return o;
}

// The quadratic is separable and unimodal in each dimension, so coordinate ascent must end at its
// maximum over the levels, from any start: x = 13, y = 1, z = 8, kind b.
TEST(HillClimbingTest, ReachesTheOptimumOfAUnimodalFunctionFromRandomStarts) {
  for (uint64_t seed = 0; seed < 8; ++seed) {
    auto s = make_hill_climbing(testing::quadratic_space(), quadratic_options(), seed);
    ASSERT_TRUE(s.ok());
    auto log = testing::run_loop(**s, eval_quadratic, 300);
    ASSERT_TRUE(log.finished) << "seed " << seed;
    EXPECT_TRUE((*s)->converged());
    EXPECT_LT(log.trials.size(), 150u);
    const auto best = std::max_element(log.outcomes.begin(), log.outcomes.end(),
                                       [](const auto& a, const auto& b) { return a.objective < b.objective; });
    EXPECT_EQ(best->configuration.get_int("x"), 13) << "seed " << seed;
    EXPECT_EQ(best->configuration.get_double("y"), 1.0);
    EXPECT_EQ(best->configuration.get_int("z"), 8);
    EXPECT_EQ(best->configuration.get_string("kind"), "b");
    EXPECT_DOUBLE_EQ(best->objective, testing::kQuadraticMax);
  }
}

TEST(HillClimbingTest, StartsFromTheGivenPointAndStopsWithinMinImprovement) {
  HillClimbingOptions o = quadratic_options();
  o.start = Configuration{{{"x", int64_t{10}}, {"y", int64_t{1}}, {"z", int64_t{8}}, {"kind", "b"}}};
  o.min_improvement = 1.0;  // x: 10 -> 11 gains 0.5, below the threshold
  auto s = make_hill_climbing(testing::quadratic_space(), o, 1);
  ASSERT_TRUE(s.ok());
  auto log = testing::run_loop(**s, eval_quadratic, 300);
  ASSERT_FALSE(log.trials.empty());
  EXPECT_EQ(log.trials[0].configuration.get_int("x"), 10);
  EXPECT_TRUE(log.finished);
  EXPECT_TRUE((*s)->converged());
  // No neighbour improves by more than 1: it converges at the start after one sweep of neighbours.
  EXPECT_EQ(log.trials.size(), 1u + 2 + 2 + 2 + 2);
}

TEST(HillClimbingTest, WalksThroughConditionalChildren) {
  Space s;
  ASSERT_TRUE(s.add_categorical("decoding", {"greedy", "beam"}).ok());
  ASSERT_TRUE(s.add_integer("beam_width", 1, 8, 1, false, Condition{"decoding", {"beam"}}).ok());
  HillClimbingOptions o;
  o.start = Configuration{{{"decoding", "greedy"}}};
  auto h = make_hill_climbing(s, o, 5);
  ASSERT_TRUE(h.ok());
  auto f = [](const Trial& t) {
    const auto w = t.configuration.get_int("beam_width");
    return testing::Evaluation{TrialStatus::kComplete, w ? 10.0 - std::abs(double(*w) - 6) : 0.0, {}};
  };
  auto log = testing::run_loop(**h, f, 100);
  EXPECT_TRUE(log.finished);
  EXPECT_DOUBLE_EQ(testing::best_feasible(log.outcomes), 10.0);
}

TEST(HillClimbingTest, WaitsForPendingOutcomes) {
  auto s = make_hill_climbing(testing::quadratic_space(), quadratic_options(), 2);
  ASSERT_TRUE(s.ok());
  auto first = (*s)->ask();
  ASSERT_TRUE(first.ok() && first->has_value());
  auto second = (*s)->ask();
  EXPECT_EQ(second.status().code(), StatusCode::kUnavailable);
}

TEST(HillClimbingTest, RejectsAnInvalidStart) {
  HillClimbingOptions o;
  o.start = Configuration{{{"x", int64_t{99}}}};
  auto s = make_hill_climbing(testing::quadratic_space(), o, 1);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("start point"), std::string::npos);
}

}  // namespace
}  // namespace effitune::search
