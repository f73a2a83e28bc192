#include "effitune/search/successive_halving.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>

#include "search_test_util.h"

namespace effitune::search {
namespace {

TEST(SuccessiveHalvingTest, RungsAreGeometricUpToTheMaximum) {
  auto r = rung_fidelities({1, 27, 3, 0});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, (std::vector<double>{1, 3, 9, 27}));
  auto s = rung_fidelities({2, 20, 3, 0});  // 20/3/3 = 2.22 is the lowest rung >= 2
  ASSERT_TRUE(s.ok());
  ASSERT_EQ(s->size(), 3u);
  EXPECT_NEAR((*s)[0], 20.0 / 9, 1e-12);
  EXPECT_FALSE(rung_fidelities({0, 27, 3, 0}).ok());
  EXPECT_FALSE(rung_fidelities({1, 27, 1, 0}).ok());
  EXPECT_FALSE(rung_fidelities({5, 2, 3, 0}).ok());
}

// 27 candidates with true values 0..26 (c26 best); each measurement adds Gaussian noise with
// standard deviation 1 / sqrt(fidelity), as a load test's mean over fidelity-many requests would.
// At fidelity 1 the noise reorders neighbours often, at 27 it rarely does.
Space candidates_space() {
  std::vector<std::string> names;
  for (int i = 0; i < 27; ++i) names.push_back("c" + std::to_string(i));
  Space s;
  EXPECT_TRUE(s.add_categorical("candidate", names).ok());
  return s;
}

double true_value(const Configuration& c) { return std::stod(c.get_string("candidate")->substr(1)); }

TEST(SuccessiveHalvingTest, KeepsTheTrueBestAtTheTopRungDespiteNoisyLowFidelity) {
  int kept_best = 0, single_rung_best = 0;
  const int kSeeds = 20;
  for (int seed = 0; seed < kSeeds; ++seed) {
    auto s = make_successive_halving(candidates_space(), {1, 27, 3, 0}, static_cast<uint64_t>(seed));
    ASSERT_TRUE(s.ok());
    auto noisy = [seed](const Trial& t) {
      std::mt19937_64 gen(static_cast<uint64_t>(seed) * 100003 + static_cast<uint64_t>(t.id));
      const double noise = std::normal_distribution<double>(0.0, 1.0)(gen);
      return testing::Evaluation{TrialStatus::kComplete, true_value(t.configuration) + noise / std::sqrt(*t.fidelity),
                                 {}};
    };
    auto log = testing::run_loop(**s, noisy, 1000);
    ASSERT_TRUE(log.finished);
    std::map<double, std::vector<const TrialOutcome*>> by_rung;
    for (const auto& o : log.outcomes) by_rung[*o.fidelity].push_back(&o);
    ASSERT_EQ(by_rung.size(), 4u);
    EXPECT_EQ(by_rung[1].size(), 27u);
    EXPECT_EQ(by_rung[3].size(), 9u);
    EXPECT_EQ(by_rung[9].size(), 3u);
    ASSERT_EQ(by_rung[27].size(), 1u);
    if (true_value(by_rung[27][0]->configuration) == 26) ++kept_best;
    // The naive alternative: trust rung 0 alone.
    const auto* top0 = *std::max_element(by_rung[1].begin(), by_rung[1].end(),
                                         [](auto* a, auto* b) { return a->objective < b->objective; });
    if (true_value(top0->configuration) == 26) ++single_rung_best;
    // Survivors of each rung were measured at the rung below.
    for (double f : {3.0, 9.0, 27.0}) {
      for (const auto* o : by_rung[f]) {
        const double below = f / 3;
        EXPECT_TRUE(std::any_of(by_rung[below].begin(), by_rung[below].end(),
                                [&](auto* p) { return p->configuration == o->configuration; }));
      }
    }
  }
  // Error analysis: at rung 2 (sd 1/3) c26 beats c25 with P = Phi(1 / 0.47) = 0.983.
  EXPECT_GE(kept_best, kSeeds - 2);
  EXPECT_GT(kept_best, single_rung_best);
}

TEST(SuccessiveHalvingTest, NeverPromotesFailedTrialsAndWaitsForPendingRungs) {
  auto s = make_successive_halving(candidates_space(), {1, 9, 3, 9}, 4);
  ASSERT_TRUE(s.ok());
  std::vector<Trial> rung0;
  for (int i = 0; i < 9; ++i) {
    auto t = (*s)->ask();
    ASSERT_TRUE(t.ok() && t->has_value());
    EXPECT_EQ((**t).fidelity, 1.0);
    rung0.push_back(**t);
  }
  EXPECT_EQ((*s)->ask().status().code(), StatusCode::kUnavailable);
  // The best-valued candidates all fail at rung 0: the survivors are the best of the rest.
  std::vector<double> values;
  for (const auto& t : rung0) values.push_back(true_value(t.configuration));
  std::vector<double> sorted = values;
  std::sort(sorted.begin(), sorted.end());
  for (const auto& t : rung0) {
    const double v = true_value(t.configuration);
    const bool fail = v >= sorted[7];
    EXPECT_TRUE((*s)->tell(testing::outcome_of(t, {fail ? TrialStatus::kFailed : TrialStatus::kComplete, v, {}})).ok());
  }
  std::set<double> promoted;
  for (int i = 0; i < 3; ++i) {
    auto t = (*s)->ask();
    ASSERT_TRUE(t.ok() && t->has_value());
    EXPECT_EQ((**t).fidelity, 3.0);
    promoted.insert(true_value((**t).configuration));
  }
  EXPECT_EQ(promoted, (std::set<double>{sorted[4], sorted[5], sorted[6]}));
}

}  // namespace
}  // namespace effitune::search
