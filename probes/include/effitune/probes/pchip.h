// Monotone piecewise-cubic Hermite interpolation (PCHIP), for the capacity search's SLO margin.
//
// Follows Fritsch & Carlson (1980) with the derivative rules of scipy.interpolate.PchipInterpolator:
// - interior knot k: d_k = 0 when the neighbouring secant slopes differ in sign or either is zero,
//   else the weighted harmonic mean (w1 + w2) / d_k = w1 / delta_{k-1} + w2 / delta_k with
//   w1 = 2 h_k + h_{k-1}, w2 = h_k + 2 h_{k-1};
// - end knots: the three-point formula d_0 = ((2 h_0 + h_1) delta_0 - h_0 delta_1) / (h_0 + h_1),
//   set to 0 when its sign differs from delta_0's, and to 3 delta_0 when delta_0 and delta_1 differ
//   in sign and |d_0| > 3 |delta_0| (mirrored at the right end);
// - two knots: the straight line.
// Monotone data give a monotone interpolant, so a level crossing is unique within a segment.
#pragma once

#include <optional>
#include <vector>

#include "effitune/common/status.h"

namespace effitune::probes {

class Pchip {
 public:
  // kInvalidArgument unless x and y have the same size >= 2, every value is finite and x is strictly
  // increasing.
  static Result<Pchip> fit(std::vector<double> x, std::vector<double> y);

  // The interpolant at `x`; outside [x.front(), x.back()] the end cubics are extended (scipy's
  // extrapolate=True).
  double operator()(double x) const;

  const std::vector<double>& knots() const { return x_; }
  const std::vector<double>& values() const { return y_; }
  const std::vector<double>& slopes() const { return d_; }  // d_k, the derivative at knot k

  // True when the data are non-decreasing (then so is the interpolant).
  bool non_decreasing() const;

  // For non-decreasing data: the smallest x in [x.front(), x.back()] where the interpolant reaches
  // `level` (to about 1e-12 of the segment's width). nullopt when the data are not non-decreasing or
  // `level` lies outside [y.front(), y.back()].
  std::optional<double> solve(double level) const;

 private:
  Pchip() = default;
  double eval_segment(size_t k, double x) const;

  std::vector<double> x_, y_, d_;
};

}  // namespace effitune::probes
