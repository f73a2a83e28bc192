// The load generator: sends a Workload to a Target on a schedule and measures every request.
//
// Rules that make the numbers trustworthy (mission.md, "Performance P"):
// - Open loop: the schedule is drawn before the run (arrivals.h) and the dispatcher never waits for
//   responses. Latency is measured from the *scheduled* send time, so a late dispatch (a slow target,
//   a busy machine) adds to the latency instead of hiding it: no coordinated omission. Dispatch
//   lateness is reported.
// - Closed loop: N users, each sending its next request think time after its previous one finished;
//   the scheduled time is finish + think time.
// - Requests scheduled during the warm-up are sent but not measured.
// - Performance P = good requests / offered requests (errors, rejections and timeouts count against)
//   with a Wilson interval. Goodput = good requests per second.
// - Steady state: completions are counted in windows; the run is steady when 3 consecutive windows'
//   throughputs agree within 10% of their mean.
// - Runs repeat with different seeds; the repeated result carries 95% intervals.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "effitune/common/status.h"
#include "effitune/probes/arrivals.h"
#include "effitune/probes/latency_histogram.h"
#include "effitune/probes/slo.h"
#include "effitune/probes/stats.h"
#include "effitune/probes/target.h"
#include "effitune/probes/workload.h"

namespace effitune::probes {

// Time for the dispatcher. Thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual double now_s() const = 0;
  // Returns at `t_s` or later (at once if past).
  virtual void sleep_until(double t_s) = 0;
  // Waits on `cv` (with `lock` held on entry and exit) until notified or `t_s`. A VirtualClock does
  // not wait: it moves to `t_s` at once, which is right when the target answers synchronously.
  virtual void wait_until(std::condition_variable& cv, std::unique_lock<std::mutex>& lock, double t_s) = 0;
};

// steady_now_s(); sleep_until sleeps to ~1 ms before the deadline and yields the rest, so dispatch
// lateness stays in the tens of microseconds on an idle core.
class SteadyClock : public Clock {
 public:
  double now_s() const override;
  void sleep_until(double t_s) override;
  void wait_until(std::condition_variable& cv, std::unique_lock<std::mutex>& lock, double t_s) override;
};

// Time moves only through sleep_until / set (tests and simulations: with a fake target that stamps
// its events on this clock, every latency is exact).
class VirtualClock : public Clock {
 public:
  double now_s() const override;
  void sleep_until(double t_s) override;
  void wait_until(std::condition_variable& cv, std::unique_lock<std::mutex>& lock, double t_s) override;
  void set_s(double t_s);

 private:
  mutable std::mutex mu_;
  double t_s_ = 0;
};

enum class LoadMode { kOpenLoop, kClosedLoop, kTrace };

struct LoadProgress {
  double elapsed_s = 0, duration_s = 0;
  size_t sent = 0, finished = 0, errors = 0;
};

struct LoadTestConfig {
  LoadMode mode = LoadMode::kOpenLoop;
  ArrivalSpec arrivals;            // kOpenLoop
  int32_t users = 0;               // kClosedLoop: concurrent users, >= 1
  double think_time_s = 0;         // kClosedLoop: mean think time
  bool think_exponential = true;   // kClosedLoop: exponential think times (else constant)
  double duration_s = 60;          // length of the schedule, warm-up included (kTrace: the trace's span)
  double warmup_s = 0;             // requests scheduled before this are sent but not measured
  double request_timeout_s = 60;   // scheduled time -> finish; slower is a timeout (counts against P)
  double drain_timeout_s = -1;     // wait after the schedule ends for in-flight requests; < 0: request_timeout_s
  double window_s = 0;             // steady-state window; 0: a tenth of the measured span
  std::vector<Slo> slos;
  uint64_t seed = 1;
  size_t max_requests = 2'000'000;
  std::function<void(const LoadProgress&)> on_progress;  // dispatcher thread, about 10 times a second
};

// One request as measured. Times are seconds on the run's clock; -1 when it did not happen.
struct RequestRecord {
  double scheduled_s = 0;
  double sent_s = -1;
  double first_token_s = -1;
  double finish_s = -1;
  double max_gap_ms = 0;     // largest inter-token gap
  int32_t output_tokens = 0;
  int32_t chunks = 0;
  FinishReason reason = FinishReason::kError;
  bool finished = false;
  bool measured = false;     // scheduled after the warm-up
  std::string error;         // when reason is kError/kCancelled or the request timed out
};

// Percentiles in milliseconds; nearest-rank (the smallest value with at least q of the samples at or
// below it), exact for ttft/tpot/e2e, histogram-exact (latency_histogram.h) for itl.
struct LatencySummary {
  size_t count = 0;
  double mean_ms = 0, p50_ms = 0, p90_ms = 0, p95_ms = 0, p99_ms = 0, max_ms = 0;
};

struct SloCheck {
  std::string key;
  double threshold_ms = 0;
  double observed_ms = 0;  // percentile over offered requests (failures = infinity)
  bool met = false;
};

struct RunResult {
  size_t sent = 0;         // all requests, warm-up included
  size_t offered = 0;      // measured requests
  size_t ok = 0;           // finished stop/length within the request timeout
  size_t errors = 0;       // error or cancelled finishes
  size_t timeouts = 0;     // unfinished at the end, or finished after the request timeout
  size_t good = 0;         // ok and within every SLO
  LatencySummary ttft, itl, tpot, e2e;
  double measured_s = 0;   // measured span (schedule after warm-up)
  double throughput_rps = 0;         // ok / measured_s
  double output_tokens_per_s = 0;    // output tokens of ok requests / measured_s
  double goodput_rps = 0;            // good / measured_s
  double good_output_tokens = 0;
  Estimate performance;              // good / offered, Wilson 95%
  std::vector<SloCheck> slo_checks;
  bool slo_met = true;
  double slo_margin = 0;   // max over SLOs of observed / threshold (<= 1 meets; capped at 1e6)
  double lateness_p50_ms = 0, lateness_p99_ms = 0, lateness_max_ms = 0;  // sent - scheduled, all requests
  std::vector<double> window_throughput_rps;
  bool steady = false;
  double steady_from_s = -1;  // start of the first steady triple of windows (run clock)
  std::vector<std::string> sample_errors;  // up to 5 distinct messages
  LatencyHistogram itl_histogram;          // every measured inter-token gap (mergeable)
  std::vector<RequestRecord> records;      // every request, in send order
};

// Runs one load test. kInvalidArgument for an empty workload or a bad knob (named): non-positive
// duration, warm-up >= duration, users < 1 in closed loop, an empty trace schedule. Target failures
// are data in the result, never a Status. Blocks for about duration + drain time; `clock` must be
// the timebase the target stamps its events with (steady_now_s() for real targets).
Result<RunResult> run_load_test(Target& target, const Workload& workload, const LoadTestConfig& config,
                                Clock& clock);
Result<RunResult> run_load_test(Target& target, const Workload& workload, const LoadTestConfig& config);

// Summarizes records (the measured ones) over `measured_s` seconds; run_load_test uses it and so do
// repetitions, on their pooled records. Exposed for tests.
RunResult summarize_records(std::vector<RequestRecord> records, const LoadTestConfig& config, double measured_s,
                            const LatencyHistogram& itl);

struct RepeatedResult {
  std::vector<RunResult> runs;  // records dropped to keep memory bounded
  RunResult pooled;             // every run's measured requests together (records dropped)
  Estimate performance;         // pooled Wilson interval
  Estimate throughput_rps;      // percentile bootstrap over runs (a point when 1 run)
  Estimate goodput_rps;
  Estimate slo_margin;
  Estimate ttft_p95_ms, tpot_p95_ms, e2e_p95_ms;
  bool slo_met = false;         // the pooled run meets every SLO
};

// kUnavailable when every measured request of `r` ended in an error (the target answers, but only
// with errors: a stopped tensor-parallel group, a backend fault), naming the load and the first
// error message; OK otherwise, timeouts and SLO misses included (those are measurements).
Status every_request_failed(const RunResult& r, double load_rps);

// Runs `repetitions` >= 1 load tests; repetition k uses seed config.seed + k.
Result<RepeatedResult> run_repeated(Target& target, const Workload& workload, const LoadTestConfig& config,
                                    int repetitions, Clock& clock);

}  // namespace effitune::probes
