#include "effitune/search/grid_search.h"

#include <gtest/gtest.h>

#include <set>

#include "search_test_util.h"

namespace effitune::search {
namespace {

using testing::quadratic;
using testing::quadratic_space;

GridOptions quadratic_grid() {
  GridOptions o;
  o.resolution = 9;              // y: -4, -3, ..., 4
  o.resolutions["x"] = 21;       // every integer
  o.resolutions["z"] = 7;        // 1, 2, 4, ..., 64
  return o;
}

TEST(GridSearchTest, LevelsAreTheFullFactorial) {
  auto points = grid_points(quadratic_space(), quadratic_grid());
  ASSERT_TRUE(points.ok());
  EXPECT_EQ(points->size(), 21u * 9u * 7u * 3u);
  std::set<int64_t> zs;
  std::set<double> ys;
  for (const auto& p : *points) {
    zs.insert(*p.get_int("z"));
    ys.insert(*p.get_double("y"));
  }
  EXPECT_EQ(zs, (std::set<int64_t>{1, 2, 4, 8, 16, 32, 64}));
  EXPECT_EQ(ys, (std::set<double>{-4, -3, -2, -1, 0, 1, 2, 3, 4}));
}

TEST(GridSearchTest, FindsTheExactOptimumAndThenStops) {
  auto strategy = make_grid_search(quadratic_space(), quadratic_grid(), 1);
  ASSERT_TRUE(strategy.ok());
  auto log = testing::run_loop(**strategy, [](const Trial& t) { return testing::Evaluation{TrialStatus::kComplete, quadratic(t.configuration), {}}; },
                               10000);
  EXPECT_TRUE(log.finished);
  EXPECT_EQ(log.trials.size(), 3969u);
  EXPECT_DOUBLE_EQ(testing::best_feasible(log.outcomes), testing::kQuadraticMax);
  std::set<std::string> keys;
  for (const auto& t : log.trials) keys.insert(t.configuration.key());
  EXPECT_EQ(keys.size(), log.trials.size());  // no point twice
}

TEST(GridSearchTest, RespectsConditionals) {
  Space s;
  ASSERT_TRUE(s.add_categorical("decoding", {"greedy", "beam"}).ok());
  ASSERT_TRUE(s.add_integer("beam_width", 2, 8, 2, false, Condition{"decoding", {"beam"}}).ok());
  ASSERT_TRUE(s.add_float("t", 0, 1).ok());
  GridOptions o;
  o.resolution = 4;
  auto points = grid_points(s, o);
  ASSERT_TRUE(points.ok());
  EXPECT_EQ(points->size(), 4u + 4u * 4u);  // greedy x 4 t; beam x 4 widths x 4 t
  for (const auto& p : *points) EXPECT_TRUE(s.validate(p).ok()) << p.key();
}

TEST(GridSearchTest, ShuffleVisitsTheSamePointsInASeededOrder) {
  GridOptions o = quadratic_grid();
  o.shuffle = true;
  auto a = make_grid_search(quadratic_space(), o, 7);
  auto b = make_grid_search(quadratic_space(), o, 8);
  ASSERT_TRUE(a.ok() && b.ok());
  auto first = (*a)->ask();
  auto other = (*b)->ask();
  ASSERT_TRUE(first.ok() && other.ok());
  EXPECT_NE((**first).configuration, (**other).configuration);
}

TEST(GridSearchTest, RejectsBadOptions) {
  GridOptions o;
  o.resolutions["nope"] = 3;
  EXPECT_NE(grid_points(quadratic_space(), o).status().message().find("resolution.nope"), std::string::npos);
  o = {};
  o.resolution = 0;
  EXPECT_FALSE(grid_points(quadratic_space(), o).ok());
  o = {};
  o.max_points = 100;
  EXPECT_EQ(grid_points(quadratic_space(), o).status().code(), StatusCode::kResourceExhausted);
}

}  // namespace
}  // namespace effitune::search
