// Arrival schedules: exact constant times, and the published moments of Poisson and Gamma processes.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "effitune/probes/arrivals.h"

namespace effitune::probes {
namespace {

struct Moments {
  double mean = 0, cv = 0;
};
Moments gap_moments(const std::vector<double>& t) {
  std::vector<double> g;
  for (size_t i = 1; i < t.size(); ++i) g.push_back(t[i] - t[i - 1]);
  double m = 0;
  for (double x : g) m += x;
  m /= g.size();
  double v = 0;
  for (double x : g) v += (x - m) * (x - m);
  v /= g.size() - 1;
  return {m, std::sqrt(v) / m};
}

TEST(Arrivals, ConstantIsExact) {
  ArrivalSpec s;
  s.kind = ArrivalKind::kConstant;
  s.rate_per_s = 4;
  auto t = schedule_arrivals(s, 2.0, 1);
  ASSERT_TRUE(t.ok());
  ASSERT_EQ(t->size(), 8u);
  for (size_t i = 0; i < 8; ++i) EXPECT_DOUBLE_EQ((*t)[i], i * 0.25);
}

TEST(Arrivals, PoissonGapsAreExponential) {
  ArrivalSpec s;
  s.kind = ArrivalKind::kPoisson;
  s.rate_per_s = 100;
  auto t = schedule_arrivals(s, 200.0, 42);
  ASSERT_TRUE(t.ok());
  // 20,000 expected arrivals: the count's sd is sqrt(20000) ~ 141; 5 sd bounds.
  EXPECT_NEAR(static_cast<double>(t->size()), 20000, 710);
  const Moments m = gap_moments(*t);
  EXPECT_NEAR(m.mean, 0.01, 0.0004);
  EXPECT_NEAR(m.cv, 1.0, 0.05);  // an exponential has CV 1
}

TEST(Arrivals, GammaHasTheRequestedBurstiness) {
  for (double cv : {0.5, 2.0, 4.0}) {
    ArrivalSpec s;
    s.kind = ArrivalKind::kGamma;
    s.rate_per_s = 50;
    s.cv = cv;
    auto t = schedule_arrivals(s, 400.0, 7);
    ASSERT_TRUE(t.ok());
    const Moments m = gap_moments(*t);
    EXPECT_NEAR(m.mean, 0.02, 0.02 * (0.05 + 0.03 * cv)) << cv;
    EXPECT_NEAR(m.cv, cv, cv * 0.1) << cv;
  }
}

TEST(Arrivals, RampFollowsTheIntegratedRate) {
  // Rate rises linearly 0 -> 200/s over 10 s: Lambda(t) = 10 t^2, so 250 arrivals by 5 s, 1000 by 10 s.
  ArrivalSpec s;
  s.kind = ArrivalKind::kConstant;
  s.phases = {{10.0, 0.0, 200.0}};
  auto t = schedule_arrivals(s, 10.0, 1);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->size(), 1000u);
  const auto half = std::lower_bound(t->begin(), t->end(), 5.0) - t->begin();
  EXPECT_NEAR(static_cast<double>(half), 250, 1);
  // Arrival k (0-based, the first at 0) is at sqrt(k / 10).
  EXPECT_NEAR((*t)[490], std::sqrt(49.0), 1e-9);
}

TEST(Arrivals, BurstPhases) {
  auto phases = parse_rate_phases("5:10,50:2,5:10");
  ASSERT_TRUE(phases.ok());
  ArrivalSpec s;
  s.kind = ArrivalKind::kConstant;
  s.phases = *phases;
  auto t = schedule_arrivals(s, 22.0, 1);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->size(), 50u + 100u + 50u);
  const auto in_burst = std::count_if(t->begin(), t->end(), [](double x) { return x >= 10 && x < 12; });
  EXPECT_EQ(in_burst, 100);
}

TEST(Arrivals, SeedsAreReproducibleAndDistinct) {
  ArrivalSpec s;
  s.rate_per_s = 10;
  EXPECT_EQ(schedule_arrivals(s, 10, 3).value(), schedule_arrivals(s, 10, 3).value());
  EXPECT_NE(schedule_arrivals(s, 10, 3).value(), schedule_arrivals(s, 10, 4).value());
}

TEST(Arrivals, Errors) {
  ArrivalSpec s;
  s.rate_per_s = 0;
  EXPECT_EQ(schedule_arrivals(s, 1, 1).status().code(), StatusCode::kInvalidArgument);
  s.rate_per_s = 1;
  EXPECT_EQ(schedule_arrivals(s, -1, 1).status().code(), StatusCode::kInvalidArgument);
  s.kind = ArrivalKind::kGamma;
  s.cv = 0;
  EXPECT_EQ(schedule_arrivals(s, 1, 1).status().code(), StatusCode::kInvalidArgument);
  s.kind = ArrivalKind::kConstant;
  s.rate_per_s = 1000;
  EXPECT_EQ(schedule_arrivals(s, 10, 1, 100).status().code(), StatusCode::kResourceExhausted);
  EXPECT_FALSE(parse_rate_phases("5").ok());
  EXPECT_FALSE(parse_rate_phases("5:0").ok());
  EXPECT_FALSE(parse_rate_phases("-5:1").ok());
  EXPECT_FALSE(parse_rate_phases("").ok());
  EXPECT_FALSE(parse_arrival_kind("uniform").ok());
}

}  // namespace
}  // namespace effitune::probes
