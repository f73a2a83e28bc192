// LatencyHistogram against exact nearest-rank percentiles computed from sorted samples.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "effitune/probes/latency_histogram.h"

namespace effitune::probes {
namespace {

double exact_nearest_rank(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  const size_t rank = std::max<size_t>(1, static_cast<size_t>(std::ceil(q * v.size() - 1e-9)));
  return v[rank - 1];
}

TEST(LatencyHistogram, BucketsFollowTheHdrLayout) {
  EXPECT_EQ(LatencyHistogram::bucket_of(0), 0);
  EXPECT_EQ(LatencyHistogram::bucket_of(2047), 2047);
  // 2048..4095 us: 1024 buckets of 2 us.
  EXPECT_EQ(LatencyHistogram::bucket_of(2048), 2048);
  EXPECT_EQ(LatencyHistogram::bucket_of(2049), 2048);
  EXPECT_EQ(LatencyHistogram::bucket_of(2050), 2049);
  EXPECT_EQ(LatencyHistogram::bucket_of(4095), 2048 + 1023);
  // 4096..8191 us: buckets of 4 us.
  EXPECT_EQ(LatencyHistogram::bucket_of(4096), 2048 + 1024);
  EXPECT_EQ(LatencyHistogram::bucket_lowest(2048 + 1024 + 1), 4100);
  for (int64_t us : {0LL, 1LL, 2047LL, 2048LL, 3001LL, 123456LL, 987654321LL}) {
    const int b = LatencyHistogram::bucket_of(us);
    const int64_t lo = LatencyHistogram::bucket_lowest(b);
    EXPECT_LE(lo, us);
    EXPECT_LE(us - lo, std::max<int64_t>(0, lo >> 10));  // width <= 2^-10 of the value
    EXPECT_EQ(LatencyHistogram::bucket_of(lo), b);
  }
}

TEST(LatencyHistogram, SmallValuesAreExact) {
  LatencyHistogram h;
  std::vector<double> v;
  for (int i = 1; i <= 1000; ++i) {
    const double ms = (i * 7919 % 2000) / 1000.0;  // 0..1.999 ms, whole microseconds
    h.record_ms(ms);
    v.push_back(ms);
  }
  for (double q : {0.0, 0.5, 0.9, 0.95, 0.99, 1.0}) EXPECT_DOUBLE_EQ(h.quantile_ms(q), exact_nearest_rank(v, q)) << q;
  EXPECT_DOUBLE_EQ(h.min_ms(), *std::min_element(v.begin(), v.end()));
  EXPECT_DOUBLE_EQ(h.max_ms(), *std::max_element(v.begin(), v.end()));
}

TEST(LatencyHistogram, LargeValuesWithinRelativePrecision) {
  std::mt19937_64 rng(7);
  std::lognormal_distribution<double> d(std::log(200.0), 1.0);
  LatencyHistogram h;
  std::vector<double> v;
  for (int i = 0; i < 20000; ++i) {
    const double ms = std::round(d(rng) * 1000.0) / 1000.0;
    h.record_ms(ms);
    v.push_back(ms);
  }
  for (double q : {0.5, 0.9, 0.95, 0.99}) {
    const double exact = exact_nearest_rank(v, q);
    const double got = h.quantile_ms(q);
    EXPECT_LE(got, exact);
    EXPECT_GE(got, exact * (1 - 1.0 / 1024)) << q;
  }
  double sum = 0;
  for (double x : v) sum += x;
  EXPECT_NEAR(h.mean_ms(), sum / v.size(), 1e-6);
}

TEST(LatencyHistogram, MergeEqualsRecordingEverything) {
  LatencyHistogram a, b, all;
  for (int i = 0; i < 500; ++i) {
    const double ms = i * 1.5;
    (i % 2 ? a : b).record_ms(ms);
    all.record_ms(ms);
  }
  a.merge(b);
  EXPECT_EQ(a.count(), all.count());
  for (double q : {0.1, 0.5, 0.99}) EXPECT_DOUBLE_EQ(a.quantile_ms(q), all.quantile_ms(q));
  EXPECT_DOUBLE_EQ(a.min_ms(), 0.0);
  EXPECT_DOUBLE_EQ(a.max_ms(), 748.5);
}

TEST(LatencyHistogram, EmptyAndOutOfRange) {
  LatencyHistogram h;
  EXPECT_EQ(h.quantile_ms(0.5), 0.0);
  h.record_ms(-5);
  h.record_ms(NAN);
  h.record_ms(1e30);
  EXPECT_EQ(h.count(), 3u);
  EXPECT_EQ(h.min_ms(), 0.0);
  EXPECT_DOUBLE_EQ(h.max_ms(), LatencyHistogram::kMaxMicros / 1000.0);
}

}  // namespace
}  // namespace effitune::probes
