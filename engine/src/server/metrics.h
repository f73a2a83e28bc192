// Server metrics: request outcomes, HTTP statuses, TTFT / inter-token-latency / engine-step histograms
// and the recent token rate, rendered with the scheduler's gauges as Prometheus text (format 0.0.4).
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "effitune/engine/scheduler.h"

namespace effitune::engine::server {

// A cumulative Prometheus histogram over fixed upper bounds (seconds).
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {}
  void observe(double v);
  // Appends the _bucket/_sum/_count lines of `name`.
  void render(const std::string& name, const std::string& help, std::string& out) const;
  uint64_t count() const { return count_; }

 private:
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;  // per bucket, not cumulative; the last is +Inf
  double sum_ = 0;
  uint64_t count_ = 0;
};

class Metrics {
 public:
  Metrics();
  // A finished request (any thread): its outcome and latencies.
  void on_finish(const RequestEvent& ev);
  void on_http_status(int status);
  // The loop thread, after each step: the generated-token counter at time t (ms), for tokens/s.
  void on_progress(double t_ms, int64_t generated_tokens);
  // The loop thread, after each step that ran an engine batch: its duration, as decode (one token per
  // sequence) or prefill (prompt tokens in the batch, alone or beside decode rows).
  void on_step(const StepReport& r);
  std::string render(const SchedulerStats& s, int64_t in_flight) const;

 private:
  static constexpr double kRateWindowMs = 10000;
  mutable std::mutex mu_;
  Histogram ttft_, itl_, e2e_, decode_step_, prefill_step_;
  std::map<std::string, int64_t> outcomes_;
  std::map<int, int64_t> http_;
  std::deque<std::pair<double, int64_t>> progress_;
};

}  // namespace effitune::engine::server
