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

// A queueing-like margin: latency grows like 1 / (1 - load / saturation), the threshold chosen so
// that the margin is exactly 1 at `cap`; at or past saturation every request fails (margin capped).
MeasureLoad queue_margin(double cap, double saturation, int* calls) {
  return [=](double load) -> Result<CapacityProbe> {
    ++*calls;
    CapacityProbe p;
    const double m = load >= saturation ? 1e6 : (1 - cap / saturation) / (1 - load / saturation);
    p.meets = m <= 1;
    p.margin = {m, m, m, 1};
    return p;
  };
}

// Linear, convex (queueing) and curves whose capacity sits near a doubling step: PCHIP needs fewer
// probes than bisection for the same tolerance and lands on the same side (capacity <= cap).
TEST(CapacitySearch, PchipNeedsFewerProbesThanBisection) {
  struct Case {
    double cap, saturation;  // saturation 0: the linear margin load / cap
  };
  int total_bisect = 0, total_pchip = 0;
  for (const Case& c : {Case{137.3, 0}, Case{7.7, 0}, Case{5000, 0}, Case{30, 40}, Case{90, 100}, Case{63, 70},
                        Case{33, 200}, Case{0.3, 0.6}}) {
    int probes[2] = {0, 0};
    for (int method = 0; method < 2; ++method) {
      CapacityOptions o;
      o.start_load = 1;
      o.tolerance = 0.05;
      o.interpolation = method == 0 ? CapacityInterpolation::kBisect : CapacityInterpolation::kPchip;
      int calls = 0;
      auto r = c.saturation > 0 ? find_capacity(queue_margin(c.cap, c.saturation, &calls), o)
                                : find_capacity([&](double load) { ++calls; return threshold_at(c.cap)(load); }, o);
      ASSERT_TRUE(r.ok());
      EXPECT_TRUE(r->bracketed);
      EXPECT_LE(r->capacity, c.cap + 1e-9) << c.cap << " method " << method;
      EXPECT_GE(r->capacity, c.cap - 0.05) << c.cap << " method " << method;
      EXPECT_GT(r->bracket_high, c.cap);
      EXPECT_LE(r->bracket_high - r->bracket_low, 0.05 + 1e-12);
      EXPECT_EQ(static_cast<int>(r->probes.size()), calls);
      if (method == 1) {
        EXPECT_GT(r->interpolated_probes, 0);
      }
      probes[method] = calls;
    }
    EXPECT_LT(probes[1], probes[0]) << "cap " << c.cap << ": pchip " << probes[1] << " bisect " << probes[0];
    total_bisect += probes[0];
    total_pchip += probes[1];
  }
  std::printf("probes over 8 curves: bisection %d, pchip %d\n", total_bisect, total_pchip);
  // At least a quarter fewer in all, bracketing probes (the same for both) included: 95 against 137.
  EXPECT_LE(total_pchip * 4, total_bisect * 3);
}

TEST(CapacitySearch, PchipIntegerUsers) {
  for (int cap : {23, 64, 5}) {
    int calls_b = 0, calls_p = 0;
    CapacityOptions o;
    o.integer_load = true;
    auto b = find_capacity(queue_margin(cap + 0.5, cap * 1.6, &calls_b), o);
    o.interpolation = CapacityInterpolation::kPchip;
    auto p = find_capacity(queue_margin(cap + 0.5, cap * 1.6, &calls_p), o);
    ASSERT_TRUE(b.ok() && p.ok());
    EXPECT_EQ(b->capacity, cap);
    EXPECT_EQ(p->capacity, cap);
    EXPECT_EQ(p->bracket_high, cap + 1);
    for (const auto& pr : p->probes) EXPECT_EQ(pr.load, std::round(pr.load));
    EXPECT_LE(calls_p, calls_b) << cap;
  }
}

// Margins that contradict meets (noise: the pooled run fails while the mean margin is below 1) or
// that are not monotone make PCHIP fall back to midpoints; the search still brackets to tolerance.
TEST(CapacitySearch, PchipFallsBackOnInconsistentMargins) {
  int calls = 0;
  CapacityOptions o;
  o.start_load = 1;
  o.tolerance = 0.1;
  o.interpolation = CapacityInterpolation::kPchip;
  auto r = find_capacity(
      [&](double load) -> Result<CapacityProbe> {
        ++calls;
        CapacityProbe p;
        p.meets = load <= 20;
        const double m = 0.5 + 0.4 * std::sin(load);  // never above 1: tells nothing about the crossing
        p.margin = {m, m, m, 1};
        return p;
      },
      o);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->interpolated_probes, 0);
  EXPECT_NEAR(r->capacity, 20, 0.1);
  EXPECT_LE(r->capacity, 20);
  EXPECT_LE(r->bracket_high - r->bracket_low, 0.1);
  EXPECT_EQ(parse_capacity_interpolation("pchip").value(), CapacityInterpolation::kPchip);
  EXPECT_EQ(parse_capacity_interpolation("bisect").value(), CapacityInterpolation::kBisect);
  EXPECT_EQ(parse_capacity_interpolation("newton").status().code(), StatusCode::kInvalidArgument);
}

// A noisy margin (multiplicative wobble of +-15%, deterministic in the load) around a queueing curve:
// ITP's guarantee keeps PCHIP within one probe of bisection, and the answer within the tolerance of
// the load where `meets` changes.
TEST(CapacitySearch, PchipSafeguardUnderNoise) {
  for (double cap : {12.0, 47.0, 180.0}) {
    int calls_b = 0, calls_p = 0;
    auto noisy = [cap](int* calls) {
      return [cap, calls](double load) -> Result<CapacityProbe> {
        ++*calls;
        CapacityProbe p;
        const double sat = cap * 1.25;
        const double base = load >= sat ? 1e6 : (1 - cap / sat) / (1 - load / sat);
        p.meets = load <= cap;
        const double m = base * (1 + 0.15 * std::sin(37 * load));
        p.margin = {m, m, m, 1};
        return p;
      };
    };
    CapacityOptions o;
    o.start_load = 1;
    o.tolerance = 0.5;
    auto b = find_capacity(noisy(&calls_b), o);
    o.interpolation = CapacityInterpolation::kPchip;
    auto p = find_capacity(noisy(&calls_p), o);
    ASSERT_TRUE(b.ok() && p.ok());
    EXPECT_LE(p->capacity, cap);
    EXPECT_GE(p->capacity, cap - 0.5);
    EXPECT_LE(calls_p, calls_b + 1) << cap;
  }
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
