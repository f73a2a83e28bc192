// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11), the
// counter-based generator of the device sampler: the output is a pure function of (key, counter),
// so a draw needs no state and every GPU thread, or the host, gets the same numbers. CUDA-free;
// compiled for the device too when included from a .cu file.
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define EFFITUNE_HD __host__ __device__ __forceinline__
#else
#define EFFITUNE_HD inline
#endif

namespace effitune::engine {

struct Philox4x32 {
  uint32_t v[4];
};

EFFITUNE_HD Philox4x32 philox4x32_10(Philox4x32 ctr, uint32_t k0, uint32_t k1) {
  constexpr uint32_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u;
  constexpr uint32_t kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;  // golden ratio, sqrt(3) - 1
  for (int round = 0; round < 10; ++round) {
    const uint64_t p0 = static_cast<uint64_t>(kM0) * ctr.v[0];
    const uint64_t p1 = static_cast<uint64_t>(kM1) * ctr.v[2];
    const uint32_t hi0 = static_cast<uint32_t>(p0 >> 32), lo0 = static_cast<uint32_t>(p0);
    const uint32_t hi1 = static_cast<uint32_t>(p1 >> 32), lo1 = static_cast<uint32_t>(p1);
    ctr = Philox4x32{{hi1 ^ ctr.v[1] ^ k0, lo1, hi0 ^ ctr.v[3] ^ k1, lo0}};
    k0 += kW0;
    k1 += kW1;
  }
  return ctr;
}

// 64 random bits for draw `counter` of stream `seed`: key = seed, counter = (counter, 0).
EFFITUNE_HD uint64_t philox_u64(uint64_t seed, uint64_t counter) {
  const Philox4x32 r = philox4x32_10(
      Philox4x32{{static_cast<uint32_t>(counter), static_cast<uint32_t>(counter >> 32), 0u, 0u}},
      static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32));
  return (static_cast<uint64_t>(r.v[1]) << 32) | r.v[0];
}

}  // namespace effitune::engine
