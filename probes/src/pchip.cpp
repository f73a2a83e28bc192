// PCHIP (Fritsch-Carlson derivatives as in scipy's PchipInterpolator) and its level crossing.
#include "effitune/probes/pchip.h"

#include <algorithm>
#include <cmath>

namespace effitune::probes {
namespace {

int sign(double v) { return (v > 0) - (v < 0); }

// scipy's PchipInterpolator._edge_case: a one-sided three-point estimate, kept monotone.
double edge_slope(double h0, double h1, double m0, double m1) {
  const double d = ((2 * h0 + h1) * m0 - h0 * m1) / (h0 + h1);
  if (sign(d) != sign(m0)) return 0;
  if (sign(m0) != sign(m1) && std::fabs(d) > 3 * std::fabs(m0)) return 3 * m0;
  return d;
}

}  // namespace

Result<Pchip> Pchip::fit(std::vector<double> x, std::vector<double> y) {
  if (x.size() != y.size()) return invalid_argument("pchip: x and y differ in size");
  if (x.size() < 2) return invalid_argument("pchip: needs at least 2 points");
  for (size_t i = 0; i < x.size(); ++i) {
    if (!std::isfinite(x[i]) || !std::isfinite(y[i])) return invalid_argument("pchip: point " + std::to_string(i) + " is not finite");
    if (i > 0 && !(x[i] > x[i - 1])) return invalid_argument("pchip: x must be strictly increasing (point " + std::to_string(i) + ")");
  }
  Pchip p;
  const size_t n = x.size();
  std::vector<double> h(n - 1), m(n - 1);
  for (size_t k = 0; k + 1 < n; ++k) {
    h[k] = x[k + 1] - x[k];
    m[k] = (y[k + 1] - y[k]) / h[k];
  }
  p.d_.assign(n, 0.0);
  if (n == 2) {
    p.d_[0] = p.d_[1] = m[0];
  } else {
    for (size_t k = 1; k + 1 < n; ++k) {
      if (sign(m[k - 1]) * sign(m[k]) <= 0) continue;  // a local extremum or a flat side: d_k = 0
      const double w1 = 2 * h[k] + h[k - 1];
      const double w2 = h[k] + 2 * h[k - 1];
      p.d_[k] = (w1 + w2) / (w1 / m[k - 1] + w2 / m[k]);
    }
    p.d_[0] = edge_slope(h[0], h[1], m[0], m[1]);
    p.d_[n - 1] = edge_slope(h[n - 2], h[n - 3], m[n - 2], m[n - 3]);
  }
  p.x_ = std::move(x);
  p.y_ = std::move(y);
  return p;
}

double Pchip::eval_segment(size_t k, double x) const {
  const double h = x_[k + 1] - x_[k];
  const double t = (x - x_[k]) / h;
  const double t2 = t * t, t3 = t2 * t;
  const double h00 = 2 * t3 - 3 * t2 + 1, h10 = t3 - 2 * t2 + t;
  const double h01 = -2 * t3 + 3 * t2, h11 = t3 - t2;
  return h00 * y_[k] + h10 * h * d_[k] + h01 * y_[k + 1] + h11 * h * d_[k + 1];
}

double Pchip::operator()(double x) const {
  const auto it = std::upper_bound(x_.begin(), x_.end(), x);
  size_t k = it == x_.begin() ? 0 : static_cast<size_t>(it - x_.begin()) - 1;
  k = std::min(k, x_.size() - 2);
  return eval_segment(k, x);
}

bool Pchip::non_decreasing() const {
  for (size_t i = 1; i < y_.size(); ++i)
    if (y_[i] < y_[i - 1]) return false;
  return true;
}

std::optional<double> Pchip::solve(double level) const {
  if (!non_decreasing() || !(level >= y_.front() && level <= y_.back())) return std::nullopt;
  size_t k = 0;
  while (y_[k + 1] < level) ++k;  // the first segment whose right value reaches the level
  if (y_[k] >= level) return x_[k];
  if (y_[k + 1] == level) return x_[k + 1];  // a monotone cubic is not flat: it reaches the level at the knot
  // Monotone on the segment (Fritsch-Carlson), so bisection on it converges to the crossing.
  double a = x_[k], b = x_[k + 1];
  for (int i = 0; i < 100 && b - a > 1e-12 * (x_[k + 1] - x_[k]); ++i) {
    const double mid = 0.5 * (a + b);
    (eval_segment(k, mid) < level ? a : b) = mid;
  }
  return 0.5 * (a + b);
}

}  // namespace effitune::probes
