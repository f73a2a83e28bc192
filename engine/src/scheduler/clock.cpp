#include <chrono>

#include "effitune/engine/scheduler.h"

namespace effitune::engine {

double SteadyClock::now_ms() const {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double ManualClock::now_ms() const {
  std::lock_guard<std::mutex> lock(mu_);
  return t_ms_;
}

void ManualClock::set_ms(double t) {
  std::lock_guard<std::mutex> lock(mu_);
  t_ms_ = t;
}

void ManualClock::advance_ms(double dt) {
  std::lock_guard<std::mutex> lock(mu_);
  t_ms_ += dt;
}

}  // namespace effitune::engine
