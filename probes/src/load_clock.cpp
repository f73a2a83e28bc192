// Clocks for the load generator.
#include <chrono>
#include <thread>

#include "effitune/probes/load_test.h"

namespace effitune::probes {

double SteadyClock::now_s() const { return steady_now_s(); }

void SteadyClock::sleep_until(double t_s) {
  // Sleep to within 100 us, then yield until the deadline, so a dispatch is late by microseconds
  // rather than a timer slack. The spin window is CPU the generator takes from the engine under
  // test (R x window per second at R req/s: 1 ms windows cost a tenth of a core at 100 req/s and
  // skewed the HTTP-vs-in-process capacity comparison); 100 us keeps it to 1%, and the wake-up
  // jitter of a sleep (~50-100 us on Linux) stays inside the 2 ms lateness budget either way.
  constexpr double kSpinS = 0.0001;
  for (double now = steady_now_s(); now < t_s; now = steady_now_s()) {
    if (t_s - now > kSpinS) std::this_thread::sleep_for(std::chrono::duration<double>(t_s - now - kSpinS));
    else std::this_thread::yield();
  }
}

void SteadyClock::wait_until(std::condition_variable& cv, std::unique_lock<std::mutex>& lock, double t_s) {
  const double dt = t_s - steady_now_s();
  if (dt <= 0) return;
  cv.wait_for(lock, std::chrono::duration<double>(dt));
}

double VirtualClock::now_s() const {
  std::lock_guard<std::mutex> g(mu_);
  return t_s_;
}

void VirtualClock::sleep_until(double t_s) {
  std::lock_guard<std::mutex> g(mu_);
  if (t_s > t_s_) t_s_ = t_s;
}

void VirtualClock::wait_until(std::condition_variable&, std::unique_lock<std::mutex>&, double t_s) { sleep_until(t_s); }

void VirtualClock::set_s(double t_s) {
  std::lock_guard<std::mutex> g(mu_);
  t_s_ = t_s;
}

}  // namespace effitune::probes
