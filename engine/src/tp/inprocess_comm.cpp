// The in-process communicator: ranks are threads of one process and sum through shared memory.
#include <algorithm>
#include <barrier>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "effitune/engine/communicator.h"

namespace effitune::engine {
namespace {

struct Shared {
  explicit Shared(int32_t n) : size(n), arrive(n), data(n, nullptr), counts(n, 0) {}
  int32_t size;
  std::barrier<> arrive;
  std::vector<float*> data;
  std::vector<int64_t> counts;
  std::vector<float> sum;
};

class InProcessCommunicator final : public Communicator {
 public:
  InProcessCommunicator(std::shared_ptr<Shared> shared, int32_t rank) : shared_(std::move(shared)), rank_(rank) {}
  int32_t rank() const override { return rank_; }
  int32_t size() const override { return shared_->size; }
  std::string name() const override { return "in-process"; }

  void start_timing() override {
    timing_ = true;
    time_ = {};
  }
  CollectiveTime timing() const override { return time_; }

  Status all_reduce_sum(float* data, int64_t count, void*) override {
    if (!timing_) return sum(data, count);
    const auto t0 = std::chrono::steady_clock::now();
    Status st = sum(data, count);
    time_.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    ++time_.calls;
    return st;
  }

 private:
  Status sum(float* data, int64_t count) {
    Shared& s = *shared_;
    s.data[rank_] = data;
    s.counts[rank_] = count;
    if (rank_ == 0) s.sum.resize(static_cast<size_t>(count > 0 ? count : 0));
    s.arrive.arrive_and_wait();
    // Every rank reads the same counts, so all take the same branch and the barriers stay matched.
    for (int64_t c : s.counts)
      if (c != s.counts[0])
        return internal_error("in-process all_reduce: ranks passed different counts (" + std::to_string(s.counts[0]) + " and " +
                        std::to_string(c) + ")");
    // Each rank sums its own slice of the elements over all ranks, in rank order.
    const int64_t lo = count * rank_ / s.size, hi = count * (rank_ + 1) / s.size;
    for (int64_t i = lo; i < hi; ++i) {
      float acc = s.data[0][i];
      for (int32_t r = 1; r < s.size; ++r) acc += s.data[r][i];
      s.sum[static_cast<size_t>(i)] = acc;
    }
    s.arrive.arrive_and_wait();
    std::copy(s.sum.begin(), s.sum.end(), data);
    // Nobody may start the next call (and overwrite `sum`) before every rank has copied this one.
    s.arrive.arrive_and_wait();
    return {};
  }

  std::shared_ptr<Shared> shared_;
  int32_t rank_;
  bool timing_ = false;
  CollectiveTime time_;
};

}  // namespace

std::vector<std::unique_ptr<Communicator>> make_in_process_group(int32_t size) {
  auto shared = std::make_shared<Shared>(size);
  std::vector<std::unique_ptr<Communicator>> group;
  for (int32_t r = 0; r < size; ++r) group.push_back(std::make_unique<InProcessCommunicator>(shared, r));
  return group;
}

}  // namespace effitune::engine
