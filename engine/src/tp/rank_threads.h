// One persistent host thread per rank above 0 (rank 0 runs on the caller): a decode step is a few
// milliseconds, too short to start threads for.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "effitune/common/status.h"

namespace effitune::engine::tp {

class RankThreads {
 public:
  explicit RankThreads(int32_t ranks);
  ~RankThreads();
  RankThreads(const RankThreads&) = delete;
  RankThreads& operator=(const RankThreads&) = delete;

  // Runs fn(rank) for every rank at once and waits for all; returns the lowest rank's error,
  // preferring a cause to a consequence: any other code before kDeadlineExceeded (an exchange that
  // gave up waiting for a failed rank) before kCancelled (a rank stopped at the step gate).
  Status run(const std::function<Status(int32_t)>& fn);

 private:
  void loop(int32_t rank);
  void report_failure(int32_t rank, const Status& st);

  int32_t ranks_;
  std::mutex mu_;
  std::condition_variable start_, done_;
  const std::function<Status(int32_t)>* job_ = nullptr;
  uint64_t generation_ = 0;
  int32_t pending_ = 0;
  bool stop_ = false;
  std::vector<Status> results_;
  std::vector<std::thread> threads_;
};

}  // namespace effitune::engine::tp
