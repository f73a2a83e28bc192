// The policies whose rule is a plain function of queue length and waiting time: static,
// continuous, time-window and priority.
#include "effitune/engine/batch_policy.h"
#include "scheduler/policy_params.h"

namespace effitune::engine {
namespace {
constexpr int32_t kMaxBatch = 1 << 20;
constexpr double kMaxMs = 1e9;
}  // namespace

Result<StaticPolicyParams> StaticPolicyParams::from(const PolicyParams& p) {
  ParamReader r("static", p);
  StaticPolicyParams out;
  out.batch_size = r.integer("batch_size", out.batch_size, 1, kMaxBatch);
  out.timeout_ms = r.real("timeout_ms", out.timeout_ms, 0, kMaxMs);
  EFFITUNE_RETURN_IF_ERROR(r.finish());
  return out;
}

PolicyDecision StaticPolicy::decide(const PolicyInput& in) {
  PolicyDecision d;
  d.max_batch = p_.batch_size;
  // The batch in flight runs to completion: nothing joins it.
  d.admit_now = in.running == 0 && in.waiting > 0 &&
                (in.waiting >= p_.batch_size || in.oldest_wait_ms >= p_.timeout_ms);
  return d;
}

Result<ContinuousPolicyParams> ContinuousPolicyParams::from(const PolicyParams& p) {
  ParamReader r("continuous", p);
  ContinuousPolicyParams out;
  out.max_batch = r.integer("max_batch", out.max_batch, 0, kMaxBatch);
  EFFITUNE_RETURN_IF_ERROR(r.finish());
  return out;
}

PolicyDecision ContinuousPolicy::decide(const PolicyInput&) {
  PolicyDecision d;
  d.admit_now = true;
  d.max_batch = p_.max_batch;
  return d;
}

Result<TimeWindowPolicyParams> TimeWindowPolicyParams::from(const PolicyParams& p) {
  ParamReader r("time_window", p);
  TimeWindowPolicyParams out;
  out.window_ms = r.real("window_ms", out.window_ms, 0, kMaxMs);
  out.min_batch = r.integer("min_batch", out.min_batch, 1, kMaxBatch);
  out.max_batch = r.integer("max_batch", out.max_batch, 1, kMaxBatch);
  EFFITUNE_RETURN_IF_ERROR(r.finish());
  if (out.min_batch > out.max_batch)
    return invalid_argument("batch policy 'time_window': min_batch (" + std::to_string(out.min_batch) +
                            ") exceeds max_batch (" + std::to_string(out.max_batch) + ")");
  return out;
}

PolicyDecision TimeWindowPolicy::decide(const PolicyInput& in) {
  PolicyDecision d;
  d.max_batch = p_.max_batch;
  d.admit_now = in.waiting >= p_.min_batch || (in.waiting > 0 && in.oldest_wait_ms >= p_.window_ms);
  return d;
}

Result<PriorityPolicyParams> PriorityPolicyParams::from(const PolicyParams& p) {
  ParamReader r("priority", p);
  PriorityPolicyParams out;
  out.max_batch = r.integer("max_batch", out.max_batch, 0, kMaxBatch);
  out.preempt = r.flag("preempt", out.preempt);
  EFFITUNE_RETURN_IF_ERROR(r.finish());
  return out;
}

PolicyDecision PriorityPolicy::decide(const PolicyInput&) {
  PolicyDecision d;
  d.admit_now = true;
  d.max_batch = p_.max_batch;
  d.priority_order = true;
  d.preempt_lower_priority = p_.preempt;
  return d;
}

}  // namespace effitune::engine
