// Polling before blocking, for the host threads of a tensor-parallel group. A CUDA decode step meets
// three condition variables (the step's start, the step gate twice, the step's end), and on these
// virtual machines each wake-up from a sleep took tens of microseconds of an idle GPU; a thread that
// polls for a while first sees the change within a fraction of a microsecond. Only where cores are
// spare: the CPU backend's ranks compute on the same cores, so they block at once (budget zero).
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdlib>

namespace effitune::engine::tp {

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// Polls done() for up to `budget`; true as soon as it holds. The caller then blocks as before when
// it does not (its condition variable re-checks the same predicate under its lock).
template <typename Pred>
bool spin_until(Pred&& done, std::chrono::microseconds budget) {
  if (budget.count() <= 0) return done();
  const auto end = std::chrono::steady_clock::now() + budget;
  for (uint32_t i = 1;; ++i) {
    if (done()) return true;
    cpu_relax();
    if ((i & 63u) == 0 && std::chrono::steady_clock::now() >= end) return done();
  }
}

// How long the CUDA ranks' host threads poll before they sleep: EFFITUNE_TP_SPIN_US (0 blocks at
// once, for A/B timing), 2 ms by default, longer than the host's work between two decode steps.
inline std::chrono::microseconds tp_spin_budget() {
  static const std::chrono::microseconds budget = [] {
    const char* v = std::getenv("EFFITUNE_TP_SPIN_US");
    return std::chrono::microseconds(v != nullptr && *v != '\0' ? std::atol(v) : 2000);
  }();
  return budget;
}

}  // namespace effitune::engine::tp
