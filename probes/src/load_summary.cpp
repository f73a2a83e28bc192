// Turning request records into the run's metrics, SLO checks, P and steady-state windows; and
// repetitions with intervals.
#include <algorithm>
#include <cmath>
#include <limits>
#include <set>
#include <sstream>

#include "effitune/probes/load_test.h"

namespace effitune::probes {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kMaxMargin = 1e6;
// Thresholds are compared with 1 ns of slack: latencies are differences of clock readings in double
// seconds, so a request scripted or measured at exactly the threshold must not fail on rounding.
constexpr double kSlackMs = 1e-6;

// Nearest rank (1-based) for quantile q of n samples; see LatencyHistogram::quantile_ms.
size_t nearest_rank(double q, size_t n) {
  const double r = std::ceil(q * static_cast<double>(n) * (1 - 1e-12));
  return std::clamp<size_t>(static_cast<size_t>(std::max(r, 1.0)), 1, n);
}

double quantile_sorted(const std::vector<double>& sorted, double q) {
  return sorted.empty() ? 0.0 : sorted[nearest_rank(q, sorted.size()) - 1];
}

LatencySummary summarize(std::vector<double> v) {
  LatencySummary s;
  s.count = v.size();
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  double sum = 0;
  for (double x : v) sum += x;
  s.mean_ms = sum / v.size();
  s.p50_ms = quantile_sorted(v, 0.50);
  s.p90_ms = quantile_sorted(v, 0.90);
  s.p95_ms = quantile_sorted(v, 0.95);
  s.p99_ms = quantile_sorted(v, 0.99);
  s.max_ms = v.back();
  return s;
}

LatencySummary summarize(const LatencyHistogram& h) {
  LatencySummary s;
  s.count = h.count();
  if (s.count == 0) return s;
  s.mean_ms = h.mean_ms();
  s.p50_ms = h.quantile_ms(0.50);
  s.p90_ms = h.quantile_ms(0.90);
  s.p95_ms = h.quantile_ms(0.95);
  s.p99_ms = h.quantile_ms(0.99);
  s.max_ms = h.max_ms();
  return s;
}

struct Metrics {
  double ttft_ms = 0, e2e_ms = 0, max_gap_ms = 0;
  double tpot_ms = -1;  // -1: undefined (fewer than 2 tokens)
};

Metrics metrics_of(const RequestRecord& r) {
  Metrics m;
  m.e2e_ms = (r.finish_s - r.scheduled_s) * 1000.0;
  // A request that finished without streaming a token has its first token at the finish.
  m.ttft_ms = ((r.first_token_s >= 0 ? r.first_token_s : r.finish_s) - r.scheduled_s) * 1000.0;
  if (r.output_tokens >= 2 && r.first_token_s >= 0)
    m.tpot_ms = (r.finish_s - r.first_token_s) * 1000.0 / (r.output_tokens - 1);
  m.max_gap_ms = r.max_gap_ms;
  return m;
}

double per_request_value(const Metrics& m, SloMetric metric) {
  switch (metric) {
    case SloMetric::kTtft: return m.ttft_ms;
    case SloMetric::kE2e: return m.e2e_ms;
    case SloMetric::kTpot: return m.tpot_ms < 0 ? 0.0 : m.tpot_ms;  // vacuous below 2 tokens
    case SloMetric::kItl: return m.max_gap_ms;
  }
  return 0;
}

}  // namespace

RunResult summarize_records(std::vector<RequestRecord> records, const LoadTestConfig& config, double measured_s,
                            const LatencyHistogram& itl) {
  RunResult out;
  out.sent = records.size();
  out.measured_s = measured_s;
  const double timeout_ms = config.request_timeout_s * 1000.0;
  std::vector<double> ttft, tpot, e2e, lateness;
  std::vector<std::vector<double>> slo_values(config.slos.size());
  std::set<std::string> errors_seen;
  double ok_tokens = 0;
  std::vector<double> ok_finish_s;

  for (RequestRecord& r : records) {
    if (r.sent_s >= 0) lateness.push_back((r.sent_s - r.scheduled_s) * 1000.0);
    if (!r.measured) continue;
    ++out.offered;
    const bool finished_ok = r.finished && (r.reason == FinishReason::kStop || r.reason == FinishReason::kLength);
    bool ok = false;
    if (!r.finished) {
      ++out.timeouts;
      r.error = "no response within the run's drain time (timeout)";
    } else if (!finished_ok) {
      ++out.errors;
    } else if ((r.finish_s - r.scheduled_s) * 1000.0 > timeout_ms) {
      ++out.timeouts;
      r.error = "finished after the request timeout of " + std::to_string(config.request_timeout_s) + " s";
    } else {
      ok = true;
    }
    if (!r.error.empty() && errors_seen.size() < 5) errors_seen.insert(r.error);
    if (!ok) {
      for (auto& v : slo_values) v.push_back(kInf);
      continue;
    }
    ++out.ok;
    const Metrics m = metrics_of(r);
    ttft.push_back(m.ttft_ms);
    e2e.push_back(m.e2e_ms);
    if (m.tpot_ms >= 0) tpot.push_back(m.tpot_ms);
    ok_tokens += r.output_tokens;
    ok_finish_s.push_back(r.finish_s);
    bool good = true;
    for (size_t i = 0; i < config.slos.size(); ++i) {
      const double v = per_request_value(m, config.slos[i].metric);
      slo_values[i].push_back(v);
      if (v > config.slos[i].threshold_ms + kSlackMs) good = false;
    }
    if (good) {
      ++out.good;
      out.good_output_tokens += r.output_tokens;
    }
  }
  out.sample_errors.assign(errors_seen.begin(), errors_seen.end());

  out.ttft = summarize(ttft);
  out.tpot = summarize(tpot);
  out.e2e = summarize(e2e);
  out.itl = summarize(itl);
  out.itl_histogram = itl;
  if (measured_s > 0) {
    out.throughput_rps = out.ok / measured_s;
    out.output_tokens_per_s = ok_tokens / measured_s;
    out.goodput_rps = out.good / measured_s;
  }
  out.performance = wilson_interval(out.good, out.offered);

  // Run-level SLOs: the percentile over offered requests, failures counting as infinitely slow.
  const size_t failed = out.offered - out.ok;
  for (size_t i = 0; i < config.slos.size(); ++i) {
    const Slo& slo = config.slos[i];
    SloCheck check{slo.key, slo.threshold_ms, 0, false};
    const double q = slo.percentile / 100.0;
    if (out.offered == 0) {
      check.observed_ms = kInf;
    } else if (slo.metric == SloMetric::kItl) {
      // Per-gap percentile from the histogram, over the share of offered requests that succeeded.
      const double ok_share = static_cast<double>(out.offered - failed) / out.offered;
      check.observed_ms = nearest_rank(q, out.offered) > out.offered - failed ? kInf
                          : itl.count() == 0                                 ? 0.0
                                                                             : itl.quantile_ms(std::min(1.0, q / ok_share));
    } else {
      std::vector<double>& v = slo_values[i];
      std::sort(v.begin(), v.end());
      check.observed_ms = quantile_sorted(v, q);
    }
    check.met = check.observed_ms <= slo.threshold_ms + kSlackMs;
    out.slo_met = out.slo_met && check.met;
    out.slo_margin = std::max(out.slo_margin, std::min(kMaxMargin, check.observed_ms / slo.threshold_ms));
    out.slo_checks.push_back(check);
  }

  if (!lateness.empty()) {
    std::sort(lateness.begin(), lateness.end());
    out.lateness_p50_ms = quantile_sorted(lateness, 0.50);
    out.lateness_p99_ms = quantile_sorted(lateness, 0.99);
    out.lateness_max_ms = lateness.back();
  }

  // Steady state over completion windows of the measured span.
  const double window = config.window_s > 0 ? config.window_s : measured_s / 10.0;
  if (window > 0 && measured_s > 0) {
    const size_t n = static_cast<size_t>(std::floor(measured_s / window + 1e-9));
    out.window_throughput_rps.assign(n, 0.0);
    for (double f : ok_finish_s) {
      const double rel = f - config.warmup_s;
      if (rel < 0) continue;
      const size_t w = static_cast<size_t>(rel / window);
      if (w < n) out.window_throughput_rps[w] += 1.0 / window;
    }
    for (size_t w = 0; w + 2 < n; ++w) {
      const auto [lo, hi] = std::minmax({out.window_throughput_rps[w], out.window_throughput_rps[w + 1],
                                         out.window_throughput_rps[w + 2]});
      const double mean = (out.window_throughput_rps[w] + out.window_throughput_rps[w + 1] + out.window_throughput_rps[w + 2]) / 3;
      if (mean > 0 && hi - lo <= 0.10 * mean) {
        out.steady = true;
        out.steady_from_s = config.warmup_s + w * window;
        break;
      }
    }
  }
  out.records = std::move(records);
  return out;
}

namespace {

Estimate over_runs(const std::vector<double>& v, uint64_t seed) {
  if (v.size() >= 2) {
    BootstrapOptions o;
    o.seed = seed;
    auto e = bootstrap_mean(v, o);
    if (e.ok()) return *e;
  }
  Estimate e;
  e.value = e.ci_low = e.ci_high = v.empty() ? 0.0 : v[0];
  e.n = v.size();
  return e;
}

}  // namespace

Result<RepeatedResult> run_repeated(Target& target, const Workload& workload, const LoadTestConfig& config,
                                    int repetitions, Clock& clock) {
  if (repetitions < 1) return invalid_argument("repetitions must be >= 1");
  RepeatedResult out;
  std::vector<RequestRecord> pooled;
  LatencyHistogram pooled_itl;
  double pooled_s = 0;
  std::vector<double> thr, good, margin, ttft95, tpot95, e2e95;
  for (int k = 0; k < repetitions; ++k) {
    LoadTestConfig c = config;
    c.seed = config.seed + static_cast<uint64_t>(k);
    EFFITUNE_ASSIGN_OR_RETURN(RunResult r, run_load_test(target, workload, c, clock));
    pooled_itl.merge(r.itl_histogram);
    for (const RequestRecord& rec : r.records)
      if (rec.measured) pooled.push_back(rec);
    pooled_s += r.measured_s;
    thr.push_back(r.throughput_rps);
    good.push_back(r.goodput_rps);
    margin.push_back(r.slo_margin);
    ttft95.push_back(r.ttft.p95_ms);
    tpot95.push_back(r.tpot.p95_ms);
    e2e95.push_back(r.e2e.p95_ms);
    r.records.clear();
    r.records.shrink_to_fit();
    out.runs.push_back(std::move(r));
  }
  out.pooled = summarize_records(std::move(pooled), config, pooled_s, pooled_itl);
  out.pooled.records.clear();
  out.pooled.window_throughput_rps.clear();
  out.pooled.steady = std::all_of(out.runs.begin(), out.runs.end(), [](const RunResult& r) { return r.steady; });
  out.performance = out.pooled.performance;
  out.throughput_rps = over_runs(thr, config.seed);
  out.goodput_rps = over_runs(good, config.seed + 1);
  out.slo_margin = over_runs(margin, config.seed + 2);
  out.ttft_p95_ms = over_runs(ttft95, config.seed + 3);
  out.tpot_p95_ms = over_runs(tpot95, config.seed + 4);
  out.e2e_p95_ms = over_runs(e2e95, config.seed + 5);
  out.slo_met = out.pooled.slo_met;
  return out;
}

Status every_request_failed(const RunResult& r, double load_rps) {
  if (r.offered == 0 || r.errors < r.offered) return {};
  std::ostringstream msg;
  msg << "every one of the " << r.offered << " measured requests at " << load_rps << " req/s failed";
  if (!r.sample_errors.empty()) msg << ", e.g.: " << r.sample_errors.front();
  return unavailable(msg.str());
}

}  // namespace effitune::probes
