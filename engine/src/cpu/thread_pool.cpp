#include "cpu/thread_pool.h"

#include <chrono>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define EFFITUNE_CPU_RELAX() _mm_pause()
#else
#define EFFITUNE_CPU_RELAX() std::this_thread::yield()
#endif

namespace effitune::engine::cpu {
namespace {
// How long a waiting thread spins before sleeping on a futex. Longer than the gap between two
// parallel regions of one decode step (a few us of serial work), much shorter than a scheduler time
// slice: on a machine busy with other processes a thread that spun for its whole slice while the
// thread it waits for was descheduled would stall every region by milliseconds.
constexpr auto kSpin = std::chrono::microseconds(50);

// Spins until pred() or the spin budget runs out; returns pred().
template <typename Pred>
bool spin_until(Pred pred) {
  const auto deadline = std::chrono::steady_clock::now() + kSpin;
  for (;;) {
    for (int i = 0; i < 32; ++i) {
      if (pred()) return true;
      EFFITUNE_CPU_RELAX();
    }
    if (std::chrono::steady_clock::now() > deadline) return pred();
  }
}
}  // namespace

ThreadPool::ThreadPool(int n_threads) : n_threads_(n_threads < 1 ? 1 : n_threads) {
  for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this, i] { worker(i); });
}

ThreadPool::~ThreadPool() {
  stop_.store(true, std::memory_order_release);
  generation_.fetch_add(1, std::memory_order_acq_rel);
  generation_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::run_impl(Thunk thunk, void* ctx) {
  thunk_ = thunk;
  ctx_ = ctx;
  pending_.store(n_threads_ - 1, std::memory_order_relaxed);
  generation_.fetch_add(1, std::memory_order_release);
  generation_.notify_all();
  thunk(ctx, 0, n_threads_);
  if (spin_until([this] { return pending_.load(std::memory_order_acquire) == 0; })) return;
  for (int p = pending_.load(std::memory_order_acquire); p != 0; p = pending_.load(std::memory_order_acquire))
    pending_.wait(p, std::memory_order_acquire);
}

void ThreadPool::worker(int index) {
  uint64_t seen = 0;
  for (;;) {
    if (!spin_until([&] { return generation_.load(std::memory_order_acquire) != seen; })) {
      generation_.wait(seen, std::memory_order_acquire);
      continue;
    }
    seen = generation_.load(std::memory_order_acquire);
    if (stop_.load(std::memory_order_acquire)) return;
    thunk_(ctx_, index, n_threads_);
    // The last worker wakes the caller if it went to sleep (no syscall when nobody waits).
    if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) pending_.notify_one();
  }
}

}  // namespace effitune::engine::cpu
