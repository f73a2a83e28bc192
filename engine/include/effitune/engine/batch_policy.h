// Batch policies: the strategies (seed article 003) that decide, before each scheduler iteration,
// whether waiting requests may start now and how large the running batch may grow. They never see
// KV blocks or tokens directly: the Scheduler enforces the KV, token-budget and max-sequence limits
// on top of what a policy allows. A policy is owned by one Scheduler and called from its step loop
// only, so policies are not thread-safe.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "effitune/common/status.h"

namespace effitune::engine {

// What the scheduler tells a policy at the start of an iteration.
struct PolicyInput {
  double now_ms = 0;
  int32_t waiting = 0;             // requests in the waiting queue, preempted ones included
  int32_t running = 0;             // sequences that hold KV (decoding or mid-prefill)
  double oldest_wait_ms = 0;       // now - arrival of the longest-waiting request; 0 when none wait
  double kv_utilization = 0;       // used / total KV blocks, in [0, 1]
  int32_t top_waiting_priority = 0;     // highest class among waiting requests (0 when none)
  int32_t lowest_running_priority = 0;  // lowest class among running requests (0 when none)
};

struct PolicyDecision {
  bool admit_now = false;  // waiting requests may start this iteration
  // Admissions stop once this many sequences run; 0 = only the scheduler's max_num_seqs applies.
  // A cap below the current running count admits nothing and evicts nobody.
  int32_t max_batch = 0;
  bool priority_order = false;          // admit higher classes first (else first come, first served)
  bool preempt_lower_priority = false;  // may evict a lower class (recompute) to admit a higher one
};

class BatchPolicy {
 public:
  virtual ~BatchPolicy() = default;
  virtual std::string name() const = 0;
  // Called once per request, in arrival order, when the scheduler takes it in (before decide()).
  virtual void observe_arrival(double arrival_ms) { (void)arrival_ms; }
  virtual PolicyDecision decide(const PolicyInput& in) = 0;
};

// Parameters arrive as name -> number so that experiments can tune them from YAML. Every policy
// rejects unknown names and out-of-range values with kInvalidArgument naming the parameter.
using PolicyParams = std::map<std::string, double>;

// Creates a policy by name: "static", "continuous", "adaptive", "time_window", "load", "predictive",
// "priority", "hybrid". kInvalidArgument for an unknown name (listing the known ones) or a bad
// parameter. The caller owns the policy.
Result<std::unique_ptr<BatchPolicy>> make_batch_policy(const std::string& name, const PolicyParams& params = {});
std::vector<std::string> batch_policy_names();

// ---- static: fixed batch size; wait for the batch to fill (or a timeout), then run it to
// completion before admitting anything else. Dispatch iff nothing runs and
// (waiting >= batch_size or oldest_wait_ms >= timeout_ms); cap = batch_size.
struct StaticPolicyParams {
  int32_t batch_size = 8;
  double timeout_ms = 50;
  static Result<StaticPolicyParams> from(const PolicyParams& p);
};
class StaticPolicy : public BatchPolicy {
 public:
  explicit StaticPolicy(StaticPolicyParams p) : p_(p) {}
  std::string name() const override { return "static"; }
  PolicyDecision decide(const PolicyInput& in) override;

 private:
  StaticPolicyParams p_;
};

// ---- continuous: iteration-level batching. Always admits; cap = max_batch (0 = scheduler cap).
struct ContinuousPolicyParams {
  int32_t max_batch = 0;
  static Result<ContinuousPolicyParams> from(const PolicyParams& p);
};
class ContinuousPolicy : public BatchPolicy {
 public:
  explicit ContinuousPolicy(ContinuousPolicyParams p) : p_(p) {}
  std::string name() const override { return "continuous"; }
  PolicyDecision decide(const PolicyInput& in) override;

 private:
  ContinuousPolicyParams p_;
};

// Arrivals per second over a sliding window (the measured arrival rate).
class ArrivalRateMeter {
 public:
  explicit ArrivalRateMeter(double window_ms) : window_ms_(window_ms) {}
  void add(double arrival_ms) { times_.push_back(arrival_ms); }
  double rate_per_s(double now_ms);

 private:
  double window_ms_;
  std::deque<double> times_;
};

// ---- adaptive: the cap follows the measured arrival rate by Little's law: requests in the system
// = rate x time each spends there. cap = clamp(ceil(rate_per_s(window_ms) * service_ms / 1000),
// min_batch, max_batch). Always admits.
struct AdaptivePolicyParams {
  int32_t min_batch = 1;
  int32_t max_batch = 32;
  double window_ms = 1000;
  double service_ms = 500;  // expected time a request runs (prefill + decode)
  static Result<AdaptivePolicyParams> from(const PolicyParams& p);
};
class AdaptivePolicy : public BatchPolicy {
 public:
  explicit AdaptivePolicy(AdaptivePolicyParams p) : p_(p), meter_(p.window_ms) {}
  std::string name() const override { return "adaptive"; }
  void observe_arrival(double arrival_ms) override { meter_.add(arrival_ms); }
  PolicyDecision decide(const PolicyInput& in) override;

 private:
  AdaptivePolicyParams p_;
  ArrivalRateMeter meter_;
};

// ---- time_window: dispatch as soon as min_batch requests wait, else when the oldest has waited
// window_ms; the running batch never exceeds max_batch.
struct TimeWindowPolicyParams {
  double window_ms = 20;
  int32_t min_batch = 4;
  int32_t max_batch = 32;
  static Result<TimeWindowPolicyParams> from(const PolicyParams& p);
};
class TimeWindowPolicy : public BatchPolicy {
 public:
  explicit TimeWindowPolicy(TimeWindowPolicyParams p) : p_(p) {}
  std::string name() const override { return "time_window"; }
  PolicyDecision decide(const PolicyInput& in) override;

 private:
  TimeWindowPolicyParams p_;
};

// ---- load: additive-increase / multiplicative-decrease of the cap. Each iteration, when the oldest
// waiting request has waited more than queue_latency_high_ms or KV utilisation exceeds kv_high, the
// cap halves (not below min_batch); otherwise it grows by one (not above max_batch). Shrinking under
// load keeps the KV cache out of preemption storms. Starts at max_batch. Always admits.
struct LoadPolicyParams {
  int32_t min_batch = 1;
  int32_t max_batch = 32;
  double queue_latency_high_ms = 500;
  double kv_high = 0.9;
  static Result<LoadPolicyParams> from(const PolicyParams& p);
};
class LoadPolicy : public BatchPolicy {
 public:
  explicit LoadPolicy(LoadPolicyParams p) : p_(p), cap_(p.max_batch) {}
  std::string name() const override { return "load"; }
  PolicyDecision decide(const PolicyInput& in) override;
  int32_t cap() const { return cap_; }

 private:
  LoadPolicyParams p_;
  int32_t cap_;
};

// ---- predictive: arrivals are counted in buckets of bucket_ms; each closed bucket updates a Holt
// forecast of the rate x (per second): level = alpha*x + (1-alpha)*(level+trend),
// trend = beta*(level-level_prev) + (1-beta)*trend (beta = 0 is plain EWMA). The first bucket sets
// level = x. The cap sizes ahead of the forecast lookahead_buckets ahead:
// cap = clamp(ceil(max(0, level + lookahead_buckets*trend) * service_ms / 1000), min_batch, max_batch).
// Always admits.
struct PredictivePolicyParams {
  double alpha = 0.5;
  double beta = 0.0;
  double bucket_ms = 100;
  double lookahead_buckets = 1;
  double service_ms = 500;
  int32_t min_batch = 1;
  int32_t max_batch = 32;
  static Result<PredictivePolicyParams> from(const PolicyParams& p);
};
class PredictivePolicy : public BatchPolicy {
 public:
  explicit PredictivePolicy(PredictivePolicyParams p) : p_(p) {}
  std::string name() const override { return "predictive"; }
  void observe_arrival(double arrival_ms) override;
  PolicyDecision decide(const PolicyInput& in) override;
  double forecast_per_s() const;

 private:
  void roll_to(double t_ms);  // closes every bucket that ends at or before t_ms
  PredictivePolicyParams p_;
  bool started_ = false, have_level_ = false;
  double bucket_start_ms_ = 0;
  int64_t bucket_count_ = 0;
  double level_ = 0, trend_ = 0;
};

// ---- priority: higher classes are admitted first (ties: first come). With preempt = 1 a waiting
// request that does not fit may evict running requests of a strictly lower class (they are
// recomputed later). Always admits; cap = max_batch (0 = scheduler cap).
struct PriorityPolicyParams {
  int32_t max_batch = 0;
  bool preempt = false;
  static Result<PriorityPolicyParams> from(const PolicyParams& p);
};
class PriorityPolicy : public BatchPolicy {
 public:
  explicit PriorityPolicy(PriorityPolicyParams p) : p_(p) {}
  std::string name() const override { return "priority"; }
  PolicyDecision decide(const PolicyInput& in) override;

 private:
  PriorityPolicyParams p_;
};

// ---- hybrid: time + load + priority. Admits when the time-window rule says so (min_batch waiting
// or the oldest waited window_ms) or at once when a waiting request's class is >= urgent_priority;
// the cap is the load policy's AIMD cap; admission is in priority order, with optional preemption.
struct HybridPolicyParams {
  double window_ms = 20;
  int32_t min_batch = 4;
  int32_t max_batch = 32;
  double queue_latency_high_ms = 500;
  double kv_high = 0.9;
  int32_t urgent_priority = 1;
  bool preempt = false;
  static Result<HybridPolicyParams> from(const PolicyParams& p);
};
class HybridPolicy : public BatchPolicy {
 public:
  explicit HybridPolicy(HybridPolicyParams p)
      : p_(p), load_({1, p.max_batch, p.queue_latency_high_ms, p.kv_high}) {}
  std::string name() const override { return "hybrid"; }
  PolicyDecision decide(const PolicyInput& in) override;

 private:
  HybridPolicyParams p_;
  LoadPolicy load_;
};

}  // namespace effitune::engine
