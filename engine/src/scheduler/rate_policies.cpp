// The policies driven by the arrival rate: adaptive (measured) and predictive (forecast).
#include <algorithm>
#include <cmath>

#include "effitune/engine/batch_policy.h"
#include "scheduler/policy_params.h"

namespace effitune::engine {
namespace {
constexpr int32_t kMaxBatch = 1 << 20;
constexpr double kMaxMs = 1e9;
// A gap longer than this many empty buckets restarts the forecast instead of looping through them.
constexpr int64_t kMaxEmptyBuckets = 10000;

int32_t cap_for_rate(double rate_per_s, double service_ms, int32_t lo, int32_t hi) {
  const double want = std::ceil(std::max(0.0, rate_per_s) * service_ms / 1000.0 - 1e-9);
  return static_cast<int32_t>(std::clamp<double>(want, lo, hi));
}

Status check_min_max(const char* policy, int32_t lo, int32_t hi) {
  if (lo <= hi) return {};
  return invalid_argument(std::string("batch policy '") + policy + "': min_batch (" + std::to_string(lo) +
                          ") exceeds max_batch (" + std::to_string(hi) + ")");
}
}  // namespace

double ArrivalRateMeter::rate_per_s(double now_ms) {
  while (!times_.empty() && times_.front() <= now_ms - window_ms_) times_.pop_front();
  return static_cast<double>(times_.size()) * 1000.0 / window_ms_;
}

Result<AdaptivePolicyParams> AdaptivePolicyParams::from(const PolicyParams& p) {
  ParamReader r("adaptive", p);
  AdaptivePolicyParams out;
  out.min_batch = r.integer("min_batch", out.min_batch, 1, kMaxBatch);
  out.max_batch = r.integer("max_batch", out.max_batch, 1, kMaxBatch);
  out.window_ms = r.real("window_ms", out.window_ms, 1e-3, kMaxMs);
  out.service_ms = r.real("service_ms", out.service_ms, 0, kMaxMs);
  EFFITUNE_RETURN_IF_ERROR(r.finish());
  EFFITUNE_RETURN_IF_ERROR(check_min_max("adaptive", out.min_batch, out.max_batch));
  return out;
}

PolicyDecision AdaptivePolicy::decide(const PolicyInput& in) {
  PolicyDecision d;
  d.admit_now = true;
  d.max_batch = cap_for_rate(meter_.rate_per_s(in.now_ms), p_.service_ms, p_.min_batch, p_.max_batch);
  return d;
}

Result<PredictivePolicyParams> PredictivePolicyParams::from(const PolicyParams& p) {
  ParamReader r("predictive", p);
  PredictivePolicyParams out;
  out.alpha = r.real("alpha", out.alpha, 1e-6, 1);
  out.beta = r.real("beta", out.beta, 0, 1);
  out.bucket_ms = r.real("bucket_ms", out.bucket_ms, 1e-3, kMaxMs);
  out.lookahead_buckets = r.real("lookahead_buckets", out.lookahead_buckets, 0, 1e6);
  out.service_ms = r.real("service_ms", out.service_ms, 0, kMaxMs);
  out.min_batch = r.integer("min_batch", out.min_batch, 1, kMaxBatch);
  out.max_batch = r.integer("max_batch", out.max_batch, 1, kMaxBatch);
  EFFITUNE_RETURN_IF_ERROR(r.finish());
  EFFITUNE_RETURN_IF_ERROR(check_min_max("predictive", out.min_batch, out.max_batch));
  return out;
}

void PredictivePolicy::roll_to(double t_ms) {
  if (!started_) {
    started_ = true;
    bucket_start_ms_ = t_ms;
    return;
  }
  const int64_t closed = static_cast<int64_t>(std::floor((t_ms - bucket_start_ms_) / p_.bucket_ms));
  if (closed <= 0) return;
  if (closed > kMaxEmptyBuckets) {
    // After a very long silence the old level says nothing: restart from an empty bucket.
    have_level_ = true;
    level_ = trend_ = 0;
    bucket_count_ = 0;
    bucket_start_ms_ += static_cast<double>(closed) * p_.bucket_ms;
    return;
  }
  for (int64_t i = 0; i < closed; ++i) {
    const double x = static_cast<double>(bucket_count_) * 1000.0 / p_.bucket_ms;
    if (!have_level_) {
      have_level_ = true;
      level_ = x;
    } else {
      const double prev = level_;
      level_ = p_.alpha * x + (1 - p_.alpha) * (level_ + trend_);
      trend_ = p_.beta * (level_ - prev) + (1 - p_.beta) * trend_;
    }
    bucket_count_ = 0;
    bucket_start_ms_ += p_.bucket_ms;
  }
}

void PredictivePolicy::observe_arrival(double arrival_ms) {
  roll_to(arrival_ms);
  ++bucket_count_;
}

double PredictivePolicy::forecast_per_s() const {
  return have_level_ ? std::max(0.0, level_ + p_.lookahead_buckets * trend_) : 0.0;
}

PolicyDecision PredictivePolicy::decide(const PolicyInput& in) {
  roll_to(in.now_ms);
  PolicyDecision d;
  d.admit_now = true;
  d.max_batch = cap_for_rate(forecast_per_s(), p_.service_ms, p_.min_batch, p_.max_batch);
  return d;
}

}  // namespace effitune::engine
