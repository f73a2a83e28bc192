// Seeded draws with our own transforms over std::mt19937_64 (fully specified), so schedules and
// synthetic lengths are identical on every platform. Private to probes.
#pragma once

#include <cmath>
#include <cstdint>
#include <random>

namespace effitune::probes::detail {

class Draws {
 public:
  explicit Draws(uint64_t seed) : rng_(seed) {}
  double uniform() { return static_cast<double>(rng_() >> 11) * 0x1.0p-53; }  // [0, 1)
  double exponential() { return -std::log1p(-uniform()); }                    // mean 1
  double normal() {  // Box-Muller, one value per call
    const double u1 = 1.0 - uniform(), u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
  }
  // Gamma(shape, scale 1): Marsaglia & Tsang (2000); shape < 1 via Gamma(shape+1) * U^(1/shape).
  double gamma(double shape) {
    if (shape < 1.0) return gamma(shape + 1.0) * std::pow(1.0 - uniform(), 1.0 / shape);
    const double d = shape - 1.0 / 3.0, c = 1.0 / std::sqrt(9.0 * d);
    while (true) {
      double x, v;
      do {
        x = normal();
        v = 1.0 + c * x;
      } while (v <= 0);
      v = v * v * v;
      const double u = 1.0 - uniform();
      if (std::log(u) < 0.5 * x * x + d - d * v + d * std::log(v)) return d * v;
    }
  }

 private:
  std::mt19937_64 rng_;
};

}  // namespace effitune::probes::detail
