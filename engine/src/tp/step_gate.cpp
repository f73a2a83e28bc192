#include "tp/step_gate.h"

namespace effitune::engine::tp {

bool StepGate::arrive(bool ready) {
  std::unique_lock<std::mutex> lock(mu_);
  all_ready_ = all_ready_ && ready;
  if (++arrived_ == ranks_) {
    // The last to arrive closes the round: the others read its result before the next round can
    // change it (a rank can only start the next round after this one has released everyone).
    last_result_ = all_ready_;
    arrived_ = 0;
    all_ready_ = true;
    ++round_;
    cv_.notify_all();
    return last_result_;
  }
  const uint64_t mine = round_;
  cv_.wait(lock, [&] { return round_ != mine; });
  return last_result_;
}

}  // namespace effitune::engine::tp
