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
// slice: on a machine busy with other processes, spinning while the awaited thread is descheduled
// only burns CPU time that other processes could use.
constexpr auto kSpin = std::chrono::microseconds(30);

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

void ThreadPool::drain(int thread) {
  for (;;) {
    const int64_t b = next_.fetch_add(grain_, std::memory_order_relaxed);
    if (b >= n_items_) return;
    thunk_(ctx_, thread, b, std::min(n_items_, b + grain_));
  }
}

void ThreadPool::run_impl(Thunk thunk, void* ctx, int64_t n, int64_t grain) {
  thunk_ = thunk;
  ctx_ = ctx;
  n_items_ = n;
  grain_ = grain;
  next_.store(0, std::memory_order_relaxed);
  // Publishes the fields above to any worker that then reads closed_ == false.
  closed_.store(false, std::memory_order_seq_cst);
  generation_.fetch_add(1, std::memory_order_release);
  generation_.notify_all();
  drain(0);
  // A worker either registered in active_ before this store is ordered (and is waited for below), or
  // will read closed_ == true and touch nothing of this region (seq_cst on both sides).
  closed_.store(true, std::memory_order_seq_cst);
  if (spin_until([this] { return active_.load(std::memory_order_seq_cst) == 0; })) return;
  for (int a = active_.load(std::memory_order_seq_cst); a != 0; a = active_.load(std::memory_order_seq_cst))
    active_.wait(a, std::memory_order_seq_cst);
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
    active_.fetch_add(1, std::memory_order_seq_cst);
    if (!closed_.load(std::memory_order_seq_cst)) drain(index);
    // The last one out wakes the caller if it went to sleep (no syscall when nobody waits).
    if (active_.fetch_sub(1, std::memory_order_seq_cst) == 1) active_.notify_one();
  }
}

}  // namespace effitune::engine::cpu
