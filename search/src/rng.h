// A small, portable random generator (xoshiro256**, seeded by SplitMix64). std:: distributions are
// implementation-defined, and studies must replay identically on every platform, so the strategies
// draw only through this class.
#pragma once

#include <cmath>
#include <cstdint>
#include <numbers>

namespace effitune::search {

class Rng {
 public:
  // Independent streams from (seed, purpose, index): a strategy derives the randomness of trial i
  // from (seed, purpose, i), so that replaying outcomes reproduces later proposals.
  Rng(uint64_t seed, uint64_t purpose, uint64_t index) {
    uint64_t x = seed ^ (purpose * 0x9E3779B97F4A7C15ULL) ^ (index * 0xD1B54A32D192ED03ULL);
    for (auto& s : s_) s = splitmix(x);
  }

  uint64_t next() {
    const uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }
  // Uniform in [0, 1).
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  // Uniform integer in [0, n); n > 0. The modulo bias is below 2^-40 for the n used here.
  uint64_t below(uint64_t n) { return next() % n; }
  // Standard normal (Box-Muller).
  double normal() {
    const double u1 = 1.0 - uniform();  // (0, 1]
    const double u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
  }

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  static uint64_t splitmix(uint64_t& x) {
    uint64_t z = (x += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }

  uint64_t s_[4];
};

// Purposes, so that two uses of one seed never share a stream.
enum RngPurpose : uint64_t {
  kRandomSample = 1,
  kGridShuffle = 2,
  kHillStart = 3,
  kHalvingSample = 4,
  kTpeSample = 5,
  kTpeFallback = 6,
};

}  // namespace effitune::search
