#include "server/metrics.h"

#include <cstdio>

namespace effitune::engine::server {
namespace {

std::string num(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

void gauge(std::string& out, const char* name, const char* help, const char* type, double v) {
  out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n" + name + " " + num(v) + "\n";
}

}  // namespace

void Histogram::observe(double v) {
  size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i]) ++i;
  ++counts_[i];
  sum_ += v;
  ++count_;
}

void Histogram::render(const std::string& name, const std::string& help, std::string& out) const {
  out += "# HELP " + name + " " + help + "\n# TYPE " + name + " histogram\n";
  uint64_t cum = 0;
  for (size_t i = 0; i < bounds_.size(); ++i) {
    cum += counts_[i];
    out += name + "_bucket{le=\"" + num(bounds_[i]) + "\"} " + std::to_string(cum) + "\n";
  }
  cum += counts_.back();
  out += name + "_bucket{le=\"+Inf\"} " + std::to_string(cum) + "\n";
  out += name + "_sum " + num(sum_) + "\n" + name + "_count " + std::to_string(count_) + "\n";
}

Metrics::Metrics()
    : ttft_({0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}),
      itl_({0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5}),
      e2e_({0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}),
      decode_step_({0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1}),
      prefill_step_({0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5}) {}

void Metrics::on_step(const StepReport& r) {
  if (!r.dispatched) return;
  std::lock_guard<std::mutex> lock(mu_);
  (r.batch_tokens > r.batch_sequences ? prefill_step_ : decode_step_).observe(r.step_ms / 1000.0);
}

void Metrics::on_finish(const RequestEvent& ev) {
  std::lock_guard<std::mutex> lock(mu_);
  ++outcomes_[request_outcome_name(ev.outcome)];
  if (ev.timings.ttft_ms >= 0) ttft_.observe(ev.timings.ttft_ms / 1000.0);
  const auto& t = ev.timings.token_ms;
  for (size_t i = 1; i < t.size(); ++i) itl_.observe((t[i] - t[i - 1]) / 1000.0);
  e2e_.observe(ev.timings.e2e_ms / 1000.0);
}

void Metrics::on_http_status(int status) {
  std::lock_guard<std::mutex> lock(mu_);
  ++http_[status];
}

void Metrics::on_progress(double t_ms, int64_t generated_tokens) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!progress_.empty() && progress_.back().second == generated_tokens && progress_.size() > 1 &&
      t_ms - progress_.back().first < 100)
    return;  // idle spinning adds nothing
  progress_.emplace_back(t_ms, generated_tokens);
  while (progress_.size() > 2 && t_ms - progress_[1].first >= kRateWindowMs) progress_.pop_front();
}

std::string Metrics::render(const SchedulerStats& s, int64_t in_flight) const {
  std::string out;
  gauge(out, "effitune_queue_depth", "Requests waiting to be scheduled.", "gauge", s.waiting);
  gauge(out, "effitune_running_sequences", "Sequences holding KV blocks (decoding or mid-prefill).", "gauge", s.running);
  gauge(out, "effitune_in_flight_requests", "HTTP generation requests accepted and not yet answered.", "gauge",
        static_cast<double>(in_flight));
  gauge(out, "effitune_kv_blocks_used", "KV-cache blocks in use.", "gauge", s.kv_used_blocks);
  gauge(out, "effitune_kv_blocks_free", "KV-cache blocks free.", "gauge", s.kv_free_blocks);
  gauge(out, "effitune_kv_blocks_total", "KV-cache blocks in all.", "gauge", s.kv_total_blocks);
  gauge(out, "effitune_preemptions_total", "Sequences preempted and recomputed.", "counter", static_cast<double>(s.preemptions));
  gauge(out, "effitune_requests_submitted_total", "Requests accepted by the scheduler.", "counter", static_cast<double>(s.submitted));
  gauge(out, "effitune_requests_rejected_total", "Requests refused because the waiting queue was full.", "counter",
        static_cast<double>(s.rejected));
  gauge(out, "effitune_generated_tokens_total", "Tokens generated.", "counter", static_cast<double>(s.generated_tokens));
  gauge(out, "effitune_prompt_tokens_computed_total", "Prompt tokens prefilled (recompute included).", "counter",
        static_cast<double>(s.prompt_tokens_computed));
  gauge(out, "effitune_prefix_shared_tokens_total", "Prompt tokens taken from another sequence's KV blocks.", "counter",
        static_cast<double>(s.prefix_shared_tokens));
  gauge(out, "effitune_steps_total", "Scheduler iterations that ran an engine batch.", "counter", static_cast<double>(s.steps));

  std::lock_guard<std::mutex> lock(mu_);
  double rate = 0;
  if (progress_.size() >= 2) {
    const double dt = progress_.back().first - progress_.front().first;
    if (dt > 0) rate = (progress_.back().second - progress_.front().second) * 1000.0 / dt;
  }
  gauge(out, "effitune_tokens_per_second", "Generated tokens per second over the last 10 s.", "gauge", rate);
  out += "# HELP effitune_requests_finished_total Requests finished, by outcome.\n"
         "# TYPE effitune_requests_finished_total counter\n";
  for (const char* o : {"stop", "length", "error", "cancelled"}) {
    auto it = outcomes_.find(o);
    out += std::string("effitune_requests_finished_total{outcome=\"") + o + "\"} " +
           std::to_string(it == outcomes_.end() ? 0 : it->second) + "\n";
  }
  out += "# HELP effitune_http_responses_total HTTP responses, by status code.\n"
         "# TYPE effitune_http_responses_total counter\n";
  for (const auto& [code, n] : http_)
    out += "effitune_http_responses_total{code=\"" + std::to_string(code) + "\"} " + std::to_string(n) + "\n";
  ttft_.render("effitune_ttft_seconds", "Time from arrival to the first generated token.", out);
  itl_.render("effitune_itl_seconds", "Inter-token latency: gaps between consecutive generated tokens.", out);
  e2e_.render("effitune_e2e_seconds", "Time from arrival to the end of the request.", out);
  // Where time goes inside the server: a decode step's duration is the inter-token latency every
  // running sequence sees; prefill steps are what new arrivals make them wait.
  decode_step_.render("effitune_decode_step_seconds", "Engine steps of one token per sequence: duration.", out);
  prefill_step_.render("effitune_prefill_step_seconds",
                       "Engine steps carrying prompt tokens (alone or beside decode rows): duration.", out);
  return out;
}

}  // namespace effitune::engine::server
