#include "tp/rank_threads.h"

#include <cstdio>

namespace effitune::engine::tp {

RankThreads::RankThreads(int32_t ranks) : ranks_(ranks), results_(static_cast<size_t>(ranks)) {
  for (int32_t r = 1; r < ranks; ++r) threads_.emplace_back([this, r] { loop(r); });
}

RankThreads::~RankThreads() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  start_.notify_all();
  for (std::thread& t : threads_) t.join();
}

// Said at once, not when run() returns: the ranks that succeeded may be waiting on the failed
// rank's part of a collective, so the caller may not hear of the failure for a long time.
void RankThreads::report_failure(int32_t rank, const Status& st) {
  if (st.ok() || st.code() == StatusCode::kCancelled) return;
  std::fprintf(stderr, "effitune: tensor-parallel rank %d of %d failed: %s\n", rank, ranks_, st.to_string().c_str());
}

void RankThreads::loop(int32_t rank) {
  uint64_t seen = 0;
  for (;;) {
    const std::function<Status(int32_t)>* job = nullptr;
    {
      std::unique_lock<std::mutex> lock(mu_);
      start_.wait(lock, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
      job = job_;
    }
    Status st = (*job)(rank);
    report_failure(rank, st);
    std::lock_guard<std::mutex> lock(mu_);
    results_[static_cast<size_t>(rank)] = std::move(st);
    if (--pending_ == 0) done_.notify_all();
  }
}

Status RankThreads::run(const std::function<Status(int32_t)>& fn) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    job_ = &fn;
    pending_ = ranks_ - 1;
    ++generation_;
  }
  start_.notify_all();
  results_[0] = fn(0);
  report_failure(0, results_[0]);
  std::unique_lock<std::mutex> lock(mu_);
  done_.wait(lock, [&] { return pending_ == 0; });
  // The cause first: ranks that stopped because another failed say less than the rank that failed
  // (kCancelled: stopped at the CUDA step gate; kDeadlineExceeded: an exchange gave up waiting for a
  // rank whose launch failed). Among equals, the lowest rank.
  auto consequence = [](const Status& st) {
    return st.code() == StatusCode::kCancelled ? 2 : st.code() == StatusCode::kDeadlineExceeded ? 1 : 0;
  };
  const Status* pick = nullptr;
  for (const Status& st : results_)
    if (!st.ok() && (pick == nullptr || consequence(st) < consequence(*pick))) pick = &st;
  return pick != nullptr ? *pick : Status{};
}

}  // namespace effitune::engine::tp
