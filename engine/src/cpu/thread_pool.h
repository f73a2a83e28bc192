// A persistent pool for the CPU backend's parallel regions. Decode runs ~60 regions per token, each
// only tens of microseconds long, so dispatch must cost far less than a microsecond: workers spin on a
// generation counter for a short while before sleeping on it (C++20 atomic wait = futex).
//
// Work is claimed, not assigned: a region is a range of items cut into chunks, and every thread that
// is running takes the next chunk from a shared counter. The calling thread alone can finish a region
// if the other threads are descheduled (a machine busy with other processes), instead of waiting a
// scheduler time slice for them; a late worker that finds no chunk left does nothing. The caller waits
// only for chunks already taken.
// run*() is called from one thread at a time (the backend's forward); it is not re-entrant.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <thread>
#include <type_traits>
#include <vector>

namespace effitune::engine::cpu {

class ThreadPool {
 public:
  // `n_threads` >= 1 counts the calling thread, which takes part in every region.
  explicit ThreadPool(int n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }

  // Calls fn(thread, begin, end) for consecutive chunks [begin, end) of [0, n) of `grain` items (the
  // last may be shorter), each chunk exactly once, and returns when all are done. `thread` in
  // [0, size()) names the thread running the chunk (for per-thread scratch); one thread may run
  // many chunks, or all of them.
  template <typename F>
  void run_chunks(int64_t n, int64_t grain, F&& fn) {
    if (n <= 0) return;
    grain = std::max<int64_t>(grain, 1);
    if (n_threads_ == 1 || n <= grain) {
      for (int64_t b = 0; b < n; b += grain) fn(0, b, std::min(n, b + grain));
      return;
    }
    run_impl(&invoke<std::remove_reference_t<F>>, &fn, n, grain);
  }

  // Calls fn(part, n_parts) once for every part in [0, size()), spread over the running threads:
  // for code that splits its work statically (split_range). Two calls never share a part at once.
  template <typename F>
  void run(F&& fn) {
    const int parts = n_threads_;
    run_chunks(parts, 1, [&](int, int64_t b, int64_t) { fn(static_cast<int>(b), parts); });
  }

 private:
  using Thunk = void (*)(void* ctx, int thread, int64_t begin, int64_t end);
  template <typename F>
  static void invoke(void* ctx, int thread, int64_t begin, int64_t end) {
    (*static_cast<F*>(ctx))(thread, begin, end);
  }
  void run_impl(Thunk thunk, void* ctx, int64_t n, int64_t grain);
  // Claims and runs chunks of the open region until none is left.
  void drain(int thread);
  void worker(int index);

  int n_threads_;
  std::vector<std::thread> workers_;
  // The open region; written by the caller only while `closed_` is true and no worker is `active_`.
  Thunk thunk_ = nullptr;
  void* ctx_ = nullptr;
  int64_t n_items_ = 0, grain_ = 1;
  std::atomic<int64_t> next_{0};
  std::atomic<bool> closed_{true};
  std::atomic<int> active_{0};
  std::atomic<uint64_t> generation_{0};
  std::atomic<bool> stop_{false};
};

// Splits [0, n) into `parts` nearly equal contiguous ranges aligned to `align`; returns part i.
inline void split_range(int64_t n, int64_t align, int i, int parts, int64_t& begin, int64_t& end) {
  const int64_t units = (n + align - 1) / align;
  const int64_t per = units / parts, extra = units % parts;
  const int64_t u0 = i * per + (i < extra ? i : extra);
  const int64_t u1 = u0 + per + (i < extra ? 1 : 0);
  begin = u0 * align < n ? u0 * align : n;
  end = u1 * align < n ? u1 * align : n;
}

}  // namespace effitune::engine::cpu
