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
  // The device's full name is priced by the key it contains; a one-entry table prices any GPU.
  r.gpu_model = "NVIDIA H200 141GB";
  auto full = compute_cost(goal, r, prices);
  ASSERT_TRUE(full.ok()) << full.status().to_string();
  EXPECT_NEAR(full->cost.usd_per_hour_per_replica, 2 * 3.5 + 0.07, 1e-12);
  PriceTable one;
  one.usd_per_gpu_hour = {{"NVIDIA H200", 3.5}};
  r.gpu_model = "NVIDIA H100 80GB HBM3";
  auto only = compute_cost(goal, r, one);
  ASSERT_TRUE(only.ok()) << only.status().to_string();
  EXPECT_NEAR(only->cost.usd_per_hour_per_replica, 7.0, 1e-12);
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

TEST(Floors, BelowAFloorIsInfeasibleAndNamed) {
  Indicators ind = pcca(iv(0.95, 0.9, 1), iv(0.8, 0.7, 0.9), iv(0.34, 0.3, 0.4), iv(0.92, 0.9, 0.95));
  ind.quality = iv(0.6, 0.5, 0.7);
  QualityFloors f;
  f.completeness = 0.8;
  f.accuracy = 0.9;
  auto c = floor_constraints(ind, f);
  ASSERT_EQ(c.size(), 2u);
  EXPECT_NEAR(c["min_completeness"], (0.8 - 0.34) / 0.8, 1e-12);  // violated: 57.5% short
  EXPECT_NEAR(c["min_accuracy"], (0.9 - 0.92) / 0.9, 1e-12);      // met
  f.ics = 0.5;
  EXPECT_EQ(floor_constraints(ind, f)["min_ics"], 1.0);  // no ratings: below any floor
  ind.parts["ics"] = iv(0.75, 0.6, 0.85);
  EXPECT_NEAR(floor_constraints(ind, f)["min_ics"], -0.5, 1e-12);
  QualityFloors zero;
  zero.quality = 0;
  EXPECT_EQ(floor_constraints(ind, zero)["min_quality"], -1.0);
  EXPECT_TRUE(floor_constraints(ind, {}).empty());
}

TEST(Floors, EvaluateRecordAppliesThem) {
  Experiment ex;
  ex.goal.requests_per_s = 4;
  ex.objective.r0_usd_per_hour = 1;
  ex.prices.usd_per_cpu_core_hour = 0.05;
  ReplicaMeasure r;
  r.capacity_rps = iv(2, 1.8, 2.2, 5);
  r.cpu_cores_per_replica = 1;
  TrialRecord rec;
  rec.indicators = pcca(iv(1, 1, 1), iv(0.9, 0.9, 0.9), iv(0.34, 0.3, 0.4), iv(0.9, 0.9, 0.9));
  ASSERT_TRUE(evaluate_record(rec, r, ex).ok());
  EXPECT_TRUE(rec.feasible);  // cheap (2 replicas x $0.05) and no floor: it would win E = Q / R
  ex.objective.floors.completeness = 0.8;
  ASSERT_TRUE(evaluate_record(rec, r, ex).ok());
  EXPECT_FALSE(rec.feasible);
  EXPECT_GT(rec.constraints.at("min_completeness"), 0);
  EXPECT_LE(rec.constraints.at("cost"), 0);  // the other constraints are still there and met
  // The ranking and the incumbent ignore it.
  rec.state = TrialState::kComplete;
  EXPECT_TRUE(rank_trials({rec}).empty());
}

// Wilson score interval, written out from its definition (Wilson 1927) in float64.
Interval wilson(double x, double n) {
  const double z = 1.959963984540054, p = x / n, d = 1 + z * z / n;
  const double center = (p + z * z / (2 * n)) / d;
  const double half = z / d * std::sqrt(p * (1 - p) / n + z * z / (4 * n * n));
  return iv(p, center - half, center + half, static_cast<int64_t>(n));
}

FeedbackRow rating(const std::string& key, const std::string& scale, double v, const std::string& field = "configuration") {
  return FeedbackRow{"x", field, key, scale, v, "ratings.jsonl:1", 0};
}

TEST(Ics, KeysMatchExactlyTheActiveDimensions) {
  search::Configuration c;
  c.values = {{"history_budget", int64_t{96}}, {"quant", std::string("q8_0")}, {"temperature", 0.8}};
  EXPECT_TRUE(rating_key_matches("history_budget=96,quant=q8_0,temperature=0.8", c));
  EXPECT_TRUE(rating_key_matches(" quant = q8_0 , temperature=0.80, history_budget=96 ", c));
  EXPECT_TRUE(rating_key_matches(c.key(), c));  // Configuration::key()'s quoted form
  EXPECT_TRUE(rating_key_matches("{\"history_budget\": 96.0, \"quant\": \"q8_0\", \"temperature\": 0.8}", c));
  EXPECT_FALSE(rating_key_matches("history_budget=96,quant=q8_0", c));  // a dimension missing
  EXPECT_FALSE(rating_key_matches("history_budget=96,quant=q4_0,temperature=0.8", c));
  EXPECT_FALSE(rating_key_matches("history_budget=96,quant=q8_0,temperature=0.8,top_k=3", c));
  EXPECT_FALSE(rating_key_matches("history_budget=\"96\",quant=q8_0,temperature=0.8", c));  // quoted: text
  EXPECT_FALSE(rating_key_matches("q8_0-greedy", c));
  EXPECT_FALSE(rating_key_matches("{\"quant\": \"q8_0\"", c));  // broken JSON
}

TEST(Ics, ThumbsAreWilsonStarsAreNormalizedAndUnratedFallsBackToTheStudy) {
  search::Configuration a, b, unrated;
  a.values = {{"quant", std::string("q8_0")}};
  b.values = {{"quant", std::string("f32")}};
  unrated.values = {{"quant", std::string("q4_0")}};
  std::vector<FeedbackRow> rows;
  for (int i = 0; i < 7; ++i) rows.push_back(rating("quant=q8_0", "thumbs", i < 5 ? 1 : 0));
  rows.push_back(rating("req-1", "thumbs", 0, "request_id"));  // pooled only
  auto ia = ics_for_configuration(rows, a);
  ASSERT_TRUE(ia.ok() && ia->has_value());
  const Interval want = wilson(5, 7);
  EXPECT_EQ((*ia)->source, "configuration");
  EXPECT_NEAR((*ia)->interval.value, want.value, 1e-12);
  EXPECT_NEAR((*ia)->interval.ci_low, want.ci_low, 1e-9);
  EXPECT_NEAR((*ia)->interval.ci_high, want.ci_high, 1e-9);
  EXPECT_EQ((*ia)->interval.n, 7);
  auto iu = ics_for_configuration(rows, unrated);
  ASSERT_TRUE(iu.ok() && iu->has_value());
  EXPECT_EQ((*iu)->source, "study");
  EXPECT_NEAR((*iu)->interval.value, 5.0 / 8, 1e-12);
  EXPECT_EQ((*iu)->interval.n, 8);

  std::vector<FeedbackRow> stars = {rating("quant=f32", "stars", 5), rating("quant=f32", "stars", 4),
                                    rating("quant=f32", "stars", 2), rating("quant=f32", "stars", 5)};
  auto ib = ics_for_configuration(stars, b);
  ASSERT_TRUE(ib.ok() && ib->has_value());
  EXPECT_NEAR((*ib)->interval.value, (1.0 + 0.75 + 0.25 + 1.0) / 4, 1e-12);  // (stars - 1) / 4
  EXPECT_LE((*ib)->interval.ci_low, (*ib)->interval.value);
  EXPECT_GE((*ib)->interval.ci_high, (*ib)->interval.value);
  EXPECT_GE((*ib)->interval.ci_low, 0.25);  // a bootstrap mean stays within the data
  EXPECT_LE((*ib)->interval.ci_high, 1.0);
  EXPECT_FALSE(ics_for_configuration({}, a)->has_value());
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
  // Trial 2 is both the best and one of the attempts without a real gain: the text says so.
  EXPECT_NE(v.explanation.find("Trial 2, the best so far, is one of them"), std::string::npos) << v.explanation;
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
