// Fake targets for load-probe tests (header-only so the shared support library needs no probes link).
// - ScriptedTarget: answers synchronously with latencies scripted per request, stamped on a given
//   clock (a VirtualClock makes every latency exact).
// - SingleServerTarget: one FIFO server with a fixed service time, simulated on the given clock.
// - StallingTarget: real time; holds every request until release() (or its destructor).
#pragma once

#include <atomic>
#include <functional>
#include <mutex>
#include <vector>

#include "effitune/probes/load_test.h"
#include "effitune/probes/target.h"

namespace effitune::testing {

struct Script {
  double ttft_ms = 10;
  std::vector<double> gaps_ms;  // one per token after the first
  bool error = false;           // finish with kError (after ttft, with no tokens)
  probes::FinishReason reason = probes::FinishReason::kLength;
};

class ScriptedTarget : public probes::Target {
 public:
  ScriptedTarget(probes::Clock& clock, std::function<Script(size_t k)> script) : clock_(clock), script_(std::move(script)) {}
  std::string name() const override { return "scripted"; }
  void submit(const probes::TargetRequest&, std::shared_ptr<probes::StreamSink> sink) override {
    const Script s = script_(next_++);
    const double t0 = clock_.now_s();
    double t = t0 + s.ttft_ms / 1000.0;
    probes::TargetFinish f;
    if (s.error) {
      f.reason = probes::FinishReason::kError;
      f.error = unavailable("scripted failure");
      sink->on_finish(f, t);
      return;
    }
    sink->on_tokens(1, t);
    for (double g : s.gaps_ms) {
      t += g / 1000.0;
      sink->on_tokens(1, t);
    }
    f.reason = s.reason;
    f.output_tokens = 1 + static_cast<int32_t>(s.gaps_ms.size());
    sink->on_finish(f, t);
  }
  size_t submitted() const { return next_; }

 private:
  probes::Clock& clock_;
  std::function<Script(size_t)> script_;
  std::atomic<size_t> next_{0};
};

// Requests are served one at a time in arrival order, each taking service_ms; one token at the end.
class SingleServerTarget : public probes::Target {
 public:
  SingleServerTarget(probes::Clock& clock, double service_ms) : clock_(clock), service_s_(service_ms / 1000.0) {}
  std::string name() const override { return "single-server"; }
  void submit(const probes::TargetRequest&, std::shared_ptr<probes::StreamSink> sink) override {
    const double now = clock_.now_s();
    const double start = std::max(now, free_at_);
    free_at_ = start + service_s_;
    sink->on_tokens(1, free_at_);
    probes::TargetFinish f;
    f.output_tokens = 1;
    sink->on_finish(f, free_at_);
  }
  void reset() { free_at_ = -1e300; }

 private:
  probes::Clock& clock_;
  double service_s_;
  double free_at_ = -1e300;
};

class StallingTarget : public probes::Target {
 public:
  ~StallingTarget() override { release(); }
  std::string name() const override { return "stalling"; }
  void submit(const probes::TargetRequest&, std::shared_ptr<probes::StreamSink> sink) override {
    std::unique_lock<std::mutex> lock(mu_);
    if (released_) {
      lock.unlock();
      answer(*sink);
      return;
    }
    held_.push_back(std::move(sink));
  }
  // Answers every held request now; later requests are answered at once.
  void release() {
    std::vector<std::shared_ptr<probes::StreamSink>> held;
    {
      std::lock_guard<std::mutex> g(mu_);
      released_ = true;
      held.swap(held_);
    }
    for (auto& s : held) answer(*s);
  }

 private:
  static void answer(probes::StreamSink& s) {
    const double t = probes::steady_now_s();
    s.on_tokens(1, t);
    probes::TargetFinish f;
    f.output_tokens = 1;
    s.on_finish(f, t);
  }
  std::mutex mu_;
  bool released_ = false;
  std::vector<std::shared_ptr<probes::StreamSink>> held_;
};

}  // namespace effitune::testing
