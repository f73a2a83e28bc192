// The objective against hand-worked values (mission.md definitions).
#include "effitune/orchestrator/objective.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace effitune::orchestrator {
namespace {

Interval iv(double v, double lo, double hi, int64_t n = 100) { return Interval{v, lo, hi, n}; }

Indicators pcca(Interval p, Interval c, Interval cm, Interval a) {
  Indicators ind;
  ind.performance = p;
  ind.consistency = c;
  ind.completeness = cm;
  ind.accuracy = a;
  return ind;
}

TEST(Quality, EqualWeightsIsTheGeometricMean) {
  auto q = compute_quality(pcca(iv(0.9, 0.8, 1), iv(0.8, 0.7, 0.9), iv(0.5, 0.4, 0.6), iv(0.6, 0.5, 0.7)), {});
  ASSERT_TRUE(q.ok()) << q.status().to_string();
  // (0.9 * 0.8 * 0.5 * 0.6)^(1/4) = 0.216^0.25, worked by hand: exp(ln(0.216) / 4) = 0.681731...
  EXPECT_NEAR(q->value, 0.6817316, 1e-6);
  EXPECT_NEAR(q->ci_low, std::pow(0.8 * 0.7 * 0.4 * 0.5, 0.25), 1e-12);
  EXPECT_NEAR(q->ci_high, std::pow(1.0 * 0.9 * 0.6 * 0.7, 0.25), 1e-12);
}

TEST(Quality, WeightsAndIcs) {
  QualityWeights w;
  w.performance = 2;
  w.ics = 1;
  Indicators ind = pcca(iv(0.9, 0.9, 0.9), iv(0.8, 0.8, 0.8), iv(0.5, 0.5, 0.5), iv(0.6, 0.6, 0.6));
  EXPECT_FALSE(compute_quality(ind, w).ok());  // ICS weighted but no ratings
  ind.parts["ics"] = iv(0.75, 0.75, 0.75);
  auto q = compute_quality(ind, w);
  ASSERT_TRUE(q.ok());
  // weights 2,1,1,1,1 over 6: 0.9^(2/6) 0.8^(1/6) 0.5^(1/6) 0.6^(1/6) 0.75^(1/6)
  const double want = std::exp((2 * std::log(0.9) + std::log(0.8) + std::log(0.5) + std::log(0.6) + std::log(0.75)) / 6);
  EXPECT_NEAR(q->value, want, 1e-12);
}

TEST(Quality, ZeroAnywhereIsZero) {
  auto q = compute_quality(pcca(iv(1, 1, 1), iv(1, 1, 1), iv(1, 1, 1), iv(0, 0, 0.1)), {});
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->value, 0.0);
  EXPECT_EQ(q->ci_low, 0.0);
  EXPECT_GT(q->ci_high, 0.0);
  EXPECT_FALSE(compute_quality(pcca(iv(1.2, 1, 1), iv(1, 1, 1), iv(1, 1, 1), iv(1, 1, 1)), {}).ok());
}

TEST(Cost, CpuReplicasFromCapacity) {
  GoalSection goal;
  goal.requests_per_s = 10;
  ReplicaMeasure r;
  r.capacity_rps = iv(3, 2.5, 3.5, 5);
  r.cpu_cores_per_replica = 2;
  PriceTable prices;
  prices.usd_per_cpu_core_hour = 0.05;
  auto c = compute_cost(goal, r, prices);
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  // ceil(10 / 3) = 4 replicas x 2 cores x $0.05 = $0.40/h; capacity 3.5 -> 3 replicas ($0.30),
  // capacity 2.5 -> exactly 4 replicas ($0.40), not 5.
  EXPECT_EQ(c->cost.replicas, 4);
  EXPECT_NEAR(c->cost.usd_per_hour, 0.40, 1e-12);
  EXPECT_NEAR(c->usd_per_hour.ci_low, 0.30, 1e-12);
  EXPECT_NEAR(c->usd_per_hour.ci_high, 0.40, 1e-12);
  EXPECT_TRUE(c->goal_met);
  EXPECT_FALSE(c->cost.energy_usd_per_hour.has_value());
}

TEST(Cost, GpuWithEnergyAndUsersGoal) {
  GoalSection goal;
  goal.users = 100;
  goal.think_time_s = 5;  // at most 20 requests/s offered
  ReplicaMeasure r;
  r.capacity_rps = iv(6, 6, 6);
  r.gpus_per_replica = 2;
  r.gpu_model = "H100";
  r.watts_per_replica = 700;
  r.good_output_tokens_per_s = 1000;
  PriceTable prices;
  prices.usd_per_gpu_hour = {{"H100", 2.5}, {"H200", 3.5}};
  prices.usd_per_kwh = 0.10;
  auto c = compute_cost(goal, r, prices);
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  // ceil(20 / 6) = 4 replicas; per replica 2 x 2.5 + 0.7 kW x 0.10 = 5.07 $/h; R = 20.28 $/h.
  EXPECT_EQ(c->cost.replicas, 4);
  EXPECT_NEAR(c->cost.usd_per_hour_per_replica, 5.07, 1e-12);
  EXPECT_NEAR(c->cost.usd_per_hour, 20.28, 1e-12);
  EXPECT_NEAR(*c->cost.energy_usd_per_hour, 0.28, 1e-12);
  // 4 replicas x 1000 tok/s x 3600 s = 14.4M good tokens per hour -> 20.28 / 14.4 = 1.408333 $/1M.
  EXPECT_NEAR(*c->cost.usd_per_million_good_tokens, 20.28 / 14.4, 1e-12);

  r.gpu_model = "A100";
  EXPECT_FALSE(compute_cost(goal, r, prices).ok());
}

TEST(Cost, ZeroCapacityCannotMeetTheGoal) {
  GoalSection goal;
  goal.requests_per_s = 1;
  ReplicaMeasure r;
  r.capacity_rps = iv(0, 0, 0);
  r.cpu_cores_per_replica = 2;
  PriceTable prices;
  prices.usd_per_cpu_core_hour = 0.05;
  auto c = compute_cost(goal, r, prices);
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE(c->goal_met);
  EXPECT_TRUE(std::isinf(c->cost.usd_per_hour));
  Interval e = compute_efficiency(iv(0.8, 0.7, 0.9), c->usd_per_hour);
  EXPECT_EQ(e.value, 0.0);
}

TEST(Efficiency, IntervalArithmetic) {
  Interval e = compute_efficiency(iv(0.65, 0.6, 0.7), iv(0.4, 0.3, 0.4));
  EXPECT_NEAR(e.value, 1.625, 1e-12);
  EXPECT_NEAR(e.ci_low, 1.5, 1e-12);
  EXPECT_NEAR(e.ci_high, 0.7 / 0.3, 1e-12);
}

TEST(Judge, ConstraintsAndQuadrant) {
  ObjectiveSection o;
  o.r0_usd_per_hour = 0.5;
  o.e0 = 1.0;
  o.quality_split = 0.6;
  Judgement j = judge(0.65, 0.4, 1.625, true, o);
  EXPECT_TRUE(j.feasible);
  EXPECT_NEAR(j.constraints["cost"], -0.2, 1e-12);
  EXPECT_NEAR(j.constraints["efficiency"], -0.625, 1e-12);
  EXPECT_EQ(j.quadrant, Quadrant::kScaledProduction);  // R 0.4 >= R0 / 2 = 0.25
  j = judge(0.65, 0.2, 3.25, true, o);
  EXPECT_EQ(j.quadrant, Quadrant::kEfficient);
  j = judge(0.3, 0.2, 1.5, true, o);
  EXPECT_EQ(j.quadrant, Quadrant::kExperimental);
  j = judge(0.3, 0.6, 0.5, true, o);
  EXPECT_EQ(j.quadrant, Quadrant::kBudgetEater);
  EXPECT_FALSE(j.feasible);
  EXPECT_NEAR(j.constraints["cost"], 0.2, 1e-12);
  EXPECT_NEAR(j.constraints["efficiency"], 0.5, 1e-12);
  EXPECT_FALSE(judge(0.9, 0.1, 9, false, o).feasible);  // goal not met
}

TrialRecord trial(int64_t id, double e, double lo, double hi, bool feasible = true,
                  TrialState state = TrialState::kComplete) {
  TrialRecord t;
  t.id = id;
  t.state = state;
  t.efficiency = e;
  t.efficiency_interval = iv(e, lo, hi);
  t.feasible = feasible;
  return t;
}

TEST(Rank, TiesWhenIntervalsOverlap) {
  std::vector<TrialRecord> ts = {trial(0, 1.0, 0.9, 1.1), trial(1, 2.0, 1.8, 2.2), trial(2, 1.9, 1.5, 2.0),
                                 trial(3, 3.0, 2.0, 4.0, false), trial(4, 0.5, 0.4, 0.6)};
  auto r = rank_trials(ts);
  ASSERT_EQ(r.size(), 4u);  // the infeasible trial is not ranked
  // 1 and 2 overlap: both rank 1. 0 lies below both: rank 3. 4 lies below all three: rank 4.
  EXPECT_EQ(r[0].id, 1);
  EXPECT_EQ(r[0].rank, 1);
  EXPECT_EQ(r[1].id, 2);
  EXPECT_EQ(r[1].rank, 1);
  EXPECT_EQ(r[2].id, 0);
  EXPECT_EQ(r[2].rank, 3);
  EXPECT_EQ(r[3].id, 4);
  EXPECT_EQ(r[3].rank, 4);
}

TEST(E1, ReachedAfterPatienceAttemptsWithinNoise) {
  // 0: first feasible. 1: real gain (2.0 [1.9,2.1] above [0.9,1.1]). 2: higher but overlapping (noise).
  // 3: failed. 4: lower. -> 3 attempts without a real gain.
  std::vector<TrialRecord> ts = {trial(0, 1.0, 0.9, 1.1), trial(1, 2.0, 1.9, 2.1), trial(2, 2.05, 1.95, 2.15),
                                 trial(3, 0, 0, 0, false, TrialState::kFailed), trial(4, 1.5, 1.4, 1.6)};
  E1Verdict v = detect_e1(ts, 3, 0.01);
  EXPECT_TRUE(v.reached);
  EXPECT_EQ(v.reached_at_trial, 4);
  EXPECT_EQ(v.best_trial, 2);  // the incumbent moves even within noise
  EXPECT_EQ(v.attempts_without_gain, 3);
  EXPECT_FALSE(detect_e1(ts, 4, 0.01).reached);
  // A later real gain reopens the climb.
  ts.push_back(trial(5, 4.0, 3.5, 4.5));
  v = detect_e1(ts, 3, 0.01);
  EXPECT_FALSE(v.reached);
  EXPECT_EQ(v.best_trial, 5);
  // A gain with separated intervals but below min_relative_gain is noise too.
  std::vector<TrialRecord> small = {trial(0, 1.0, 0.999, 1.001), trial(1, 1.005, 1.004, 1.006)};
  EXPECT_TRUE(detect_e1(small, 1, 0.01).reached);
}

}  // namespace
}  // namespace effitune::orchestrator
