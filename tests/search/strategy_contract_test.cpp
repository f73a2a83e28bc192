// Behaviour every strategy owes the study: determinism, resume by replay, failed-trial handling.
#include <gtest/gtest.h>

#include <ostream>
#include <set>

#include "effitune/search/factory.h"
#include "search_test_util.h"

namespace effitune::search {
namespace {

struct Case {
  const char* name;
  StrategyParams params;
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

std::vector<Case> cases() {
  return {
      {"grid", {{"resolution", int64_t{5}}, {"shuffle", int64_t{1}}}},
      {"random", {}},
      {"hill", {{"resolution", int64_t{21}}}},
      {"halving", {{"min_fidelity", int64_t{1}}, {"max_fidelity", int64_t{27}}, {"eta", int64_t{3}}}},  // 40 trials
      {"tpe", {{"n_startup_trials", int64_t{5}}}},
  };
}

// Deterministic in the trial id too, so the same history gives the same outcome on replay.
testing::Evaluation noisy_quadratic(const Trial& t) {
  const double f = t.fidelity.value_or(27.0);
  const double noise = std::sin(static_cast<double>(t.id) * 12.9898) / std::sqrt(f);
  return {TrialStatus::kComplete, testing::quadratic(t.configuration) + 0.1 * noise, {}};
}

class StrategyContractTest : public ::testing::TestWithParam<Case> {
 protected:
  std::unique_ptr<Strategy> make(uint64_t seed) {
    auto s = make_strategy(GetParam().name, GetParam().params, testing::quadratic_space(), seed);
    EXPECT_TRUE(s.ok()) << s.status().to_string();
    return std::move(s).value();
  }
};

std::vector<std::string> keys(const testing::RunLog& log) {
  std::vector<std::string> out;
  for (const auto& t : log.trials) out.push_back(t.configuration.key() + "@" + std::to_string(t.fidelity.value_or(0)));
  return out;
}

TEST_P(StrategyContractTest, SameSeedGivesTheSameSequence) {
  auto a = testing::run_loop(*make(11), noisy_quadratic, 40);
  auto b = testing::run_loop(*make(11), noisy_quadratic, 40);
  ASSERT_FALSE(a.trials.empty());
  EXPECT_EQ(keys(a), keys(b));
  auto c = testing::run_loop(*make(12), noisy_quadratic, 40);
  EXPECT_NE(keys(a), keys(c));
}

TEST_P(StrategyContractTest, ResumesByReplayingOutcomes) {
  auto full = testing::run_loop(*make(5), noisy_quadratic, 40);
  ASSERT_GE(full.trials.size(), 20u);
  for (size_t cut : {size_t{1}, size_t{7}, size_t{19}}) {
    auto resumed = make(5);
    for (size_t i = 0; i < cut; ++i) ASSERT_TRUE(resumed->tell(full.outcomes[i]).ok());
    auto rest = testing::run_loop(*resumed, noisy_quadratic, static_cast<int>(full.trials.size() - cut));
    ASSERT_EQ(rest.trials.size(), full.trials.size() - cut) << "cut " << cut;
    for (size_t i = 0; i < rest.trials.size(); ++i) {
      EXPECT_EQ(rest.trials[i].id, full.trials[cut + i].id);
      EXPECT_EQ(rest.trials[i].configuration, full.trials[cut + i].configuration) << "cut " << cut << " i " << i;
      EXPECT_EQ(rest.trials[i].fidelity, full.trials[cut + i].fidelity);
    }
  }
}

// The engine crashes (say, out of memory) whenever x > 14: the strategy must record that, never
// propose a failed configuration again, and still find a good working one.
TEST_P(StrategyContractTest, HandlesFailedTrials) {
  auto failing = [](const Trial& t) {
    if (*t.configuration.get_int("x") > 14) return testing::Evaluation{TrialStatus::kFailed, 0, {}};
    return noisy_quadratic(t);
  };
  for (uint64_t seed = 0; seed < 3; ++seed) {
    auto s = make(seed);
    auto log = testing::run_loop(*s, failing, 150);
    std::set<std::string> failed;
    for (size_t i = 0; i < log.outcomes.size(); ++i) {
      const auto& o = log.outcomes[i];
      if (o.status != TrialStatus::kFailed) continue;
      const std::string key = o.configuration.key() + "@" + std::to_string(o.fidelity.value_or(0));
      EXPECT_TRUE(failed.insert(key).second) << GetParam().name << " re-proposed failed " << key;
    }
    EXPECT_GT(testing::best_feasible(log.outcomes), -6.0) << GetParam().name << " seed " << seed;
  }
}

TEST_P(StrategyContractTest, RejectsOutcomesFromAnotherSpace) {
  auto s = make(1);
  TrialOutcome o;
  o.configuration = Configuration{{{"x", int64_t{3}}}};
  Status st = s->tell(o);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("trial 0"), std::string::npos) << st.message();
}

INSTANTIATE_TEST_SUITE_P(AllStrategies, StrategyContractTest, ::testing::ValuesIn(cases()),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(FactoryTest, ClearErrorsForUnknownNamesAndParameters) {
  const Space space = testing::quadratic_space();
  auto unknown = make_strategy("annealing", {}, space, 1);
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("unknown strategy 'annealing'; use one of: grid, random, hill, halving, tpe"),
            std::string::npos);
  auto typo = make_strategy("tpe", {{"n_startup", int64_t{3}}}, space, 1);
  ASSERT_FALSE(typo.ok());
  EXPECT_NE(typo.status().message().find("unknown parameter 'n_startup'"), std::string::npos);
  EXPECT_NE(typo.status().message().find("n_startup_trials"), std::string::npos);
  auto type = make_strategy("halving", {{"eta", std::string("three")}}, space, 1);
  ASSERT_FALSE(type.ok());
  EXPECT_NE(type.status().message().find("'eta' expects a number"), std::string::npos);
  auto range = make_strategy("halving", {{"eta", 1.0}}, space, 1);
  EXPECT_NE(range.status().message().find("eta must be > 1"), std::string::npos);
  auto start = make_strategy("hill", {{"start.x", int64_t{3}}}, space, 1);  // incomplete start
  EXPECT_NE(start.status().message().find("start point"), std::string::npos);
  for (const auto& name : strategy_names()) {
    auto s = make_strategy(name, {}, space, 1);
    ASSERT_TRUE(s.ok()) << name << ": " << s.status().to_string();
    EXPECT_EQ((*s)->name(), name);
  }
}

}  // namespace
}  // namespace effitune::search
