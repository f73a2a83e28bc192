// The policies that react to load: load-based (AIMD cap) and hybrid (time + load + priority).
#include <algorithm>

#include "effitune/engine/batch_policy.h"
#include "scheduler/policy_params.h"

namespace effitune::engine {
namespace {
constexpr int32_t kMaxBatch = 1 << 20;
constexpr double kMaxMs = 1e9;
}  // namespace

Result<LoadPolicyParams> LoadPolicyParams::from(const PolicyParams& p) {
  ParamReader r("load", p);
  LoadPolicyParams out;
  out.min_batch = r.integer("min_batch", out.min_batch, 1, kMaxBatch);
  out.max_batch = r.integer("max_batch", out.max_batch, 1, kMaxBatch);
  out.queue_latency_high_ms = r.real("queue_latency_high_ms", out.queue_latency_high_ms, 0, kMaxMs);
  out.kv_high = r.real("kv_high", out.kv_high, 0, 1);
  EFFITUNE_RETURN_IF_ERROR(r.finish());
  if (out.min_batch > out.max_batch)
    return invalid_argument("batch policy 'load': min_batch (" + std::to_string(out.min_batch) +
                            ") exceeds max_batch (" + std::to_string(out.max_batch) + ")");
  return out;
}

PolicyDecision LoadPolicy::decide(const PolicyInput& in) {
  const bool high = in.oldest_wait_ms > p_.queue_latency_high_ms || in.kv_utilization > p_.kv_high;
  cap_ = high ? std::max(p_.min_batch, cap_ / 2) : std::min(p_.max_batch, cap_ + 1);
  PolicyDecision d;
  d.admit_now = true;
  d.max_batch = cap_;
  return d;
}

Result<HybridPolicyParams> HybridPolicyParams::from(const PolicyParams& p) {
  ParamReader r("hybrid", p);
  HybridPolicyParams out;
  out.window_ms = r.real("window_ms", out.window_ms, 0, kMaxMs);
  out.min_batch = r.integer("min_batch", out.min_batch, 1, kMaxBatch);
  out.max_batch = r.integer("max_batch", out.max_batch, 1, kMaxBatch);
  out.queue_latency_high_ms = r.real("queue_latency_high_ms", out.queue_latency_high_ms, 0, kMaxMs);
  out.kv_high = r.real("kv_high", out.kv_high, 0, 1);
  out.urgent_priority = r.integer("urgent_priority", out.urgent_priority, -kMaxBatch, kMaxBatch);
  out.preempt = r.flag("preempt", out.preempt);
  EFFITUNE_RETURN_IF_ERROR(r.finish());
  if (out.min_batch > out.max_batch)
    return invalid_argument("batch policy 'hybrid': min_batch (" + std::to_string(out.min_batch) +
                            ") exceeds max_batch (" + std::to_string(out.max_batch) + ")");
  return out;
}

PolicyDecision HybridPolicy::decide(const PolicyInput& in) {
  PolicyDecision d = load_.decide(in);
  const bool window = in.waiting >= p_.min_batch || (in.waiting > 0 && in.oldest_wait_ms >= p_.window_ms);
  const bool urgent = in.waiting > 0 && in.top_waiting_priority >= p_.urgent_priority;
  d.admit_now = window || urgent;
  d.priority_order = true;
  d.preempt_lower_priority = p_.preempt;
  return d;
}

}  // namespace effitune::engine
