// Numerics helpers shared by the CPU and CUDA kernel tests: the normalized mean squared error that
// the per-op thresholds are stated in, and seeded random vectors.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <vector>

namespace effitune::testing {

// sum (a - ref)^2 / sum ref^2, in double.
template <typename A, typename B>
double nmse(const std::vector<A>& a, const std::vector<B>& ref) {
  EXPECT_EQ(a.size(), ref.size());
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size() && i < ref.size(); ++i) {
    const double d = static_cast<double>(a[i]) - static_cast<double>(ref[i]);
    num += d * d;
    den += static_cast<double>(ref[i]) * static_cast<double>(ref[i]);
  }
  return den > 0 ? num / den : num;
}

// n draws of N(0, std^2) from a generator seeded with `seed`: the same vector on every machine run.
inline std::vector<float> random_normal(size_t n, uint64_t seed, float std = 1.0f) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> d(0.0f, std);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

}  // namespace effitune::testing
