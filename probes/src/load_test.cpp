// The dispatcher: open-loop, closed-loop and trace schedules, and the sinks that record each request.
#include "effitune/probes/load_test.h"

#include <algorithm>
#include <cmath>
#include <queue>

#include "random_draws.h"

namespace effitune::probes {
namespace {

// Shared between the dispatcher and the target's threads. Sinks hold it by shared_ptr, so events that
// arrive after the run closed (a target answering late) are dropped safely.
struct RunState {
  explicit RunState(Clock& c, uint64_t think_seed) : clock(c), think_draws(think_seed) {}
  Clock& clock;
  double t0 = 0;
  std::mutex mu;
  std::condition_variable cv;
  bool closed = false;
  std::vector<RequestRecord> records;
  std::vector<double> last_token_s;  // absolute clock time of each request's last chunk
  LatencyHistogram itl;
  size_t finished = 0, errors = 0;
  // Closed loop: (ready time relative to t0, user), earliest first.
  using Ready = std::pair<double, int32_t>;
  std::priority_queue<Ready, std::vector<Ready>, std::greater<>> ready;
  double think_mean_s = 0;
  bool think_exponential = true;
  detail::Draws think_draws;
};

class RecordSink : public StreamSink {
 public:
  RecordSink(std::shared_ptr<RunState> st, size_t index, int32_t user) : st_(std::move(st)), i_(index), user_(user) {}

  void on_tokens(int32_t tokens, double t_s) override {
    std::lock_guard<std::mutex> g(st_->mu);
    if (st_->closed) return;
    RequestRecord& r = st_->records[i_];
    if (r.finished) return;
    if (r.chunks == 0) {
      r.first_token_s = t_s - st_->t0;
    } else {
      const double gap_ms = (t_s - st_->last_token_s[i_]) * 1000.0;
      r.max_gap_ms = std::max(r.max_gap_ms, gap_ms);
      if (r.measured) st_->itl.record_ms(gap_ms);
    }
    st_->last_token_s[i_] = t_s;
    r.output_tokens += std::max(tokens, 1);
    ++r.chunks;
  }

  void on_finish(const TargetFinish& f, double t_s) override {
    std::lock_guard<std::mutex> g(st_->mu);
    if (st_->closed) return;
    RequestRecord& r = st_->records[i_];
    if (r.finished) return;
    r.finished = true;
    r.finish_s = t_s - st_->t0;
    r.reason = f.reason;
    if (f.output_tokens > 0) r.output_tokens = f.output_tokens;
    if (f.reason == FinishReason::kError || f.reason == FinishReason::kCancelled) {
      r.error = f.error.ok() ? std::string(finish_reason_name(f.reason)) : f.error.to_string();
      ++st_->errors;
    }
    ++st_->finished;
    if (user_ >= 0) {
      double think = st_->think_mean_s;
      if (st_->think_exponential && think > 0) think *= st_->think_draws.exponential();
      st_->ready.push({r.finish_s + think, user_});
    }
    st_->cv.notify_all();
  }

 private:
  std::shared_ptr<RunState> st_;
  size_t i_;
  int32_t user_;
};

Status validate(const Workload& workload, const LoadTestConfig& c) {
  if (workload.size() == 0) return invalid_argument("the workload has no requests");
  if (!(std::isfinite(c.duration_s) && c.duration_s > 0)) return invalid_argument("duration_s must be positive");
  if (!(c.warmup_s >= 0 && c.warmup_s < c.duration_s))
    return invalid_argument("warmup_s must be in [0, duration_s): nothing would be measured");
  if (!(c.request_timeout_s > 0)) return invalid_argument("request_timeout_s must be positive");
  if (c.mode == LoadMode::kClosedLoop && c.users < 1) return invalid_argument("closed loop needs users >= 1");
  if (c.mode == LoadMode::kClosedLoop && !(c.think_time_s >= 0)) return invalid_argument("think_time_s must be >= 0");
  if (c.mode == LoadMode::kTrace && workload.trace_times_s().empty())
    return invalid_argument("trace mode needs a trace workload (JSONL with timestamp_s)");
  if (c.window_s < 0) return invalid_argument("window_s must be >= 0");
  return {};
}

class Dispatcher {
 public:
  Dispatcher(Target& target, const Workload& workload, const LoadTestConfig& config, Clock& clock)
      : target_(target), workload_(workload), c_(config), clock_(clock),
        st_(std::make_shared<RunState>(clock, config.seed ^ 0x9e3779b97f4a7c15ULL)) {
    st_->think_mean_s = c_.think_time_s;
    st_->think_exponential = c_.think_exponential;
  }

  // Sends request number `k` scheduled at `t_rel` (relative to t0). Called without the lock.
  void send(size_t k, double t_rel, int32_t user) {
    size_t idx;
    {
      std::lock_guard<std::mutex> g(st_->mu);
      idx = st_->records.size();
      RequestRecord r;
      r.scheduled_s = t_rel;
      r.measured = t_rel >= c_.warmup_s;
      r.sent_s = clock_.now_s() - st_->t0;
      st_->records.push_back(std::move(r));
      st_->last_token_s.push_back(0);
    }
    target_.submit(workload_.request(k), std::make_shared<RecordSink>(st_, idx, user));
    maybe_progress(false);
  }

  void maybe_progress(bool force) {
    if (!c_.on_progress) return;
    const double now = clock_.now_s();
    if (!force && now - last_progress_s_ < 0.1) return;
    last_progress_s_ = now;
    LoadProgress p;
    p.elapsed_s = now - st_->t0;
    p.duration_s = c_.duration_s;
    {
      std::lock_guard<std::mutex> g(st_->mu);
      p.sent = st_->records.size();
      p.finished = st_->finished;
      p.errors = st_->errors;
    }
    c_.on_progress(p);
  }

  Status run_schedule(const std::vector<double>& times) {
    for (size_t k = 0; k < times.size() && k < c_.max_requests; ++k) {
      clock_.sleep_until(st_->t0 + times[k]);
      send(k, times[k], -1);
    }
    return {};
  }

  void run_closed_loop() {
    std::unique_lock<std::mutex> lock(st_->mu);
    for (int32_t u = 0; u < c_.users; ++u) st_->ready.push({0.0, u});
    size_t k = 0;
    const double deadline = st_->t0 + c_.duration_s + drain_s();
    while (clock_.now_s() < deadline) {
      if (st_->ready.empty()) {
        if (st_->finished == st_->records.size()) break;  // every user retired
        clock_.wait_until(st_->cv, lock, std::min(deadline, clock_.now_s() + 0.05));
        continue;
      }
      const auto [t, user] = st_->ready.top();
      if (t >= c_.duration_s || k >= c_.max_requests) {
        st_->ready.pop();  // this user's next request would fall past the schedule: it retires
        continue;
      }
      if (clock_.now_s() - st_->t0 < t) {
        clock_.wait_until(st_->cv, lock, st_->t0 + t);
        continue;
      }
      st_->ready.pop();
      lock.unlock();
      send(k++, t, user);
      lock.lock();
    }
  }

  double drain_s() const { return c_.drain_timeout_s >= 0 ? c_.drain_timeout_s : c_.request_timeout_s; }

  void drain() {
    const double deadline = st_->t0 + c_.duration_s + drain_s();
    std::unique_lock<std::mutex> lock(st_->mu);
    while (st_->finished < st_->records.size() && clock_.now_s() < deadline) {
      clock_.wait_until(st_->cv, lock, std::min(deadline, clock_.now_s() + 0.05));
    }
    st_->closed = true;
  }

  Result<RunResult> run() {
    std::vector<double> times;
    if (c_.mode == LoadMode::kOpenLoop) {
      EFFITUNE_ASSIGN_OR_RETURN(times, schedule_arrivals(c_.arrivals, c_.duration_s, c_.seed));
    } else if (c_.mode == LoadMode::kTrace) {
      for (double t : workload_.trace_times_s())
        if (t < c_.duration_s) times.push_back(t);
    }
    st_->t0 = clock_.now_s();
    st_->records.reserve(std::min(times.size(), c_.max_requests) + 16);
    if (c_.mode == LoadMode::kClosedLoop) run_closed_loop();
    else EFFITUNE_RETURN_IF_ERROR(run_schedule(times));
    // The run spans its whole duration even when the last arrival comes earlier; this also keeps
    // back-to-back runs on a virtual clock from overlapping.
    clock_.sleep_until(st_->t0 + c_.duration_s);
    drain();
    maybe_progress(true);
    // The run is closed: no sink touches the state any more.
    std::vector<RequestRecord> records = std::move(st_->records);
    return summarize_records(std::move(records), c_, c_.duration_s - c_.warmup_s, st_->itl);
  }

 private:
  Target& target_;
  const Workload& workload_;
  const LoadTestConfig& c_;
  Clock& clock_;
  std::shared_ptr<RunState> st_;
  double last_progress_s_ = -1e300;
};

}  // namespace

Result<RunResult> run_load_test(Target& target, const Workload& workload, const LoadTestConfig& config, Clock& clock) {
  EFFITUNE_RETURN_IF_ERROR(validate(workload, config));
  Dispatcher d(target, workload, config, clock);
  return d.run();
}

Result<RunResult> run_load_test(Target& target, const Workload& workload, const LoadTestConfig& config) {
  SteadyClock clock;
  return run_load_test(target, workload, config, clock);
}

}  // namespace effitune::probes
