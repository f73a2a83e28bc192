// PCHIP against values worked by hand from the Fritsch-Carlson formulas (scipy's PchipInterpolator
// rules) and against an independent float64 reference written here in power form.
#include "effitune/probes/pchip.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace effitune::probes {
namespace {

// Reference: scipy's derivative rules written out again, evaluated as a0 + a1 s + a2 s^2 + a3 s^3
// with s = x - x_k (the PPoly form scipy builds), not through Hermite basis functions.
double reference(const std::vector<double>& x, const std::vector<double>& y, double at) {
  const size_t n = x.size();
  std::vector<double> h(n - 1), m(n - 1), d(n);
  for (size_t k = 0; k + 1 < n; ++k) {
    h[k] = x[k + 1] - x[k];
    m[k] = (y[k + 1] - y[k]) / h[k];
  }
  auto sgn = [](double v) { return v > 0 ? 1 : v < 0 ? -1 : 0; };
  auto edge = [&](double h0, double h1, double m0, double m1) {
    const double e = ((2 * h0 + h1) * m0 - h0 * m1) / (h0 + h1);
    if (sgn(e) != sgn(m0)) return 0.0;
    if (sgn(m0) != sgn(m1) && std::fabs(e) > 3 * std::fabs(m0)) return 3 * m0;
    return e;
  };
  if (n == 2) {
    d[0] = d[1] = m[0];
  } else {
    for (size_t k = 1; k + 1 < n; ++k) {
      if (m[k - 1] == 0 || m[k] == 0 || sgn(m[k - 1]) != sgn(m[k])) {
        d[k] = 0;
      } else {
        const double w1 = 2 * h[k] + h[k - 1], w2 = h[k] + 2 * h[k - 1];
        d[k] = (w1 + w2) / (w1 / m[k - 1] + w2 / m[k]);
      }
    }
    d[0] = edge(h[0], h[1], m[0], m[1]);
    d[n - 1] = edge(h[n - 2], h[n - 3], m[n - 2], m[n - 3]);
  }
  size_t k = 0;
  while (k + 2 < n && at >= x[k + 1]) ++k;
  const double s = at - x[k];
  const double a2 = (3 * m[k] - 2 * d[k] - d[k + 1]) / h[k];
  const double a3 = (d[k] + d[k + 1] - 2 * m[k]) / (h[k] * h[k]);
  return y[k] + d[k] * s + a2 * s * s + a3 * s * s * s;
}

TEST(Pchip, HandWorkedUnequalSpacing) {
  // x = [0, 1, 3], y = [0, 2, 3]: h = [1, 2], secants m = [2, 0.5].
  // Interior: w1 = 2*2 + 1 = 5, w2 = 2 + 2*1 = 4, d1 = 9 / (5/2 + 4/0.5) = 9 / 10.5 = 6/7.
  // Left end: ((2*1 + 2)*2 - 1*0.5) / 3 = 2.5 (same sign as m0, m0 and m1 agree): d0 = 2.5.
  // Right end: ((2*2 + 1)*0.5 - 2*2) / 3 = -0.5, sign differs from m1: d2 = 0.
  auto p = Pchip::fit({0, 1, 3}, {0, 2, 3});
  ASSERT_TRUE(p.ok());
  EXPECT_DOUBLE_EQ(p->slopes()[0], 2.5);
  EXPECT_DOUBLE_EQ(p->slopes()[1], 6.0 / 7.0);
  EXPECT_DOUBLE_EQ(p->slopes()[2], 0.0);
  // x = 2: t = 0.5 on [1, 3] (h = 2): 0.5*2 + 0.125*2*(6/7) + 0.5*3 - 0.125*2*0 = 19/7.
  EXPECT_NEAR((*p)(2.0), 19.0 / 7.0, 1e-14);
  // x = 0.5: t = 0.5 on [0, 1]: 0.125*2.5 + 0.5*2 - 0.125*(6/7) = 1.3125 - 0.75/7.
  EXPECT_NEAR((*p)(0.5), 1.3125 - 0.75 / 7.0, 1e-14);
  EXPECT_DOUBLE_EQ((*p)(0), 0.0);
  EXPECT_DOUBLE_EQ((*p)(1), 2.0);
  EXPECT_DOUBLE_EQ((*p)(3), 3.0);
}

TEST(Pchip, FlatSideGivesZeroSlopeAndNoOvershoot) {
  // x = [0, 1, 2, 3], y = [0, 1, 1, 2]: interior slopes 0 (a flat secant on one side); ends
  // (3*1 - 1*0) / 2 = 1.5 (|1.5| <= 3*1, kept). At 0.5: 0.125*1.5 + 0.5*1 = 0.6875.
  auto p = Pchip::fit({0, 1, 2, 3}, {0, 1, 1, 2});
  ASSERT_TRUE(p.ok());
  EXPECT_DOUBLE_EQ(p->slopes()[0], 1.5);
  EXPECT_DOUBLE_EQ(p->slopes()[1], 0.0);
  EXPECT_DOUBLE_EQ(p->slopes()[2], 0.0);
  EXPECT_DOUBLE_EQ(p->slopes()[3], 1.5);
  EXPECT_DOUBLE_EQ((*p)(0.5), 0.6875);
  for (double x = 1; x <= 2; x += 0.01) EXPECT_DOUBLE_EQ((*p)(x), 1.0);  // no overshoot on the flat part
}

TEST(Pchip, EndSlopeClampedToThreeSecants) {
  // x = [0, 1, 2], y = [0, 1, 0]: m = [1, -1]. Left end: (3*1 - 1*(-1)) / 2 = 2; m0, m1 differ in
  // sign but |2| <= 3: d0 = 2. With y = [0, 1, -9] (m = [1, -10]): (3 + 10) / 2 = 6.5 > 3: d0 = 3.
  auto a = Pchip::fit({0, 1, 2}, {0, 1, 0});
  ASSERT_TRUE(a.ok());
  EXPECT_DOUBLE_EQ(a->slopes()[0], 2.0);
  EXPECT_DOUBLE_EQ(a->slopes()[1], 0.0);
  auto b = Pchip::fit({0, 1, 2}, {0, 1, -9});
  ASSERT_TRUE(b.ok());
  EXPECT_DOUBLE_EQ(b->slopes()[0], 3.0);
  EXPECT_FALSE(b->non_decreasing());
  EXPECT_FALSE(b->solve(0.5).has_value());
}

TEST(Pchip, MatchesTheFloat64Reference) {
  const std::vector<std::vector<double>> xs = {{0, 1}, {-2, 0.5, 1, 7, 7.25}, {1, 2, 4, 8, 16, 32}, {0, 3, 4, 9}};
  const std::vector<std::vector<double>> ys = {{1, 4}, {3, -1, 2, 2, 10}, {0.1, 0.2, 0.5, 0.9, 3, 1e3}, {5, 5, 5, 6}};
  for (size_t c = 0; c < xs.size(); ++c) {
    auto p = Pchip::fit(xs[c], ys[c]);
    ASSERT_TRUE(p.ok());
    for (double t = xs[c].front(); t <= xs[c].back(); t += (xs[c].back() - xs[c].front()) / 97) {
      const double want = reference(xs[c], ys[c], t);
      EXPECT_NEAR((*p)(t), want, 1e-12 * std::max(1.0, std::fabs(want))) << "case " << c << " x " << t;
    }
  }
}

TEST(Pchip, MonotoneDataGiveAMonotoneInterpolantAndItsCrossing) {
  const std::vector<double> x = {1, 2, 4, 8, 16, 32};
  const std::vector<double> y = {0.1, 0.2, 0.5, 0.9, 3, 1e3};
  auto p = Pchip::fit(x, y);
  ASSERT_TRUE(p.ok());
  ASSERT_TRUE(p->non_decreasing());
  double prev = -1;
  for (double t = 1; t <= 32; t += 0.01) {
    const double v = (*p)(t);
    EXPECT_GE(v, prev - 1e-12) << t;
    prev = v;
  }
  auto c = p->solve(1.0);
  ASSERT_TRUE(c.has_value());
  EXPECT_GT(*c, 8);
  EXPECT_LT(*c, 16);
  EXPECT_NEAR((*p)(*c), 1.0, 1e-9);
  EXPECT_DOUBLE_EQ(*p->solve(0.5), 4.0);  // a knot
  EXPECT_FALSE(p->solve(0.05).has_value());
  EXPECT_FALSE(p->solve(2e3).has_value());
  // Two knots: the straight line, crossing where the line does.
  auto line = Pchip::fit({10, 20}, {-1, 3});
  ASSERT_TRUE(line.ok());
  EXPECT_NEAR(*line->solve(0.0), 12.5, 1e-10);
}

TEST(Pchip, RejectsBadInput) {
  EXPECT_FALSE(Pchip::fit({1}, {1}).ok());
  EXPECT_FALSE(Pchip::fit({1, 2}, {1}).ok());
  EXPECT_FALSE(Pchip::fit({1, 1}, {1, 2}).ok());
  EXPECT_FALSE(Pchip::fit({2, 1}, {1, 2}).ok());
  EXPECT_FALSE(Pchip::fit({1, NAN}, {1, 2}).ok());
  EXPECT_FALSE(Pchip::fit({1, 2}, {1, INFINITY}).ok());
}

}  // namespace
}  // namespace effitune::probes
