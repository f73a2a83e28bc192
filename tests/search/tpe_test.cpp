#include "effitune/search/tpe.h"

#include <gtest/gtest.h>

#include "effitune/search/random_search.h"
#include "search_test_util.h"

namespace effitune::search {
namespace {

constexpr int kBudget = 60;
constexpr int kSeeds = 15;

Space branin_space() {
  Space s;
  EXPECT_TRUE(s.add_float("x1", -5, 10).ok());
  EXPECT_TRUE(s.add_float("x2", 0, 15).ok());
  return s;
}

testing::Evaluation eval_branin(const Trial& t) {
  return {TrialStatus::kComplete, -testing::branin(*t.configuration.get_double("x1"), *t.configuration.get_double("x2")), {}};
}

Space hartmann_space() {
  Space s;
  for (const char* n : {"a", "b", "c"}) EXPECT_TRUE(s.add_float(n, 0, 1).ok());
  return s;
}

testing::Evaluation eval_hartmann(const Trial& t) {
  const auto& c = t.configuration;
  return {TrialStatus::kComplete, -testing::hartmann3(*c.get_double("a"), *c.get_double("b"), *c.get_double("c")), {}};
}

// Median over seeds of the regret (optimum minus best found) after kBudget trials.
template <typename Make>
double median_regret(Make make, const testing::Objective& f, double optimum) {
  std::vector<double> regrets;
  for (uint64_t seed = 0; seed < kSeeds; ++seed) {
    auto s = make(seed);
    EXPECT_TRUE(s.ok());
    auto log = testing::run_loop(**s, f, kBudget);
    EXPECT_EQ(log.trials.size(), static_cast<size_t>(kBudget));
    regrets.push_back(optimum - testing::best_feasible(log.outcomes));
  }
  return testing::median(regrets);
}

TEST(TpeTest, BeatsRandomOnBranin) {
  const double tpe = median_regret([](uint64_t seed) { return make_tpe(branin_space(), {}, seed); }, eval_branin,
                                   -testing::kBraninMin);
  const double rnd = median_regret([](uint64_t seed) { return make_random_search(branin_space(), {}, seed); },
                                   eval_branin, -testing::kBraninMin);
  EXPECT_LT(tpe, rnd) << "tpe " << tpe << " random " << rnd;
  EXPECT_LT(tpe, 0.5);
}

TEST(TpeTest, BeatsRandomOnHartmann3) {
  const double tpe = median_regret([](uint64_t seed) { return make_tpe(hartmann_space(), {}, seed); }, eval_hartmann,
                                   -testing::kHartmann3Min);
  const double rnd = median_regret([](uint64_t seed) { return make_random_search(hartmann_space(), {}, seed); },
                                   eval_hartmann, -testing::kHartmann3Min);
  EXPECT_LT(tpe, rnd) << "tpe " << tpe << " random " << rnd;
}

// Branin under x2 >= 7: two of its three global minima become infeasible. The feasible optimum is
// the minimum at (-pi, 12.275); the test checks it against a dense float64 scan of the feasible set.
testing::Evaluation eval_constrained(const Trial& t) {
  testing::Evaluation e = eval_branin(t);
  e.constraints["x2_at_least_7"] = (7.0 - *t.configuration.get_double("x2")) / 15.0;
  return e;
}

TEST(TpeTest, RespectsAConstraint) {
  double reference = -INFINITY;
  for (int i = 0; i <= 1500; ++i) {
    for (int j = 0; j <= 800; ++j) {
      const double x1 = -5 + 15.0 * i / 1500, x2 = 7 + 8.0 * j / 800;
      reference = std::max(reference, -testing::branin(x1, x2));
    }
  }
  ASSERT_NEAR(reference, -testing::kBraninMin, 1e-3);
  std::vector<double> tpe_regret, tpe_infeasible, rnd_infeasible;
  for (uint64_t seed = 0; seed < kSeeds; ++seed) {
    auto tpe = make_tpe(branin_space(), {}, seed);
    auto rnd = make_random_search(branin_space(), {}, seed);
    ASSERT_TRUE(tpe.ok() && rnd.ok());
    auto tl = testing::run_loop(**tpe, eval_constrained, kBudget);
    auto rl = testing::run_loop(**rnd, eval_constrained, kBudget);
    tpe_regret.push_back(reference - testing::best_feasible(tl.outcomes));
    auto infeasible_after_startup = [](const testing::RunLog& log) {
      int n = 0;
      for (size_t i = 10; i < log.outcomes.size(); ++i) n += !is_feasible_complete(log.outcomes[i]);
      return static_cast<double>(n) / static_cast<double>(log.outcomes.size() - 10);
    };
    tpe_infeasible.push_back(infeasible_after_startup(tl));
    rnd_infeasible.push_back(infeasible_after_startup(rl));
  }
  EXPECT_LT(testing::median(tpe_regret), 0.5);
  // Random lands in x2 < 7 with probability 7/15; TPE learns to avoid it.
  EXPECT_LT(testing::median(tpe_infeasible), 0.5 * testing::median(rnd_infeasible))
      << testing::median(tpe_infeasible) << " vs " << testing::median(rnd_infeasible);
}

TEST(TpeTest, HandlesCategoricalAndConditionalDimensions) {
  Space s;
  ASSERT_TRUE(s.add_categorical("decoding", {"greedy", "sample", "beam"}).ok());
  ASSERT_TRUE(s.add_integer("beam_width", 1, 16, 1, false, Condition{"decoding", {"beam"}}).ok());
  ASSERT_TRUE(s.add_float("x", 0, 1).ok());
  auto f = [](const Trial& t) {
    const auto& c = t.configuration;
    double v = -std::abs(*c.get_double("x") - 0.3);
    if (auto w = c.get_int("beam_width")) v += 1.0 - std::abs(double(*w) - 11) / 16;
    return testing::Evaluation{TrialStatus::kComplete, v, {}};
  };
  int hits = 0;
  for (uint64_t seed = 0; seed < 5; ++seed) {
    auto tpe = make_tpe(s, {}, seed);
    ASSERT_TRUE(tpe.ok());
    auto log = testing::run_loop(**tpe, f, kBudget);
    for (const auto& o : log.outcomes) EXPECT_TRUE(s.validate(o.configuration).ok());
    int beam = 0;
    for (size_t i = 30; i < log.outcomes.size(); ++i) beam += log.outcomes[i].configuration.get_string("decoding") == "beam";
    hits += beam >= 15;  // of the last 30 trials, at least half in the better branch
    EXPECT_GT(testing::best_feasible(log.outcomes), 0.85);
  }
  EXPECT_GE(hits, 4);
}

TEST(TpeTest, RejectsBadOptions) {
  TpeOptions o;
  o.gamma_fraction = 0;
  EXPECT_FALSE(make_tpe(branin_space(), o, 1).ok());
  o = {};
  o.n_ei_candidates = 0;
  EXPECT_FALSE(make_tpe(branin_space(), o, 1).ok());
}

}  // namespace
}  // namespace effitune::search
