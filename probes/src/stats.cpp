// Wilson interval and the two-proportion z-test.
#include <algorithm>
#include <cmath>
#include <string>

#include "effitune/probes/stats.h"

namespace effitune::probes {

Estimate wilson_interval(size_t successes, size_t n, double z) {
  EFFITUNE_CHECK(successes <= n, "wilson_interval: successes exceed trials");
  Estimate e;
  e.n = n;
  if (n == 0) {
    e.ci_high = 1.0;
    return e;
  }
  const double nn = static_cast<double>(n);
  const double p = static_cast<double>(successes) / nn;
  const double z2 = z * z;
  const double denom = 1.0 + z2 / nn;
  const double center = (p + z2 / (2.0 * nn)) / denom;
  const double half = z / denom * std::sqrt(p * (1.0 - p) / nn + z2 / (4.0 * nn * nn));
  e.value = p;
  // Clamp only rounding: mathematically the interval lies in [0, 1] and contains p.
  e.ci_low = std::max(0.0, std::min(p, center - half));
  e.ci_high = std::min(1.0, std::max(p, center + half));
  return e;
}

Result<ZTest> two_proportion_z_test(size_t x1, size_t n1, size_t x2, size_t n2) {
  if (n1 == 0 || n2 == 0) return invalid_argument("two_proportion_z_test: both samples need n > 0");
  if (x1 > n1 || x2 > n2) {
    return invalid_argument("two_proportion_z_test: successes (" + std::to_string(x1) + ", " + std::to_string(x2) +
                            ") exceed totals (" + std::to_string(n1) + ", " + std::to_string(n2) + ")");
  }
  const double p1 = static_cast<double>(x1) / static_cast<double>(n1);
  const double p2 = static_cast<double>(x2) / static_cast<double>(n2);
  const double pooled = static_cast<double>(x1 + x2) / static_cast<double>(n1 + n2);
  const double se = std::sqrt(pooled * (1.0 - pooled) * (1.0 / static_cast<double>(n1) + 1.0 / static_cast<double>(n2)));
  ZTest t;
  t.difference = p2 - p1;
  if (se > 0) {
    t.z = t.difference / se;
    t.p_value = std::erfc(std::fabs(t.z) / std::sqrt(2.0));
  }
  return t;
}

}  // namespace effitune::probes
