// Interval and test goldens. Wilson and z-test values follow from their closed forms (arithmetic in
// comments); bootstrap tests check properties that hold exactly for tiny samples.
#include "effitune/probes/stats.h"

#include <cmath>
#include <vector>

#include <gtest/gtest.h>

namespace effitune::probes {
namespace {

TEST(Wilson, EightOfTen) {
  // p = 0.8, n = 10, z^2 = 3.841458820694124
  // denom  = 1 + z^2/n = 1.3841458820694124
  // center = (0.8 + z^2/20) / denom = 0.9920729410347062 / 1.3841458820694124 = 0.71674016...
  // half   = z / denom * sqrt(0.8*0.2/10 + z^2/400) = z / denom * sqrt(0.02560364705)  = 0.22657771...
  // -> [0.4901624715, 0.9433178485] (the textbook value (0.490, 0.943))
  const auto e = wilson_interval(8, 10);
  EXPECT_DOUBLE_EQ(e.value, 0.8);
  EXPECT_NEAR(e.ci_low, 0.4901624715366418, 1e-12);
  EXPECT_NEAR(e.ci_high, 0.9433178485456248, 1e-12);
  EXPECT_EQ(e.n, 10u);
}

TEST(Wilson, EdgesAndSymmetry) {
  // 0/10: center = half = (z^2/20) / 1.38414588 = 0.13876640 -> [0, 0.2775328]
  const auto zero = wilson_interval(0, 10);
  EXPECT_EQ(zero.ci_low, 0.0);
  EXPECT_NEAR(zero.ci_high, 0.2775327998628892, 1e-12);
  // 10/10 mirrors 0/10.
  const auto all = wilson_interval(10, 10);
  EXPECT_EQ(all.ci_high, 1.0);
  EXPECT_NEAR(all.ci_low, 1.0 - 0.2775327998628892, 1e-12);
  // No data: no information.
  const auto none = wilson_interval(0, 0);
  EXPECT_EQ(none.ci_low, 0.0);
  EXPECT_EQ(none.ci_high, 1.0);
  EXPECT_EQ(none.n, 0u);
}

TEST(TwoProportionZ, PooledClosedForm) {
  // 45/100 vs 60/100: pooled p = 105/200 = 0.525, se = sqrt(0.525 * 0.475 * (1/100 + 1/100))
  // = sqrt(0.0049875) = 0.0706222; z = 0.15 / 0.0706222 = 2.12397698; p = erfc(z / sqrt 2) = 0.0336721
  const auto t = two_proportion_z_test(45, 100, 60, 100);
  ASSERT_TRUE(t.ok());
  EXPECT_NEAR(t->difference, 0.15, 1e-15);
  EXPECT_NEAR(t->z, 2.1239769762143657, 1e-12);
  EXPECT_NEAR(t->p_value, 0.033672068856345876, 1e-12);
  // No variance at all: z 0, p 1.
  EXPECT_EQ(two_proportion_z_test(0, 5, 0, 7)->p_value, 1.0);
  EXPECT_FALSE(two_proportion_z_test(1, 0, 1, 2).ok());
  EXPECT_FALSE(two_proportion_z_test(3, 2, 1, 2).ok());
}

TEST(Bootstrap, ConstantDataHasZeroWidth) {
  const std::vector<double> v(50, 0.7);
  const auto e = bootstrap_mean(v);
  ASSERT_TRUE(e.ok());
  EXPECT_NEAR(e->value, 0.7, 1e-15);
  EXPECT_NEAR(e->ci_low, 0.7, 1e-12);
  EXPECT_NEAR(e->ci_high, 0.7, 1e-12);
}

TEST(Bootstrap, ExactQuantilesOfTinySamples) {
  // {0, 1}: a resample mean is 0, 0.5 or 1 with probability 1/4, 1/2, 1/4. The 2.5% and 97.5%
  // percentiles are therefore 0 and 1 (each end holds ~25% >> 2.5% of 2000 resamples).
  const std::vector<double> two = {0.0, 1.0};
  const auto a = bootstrap_mean(two);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->ci_low, 0.0);
  EXPECT_EQ(a->ci_high, 1.0);
  // {0, 0, 0, 1}: the mean is k/4 with k ~ Binomial(4, 1/4): P(k=0) = 0.316, P(k<=2) = 0.949,
  // P(k<=3) = 0.996, so the 2.5% percentile is 0 and the 97.5% percentile is 0.75.
  const std::vector<double> four = {0.0, 0.0, 0.0, 1.0};
  const auto b = bootstrap_mean(four);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->ci_low, 0.0);
  EXPECT_EQ(b->ci_high, 0.75);
  EXPECT_EQ(b->value, 0.25);
}

TEST(Bootstrap, WidthMatchesNormalApproximation) {
  // 100 Bernoulli values with mean 0.5: the standard error is sqrt(0.25 / 100) = 0.05, so the 95%
  // interval is about 0.5 +- 0.098. Monte Carlo noise with 4000 resamples is ~0.005.
  std::vector<double> v(100);
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<double>(i % 2);
  BootstrapOptions o;
  o.resamples = 4000;
  const auto e = bootstrap_mean(v, o);
  ASSERT_TRUE(e.ok());
  EXPECT_NEAR(e->ci_low, 0.5 - 0.098, 0.015);
  EXPECT_NEAR(e->ci_high, 0.5 + 0.098, 0.015);
}

TEST(Bootstrap, SeededAndReproducible) {
  std::vector<double> v;
  for (int i = 0; i < 37; ++i) v.push_back(std::sin(i * 1.3));
  const auto a = bootstrap_mean(v);
  const auto b = bootstrap_mean(v);
  EXPECT_EQ(a->ci_low, b->ci_low);
  EXPECT_EQ(a->ci_high, b->ci_high);
  BootstrapOptions other;
  other.seed = 7;
  const auto c = bootstrap_mean(v, other);
  EXPECT_NE(a->ci_low, c->ci_low);
  EXPECT_LT(a->ci_low, a->value);
  EXPECT_GT(a->ci_high, a->value);
}

TEST(Bootstrap, RejectsBadInput) {
  EXPECT_FALSE(bootstrap_mean(std::vector<double>{}).ok());
  EXPECT_FALSE(bootstrap_mean(std::vector<double>{1.0, NAN}).ok());
  BootstrapOptions few;
  few.resamples = 999;
  EXPECT_FALSE(bootstrap_mean(std::vector<double>{1.0}, few).ok());
  BootstrapOptions conf;
  conf.confidence = 1.0;
  EXPECT_FALSE(bootstrap_mean(std::vector<double>{1.0}, conf).ok());
}

TEST(PairedBootstrap, ConstantShiftIsExact) {
  // Every item improves by exactly 0.1: each resampled mean difference is 0.1.
  std::vector<double> base, cand;
  for (int i = 0; i < 40; ++i) {
    base.push_back(i % 3 == 0 ? 1.0 : 0.0);
    cand.push_back(base.back() + 0.1);
  }
  const auto r = paired_bootstrap(base, cand);
  ASSERT_TRUE(r.ok());
  EXPECT_NEAR(r->difference.value, 0.1, 1e-12);
  EXPECT_NEAR(r->difference.ci_low, 0.1, 1e-12);
  EXPECT_NEAR(r->difference.ci_high, 0.1, 1e-12);
  EXPECT_EQ(r->prob_greater_than_zero, 1.0);
  // Identical configurations: difference 0 everywhere, never > 0.
  const auto same = paired_bootstrap(base, base);
  EXPECT_EQ(same->prob_greater_than_zero, 0.0);
  EXPECT_EQ(same->difference.ci_high, 0.0);
}

TEST(PairedBootstrap, DifferenceOfProportions) {
  // Candidate fixes 30 of 100 items and breaks none: the difference is 0.3 with standard error
  // sqrt(0.3 * 0.7 / 100) = 0.0458, so the 95% interval is about 0.3 +- 0.090, wholly above 0.
  std::vector<double> base(100, 0.0), cand(100, 0.0);
  for (int i = 0; i < 30; ++i) cand[static_cast<size_t>(i) * 3] = 1.0;
  const auto r = paired_bootstrap(base, cand);
  ASSERT_TRUE(r.ok());
  EXPECT_NEAR(r->difference.value, 0.3, 1e-12);
  EXPECT_NEAR(r->difference.ci_low, 0.3 - 0.090, 0.015);
  EXPECT_NEAR(r->difference.ci_high, 0.3 + 0.090, 0.015);
  EXPECT_EQ(r->prob_greater_than_zero, 1.0);
  EXPECT_FALSE(paired_bootstrap(base, std::vector<double>(99, 0.0)).ok());
}

}  // namespace
}  // namespace effitune::probes
