// A persistent pool for the CPU backend's parallel regions. Decode runs ~60-100 regions per token,
// each only a few microseconds long, so dispatch must cost far less than a microsecond: workers spin
// on a generation counter for a short while before sleeping on it (C++20 atomic wait = futex).
// run() is called from one thread at a time (the backend's forward); it is not re-entrant.
#pragma once

#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

namespace effitune::engine::cpu {

class ThreadPool {
 public:
  // `n_threads` >= 1 counts the calling thread, which takes part in every region as index 0.
  explicit ThreadPool(int n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }

  // Calls fn(thread_index, n_threads) once on every thread and returns when all have finished.
  template <typename F>
  void run(F&& fn) {
    if (n_threads_ == 1) {
      fn(0, 1);
      return;
    }
    run_impl(&invoke<std::remove_reference_t<F>>, &fn);
  }

 private:
  using Thunk = void (*)(void* ctx, int thread_index, int n_threads);
  template <typename F>
  static void invoke(void* ctx, int i, int n) {
    (*static_cast<F*>(ctx))(i, n);
  }
  void run_impl(Thunk thunk, void* ctx);
  void worker(int index);

  int n_threads_;
  std::vector<std::thread> workers_;
  Thunk thunk_ = nullptr;
  void* ctx_ = nullptr;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
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
