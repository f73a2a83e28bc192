// Capacity search: on functions with known thresholds, and end to end on a simulated server.
#include <gtest/gtest.h>

#include <cmath>

#include "effitune/probes/capacity_search.h"
#include "effitune/probes/load_test.h"
#include "fake_target.h"

namespace effitune::probes {
namespace {

MeasureLoad threshold_at(double cap, int* calls = nullptr) {
  return [cap, calls](double load) -> Result<CapacityProbe> {
    if (calls) ++*calls;
    CapacityProbe p;
    p.load = load;
    p.meets = load <= cap;
    const double margin = load / cap;
    p.margin = {margin, margin * 0.9, margin * 1.1, 3};
    return p;
  };
}

TEST(CapacitySearch, FindsTheThresholdWithinTolerance) {
  for (double cap : {0.3, 1.0, 7.7, 137.3, 5000.0}) {
    CapacityOptions o;
    o.start_load = 1;
    o.tolerance = 0.05;
    auto r = find_capacity(threshold_at(cap), o);
    ASSERT_TRUE(r.ok());
    EXPECT_TRUE(r->bracketed) << cap;
    EXPECT_LE(r->capacity, cap);
    EXPECT_GE(r->capacity, cap - 0.05) << cap;
    EXPECT_GT(r->bracket_high, cap);
    EXPECT_LE(r->bracket_high - r->bracket_low, 0.05);
    EXPECT_LE(r->ci_low, r->capacity);
    EXPECT_GE(r->ci_high, r->bracket_high);
  }
}

TEST(CapacitySearch, IntegerUsers) {
  int calls = 0;
  CapacityOptions o;
  o.start_load = 1;
  o.integer_load = true;
  o.tolerance = 1;
  auto r = find_capacity(threshold_at(23, &calls), o);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->capacity, 23);
  EXPECT_EQ(r->bracket_high, 24);
  for (const auto& p : r->probes) EXPECT_EQ(p.load, std::round(p.load));
  EXPECT_LE(calls, 12);  // 1,2,..,32 then bisection of [16, 32]
}

TEST(CapacitySearch, IntervalComesFromTheBoundaryMeasurements) {
  // The margin interval is +-20%: loads within 20% of the threshold are not surely on either side.
  CapacityOptions o;
  o.start_load = 10;
  o.tolerance = 0.1;
  auto r = find_capacity(
      [](double load) -> Result<CapacityProbe> {
        CapacityProbe p;
        p.meets = load <= 50;
        const double m = load / 50;
        p.margin = {m, m * 0.8, m * 1.2, 5};
        return p;
      },
      o);
  ASSERT_TRUE(r.ok());
  EXPECT_NEAR(r->capacity, 50, 0.1);
  // Surely meets: margin * 1.2 <= 1, i.e. load <= 41.67; surely fails: margin * 0.8 > 1, load > 62.5.
  EXPECT_LE(r->ci_low, 41.67);
  EXPECT_GT(r->ci_low, 0);
  EXPECT_GT(r->ci_high, 62.5);
}

TEST(CapacitySearch, NothingMeetsOrEverythingMeets) {
  CapacityOptions o;
  o.start_load = 4;
  o.min_load = 0.5;
  auto none = find_capacity(threshold_at(0.1), o);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->capacity, 0);
  EXPECT_FALSE(none->bracketed);
  o.max_load = 64;
  auto all = find_capacity(threshold_at(1e9), o);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->capacity, 64);
  EXPECT_FALSE(all->bracketed);
  o.tolerance = 0;
  EXPECT_EQ(find_capacity(threshold_at(1), o).status().code(), StatusCode::kInvalidArgument);
  auto failing = find_capacity([](double) -> Result<CapacityProbe> { return unavailable("down"); }, CapacityOptions{});
  EXPECT_EQ(failing.status().code(), StatusCode::kUnavailable);
}

// End to end: a single FIFO server with a 10 ms service time and constant arrivals keeps every
// request at exactly 10 ms up to 100 requests/s; above, the queue grows without bound. With an E2E
// p99 SLO of 10.5 ms the capacity is 100 requests/s.
TEST(CapacitySearch, SimulatedServerCapacity) {
  VirtualClock clock;
  testing::SingleServerTarget target(clock, 10.0);
  SyntheticSpec spec;
  spec.input.mean = 8;
  spec.output.mean = 1;
  spec.count = 1;
  const Workload w = Workload::synthetic(spec, 1).value();
  LoadTestConfig c;
  c.arrivals.kind = ArrivalKind::kConstant;
  c.duration_s = 5;
  c.slos = parse_slos("e2e_p99_ms=10.5").value();
  CapacityOptions o;
  o.start_load = 10;
  o.tolerance = 1;
  auto r = find_capacity(
      [&](double rate) -> Result<CapacityProbe> {
        target.reset();
        LoadTestConfig cc = c;
        cc.arrivals.rate_per_s = rate;
        EFFITUNE_ASSIGN_OR_RETURN(RepeatedResult res, run_repeated(target, w, cc, 2, clock));
        CapacityProbe p;
        p.meets = res.slo_met;
        p.margin = res.slo_margin;
        p.performance = res.performance;
        return p;
      },
      o);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_TRUE(r->bracketed);
  EXPECT_LE(r->capacity, 100.0 + 1e-9);
  EXPECT_GE(r->capacity, 99.0);
  EXPECT_LE(r->bracket_high - r->capacity, 1.0);
}

}  // namespace
}  // namespace effitune::probes
