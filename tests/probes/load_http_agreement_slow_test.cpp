// Acceptance 3: a load test and a capacity search through `effitune serve`'s Server on loopback
// (task model, synthetic prompts) agree with the in-process target within their intervals.
//
// Why the design below (measured, bench/README.md "Load generator"): on a 2-core machine the
// capacity of this CPU-bound target is the CPU share it gets, and that share moves with whatever
// else runs. Measuring one target after the other compared two different machines (ratios of
// 0.02x-2.2x), and single 1.5 s probes gave intervals that were only the bisection bracket. So both
// targets live side by side and their probes alternate (in-process, HTTP, in-process, ...): both see
// the same background load (two in-process engines compared this way agree: 1.00x and 1.03x). Each
// probe runs twice, so the SLO margin has an interval and the capacity interval comes from
// measurements, not from where the search stopped; the search starts at 32 requests/s, where a
// probe has ~50 requests, instead of 2 (5 requests: one slow one failed the probe and the search
// halved down to ~1 request/s). What remains is real: the HTTP path's own I/O takes CPU from the
// same two cores, so the comparison needs a free machine and allows for that share.
#include <gtest/gtest.h>

#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "effitune/engine/server.h"
#include "effitune/orchestrator/engine_target.h"
#include "effitune/probes/capacity_search.h"
#include "effitune/probes/http_target.h"
#include "effitune/probes/load_test.h"
#include "effitune/probes/stats.h"
#include "support/paths.h"

namespace effitune::probes {
namespace {

orchestrator::EngineTargetOptions options_for(const std::string& model) {
  orchestrator::EngineTargetOptions o;
  o.engine.model_path = model;
  o.engine.max_sequences = 8;
  o.engine.backend.threads = 1;
  o.scheduler.max_num_seqs = 8;
  return o;
}

std::string task_model() { return testing::source_dir() + "/experiments/support-desk/model.gguf"; }

double cpu_s() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_utime.tv_sec + u.ru_stime.tv_sec + 1e-6 * (u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

double loadavg1() {
  std::ifstream f("/proc/loadavg");
  double v = -1;
  f >> v;
  return v;
}

// CPU this process can get now, printed to read the figures by: two threads spin for 0.3 s and the
// CPU time they got is divided by the wall time (2.0 on an idle 2-core machine).
double available_cores() {
  std::atomic<bool> stop{false};
  const double c0 = cpu_s(), t0 = steady_now_s();
  std::vector<std::thread> spinners;
  for (int i = 0; i < 2; ++i)
    spinners.emplace_back([&] {
      while (!stop.load(std::memory_order_relaxed)) {
      }
    });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  stop = true;
  for (auto& t : spinners) t.join();
  return (cpu_s() - c0) / (steady_now_s() - t0);
}

// Sleeps to each deadline without SteadyClock's final yield loop: at R requests/s that loop spends
// R ms of CPU per second, which on a 2-core machine competes with the engine under test.
class SleepingClock : public Clock {
 public:
  double now_s() const override { return steady_now_s(); }
  void sleep_until(double t_s) override {
    for (double now = steady_now_s(); now < t_s; now = steady_now_s())
      std::this_thread::sleep_for(std::chrono::duration<double>(t_s - now));
  }
  void wait_until(std::condition_variable& cv, std::unique_lock<std::mutex>& lock, double t_s) override {
    const double dt = t_s - steady_now_s();
    if (dt > 0) cv.wait_for(lock, std::chrono::duration<double>(dt));
  }
};

// Two capacity searches on two threads take turns: a measurement waits until the other side's has
// finished (or that search is over).
class Turns {
 public:
  void acquire(int who) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return turn_ == who || done_[1 - who]; });
  }
  void release(int who) {
    std::lock_guard<std::mutex> lock(mu_);
    turn_ = 1 - who;
    cv_.notify_all();
  }
  void finish(int who) {
    std::lock_guard<std::mutex> lock(mu_);
    done_[who] = true;
    turn_ = 1 - who;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int turn_ = 0;
  bool done_[2] = {false, false};
};

Workload synthetic_workload() {
  SyntheticSpec spec;
  spec.input.mean = 32;
  spec.output.mean = 8;
  spec.count = 16;
  return Workload::synthetic(spec, 1).value();
}

LoadTestConfig light_config() {
  LoadTestConfig c;
  c.arrivals.kind = ArrivalKind::kPoisson;
  c.arrivals.rate_per_s = 3;
  c.duration_s = 3;
  c.warmup_s = 0.5;
  c.request_timeout_s = 20;
  c.slos = parse_slos("ttft_p95_ms=2000,e2e_p95_ms=4000").value();
  return c;
}

// The capacity probes: 1.5 s of Poisson arrivals, twice, against a tight E2E SLO. The queue of an
// overloaded target grows for the whole probe, so the capacity sits a little above the engine's
// service rate (about 1.1-1.2x at 250 ms over 1.5 s); both targets share that definition.
LoadTestConfig capacity_config() {
  LoadTestConfig c = light_config();
  c.duration_s = 1.5;
  c.warmup_s = 0;
  c.slos = parse_slos("e2e_p90_ms=250").value();
  return c;
}

constexpr int kCapacityRepetitions = 2;
constexpr int kSearches = 3;

// Mean and 95% Student-t interval of a few values (t quantiles for 2-4 degrees of freedom).
Estimate t_interval(const std::vector<double>& v) {
  const double n = static_cast<double>(v.size());
  double mean = 0, ss = 0;
  for (double x : v) mean += x / n;
  for (double x : v) ss += (x - mean) * (x - mean);
  const double sd = v.size() > 1 ? std::sqrt(ss / (n - 1)) : 0.0;
  static constexpr double kT[] = {0, 12.706, 4.303, 3.182, 2.776};
  const double t = kT[std::min<size_t>(v.size() - 1, 4)];
  Estimate e;
  e.value = mean;
  e.ci_low = mean - t * sd / std::sqrt(n);
  e.ci_high = mean + t * sd / std::sqrt(n);
  return e;
}

// Process CPU (cores) by probed load, for one target.
using CoresByLoad = std::map<double, double>;

Result<CapacityResult> search(Target& target, Turns& turns, int who, CoresByLoad& cores_by_load) {
  const Workload w = synthetic_workload();
  SleepingClock clock;
  CapacityOptions o;
  o.start_load = 32;
  o.tolerance = 8;
  o.max_load = 2048;
  o.max_probes = 9;
  o.interpolation = CapacityInterpolation::kPchip;
  auto r = find_capacity(
      [&](double rate) -> Result<CapacityProbe> {
        turns.acquire(who);
        LoadTestConfig x = capacity_config();
        x.arrivals.rate_per_s = rate;
        const double c0 = cpu_s(), t0 = steady_now_s();
        auto res = run_repeated(target, w, x, kCapacityRepetitions, clock);
        const double cores = (cpu_s() - c0) / (steady_now_s() - t0);
        turns.release(who);
        if (!res.ok()) return res.status();
        if (res->slo_met) cores_by_load[rate] = cores;
        std::printf("  %-6s %6.1f req/s: meets %d margin %.3f [%.3f, %.3f] e2e p90 %.1f ms, ok %zu/%zu, process %.2f cores, load avg %.2f\n",
                    who == 0 ? "inproc" : "http", rate, res->slo_met, res->slo_margin.value, res->slo_margin.ci_low,
                    res->slo_margin.ci_high, res->pooled.e2e.p90_ms, res->pooled.ok, res->pooled.offered, cores,
                    loadavg1());
        return CapacityProbe{rate, res->slo_met, res->slo_margin, res->performance};
      },
      o);
  turns.finish(who);
  return r;
}

TEST(EngineTarget, HttpServerAgreesWithInProcess) {
  if (!std::filesystem::exists(task_model())) GTEST_SKIP() << "no task model";
  const auto opts = options_for(task_model());
  auto inproc = orchestrator::make_engine_target(opts);
  ASSERT_TRUE(inproc.ok()) << inproc.status().to_string();
  auto eng = engine::Engine::create(opts.engine);
  ASSERT_TRUE(eng.ok()) << eng.status().to_string();
  engine::ServerConfig sc;
  sc.port = 0;
  auto server = engine::Server::create(**eng, opts.scheduler, engine::make_batch_policy("continuous").value(), sc);
  ASSERT_TRUE(server.ok()) << server.status().to_string();
  ASSERT_TRUE((*server)->start().ok());
  HttpTargetOptions ho;
  ho.port = (*server)->port();
  auto http = make_http_target(ho);
  ASSERT_TRUE(http.ok()) << http.status().to_string();

  // Light load: P, tokens and latency through both paths (all good: robust to the machine).
  const Workload w = synthetic_workload();
  SteadyClock clock;
  auto ra = run_repeated(**inproc, w, light_config(), 2, clock);
  auto rb = run_repeated(**http, w, light_config(), 2, clock);
  ASSERT_TRUE(ra.ok() && rb.ok());
  const RepeatedResult& a = *ra;
  const RepeatedResult& b = *rb;
  EXPECT_EQ(a.pooled.errors + a.pooled.timeouts, 0u) << (a.pooled.sample_errors.empty() ? "" : a.pooled.sample_errors[0]);
  EXPECT_EQ(b.pooled.errors + b.pooled.timeouts, 0u) << (b.pooled.sample_errors.empty() ? "" : b.pooled.sample_errors[0]);
  // P intervals overlap (both are all-good at this light load).
  EXPECT_LE(a.performance.ci_low, b.performance.ci_high);
  EXPECT_LE(b.performance.ci_low, a.performance.ci_high);
  // Every request produced its 8 tokens through both paths.
  EXPECT_NEAR(a.pooled.output_tokens_per_s * a.pooled.measured_s, 8.0 * a.pooled.ok, 1e-6);
  EXPECT_NEAR(b.pooled.output_tokens_per_s * b.pooled.measured_s, 8.0 * b.pooled.ok, 1e-6);
  std::printf("light load: inproc ttft p50 %.1f e2e p50 %.1f tpot p50 %.2f ms | http ttft p50 %.1f e2e p50 %.1f tpot p50 %.2f ms\n",
              a.pooled.ttft.p50_ms, a.pooled.e2e.p50_ms, a.pooled.tpot.p50_ms, b.pooled.ttft.p50_ms, b.pooled.e2e.p50_ms,
              b.pooled.tpot.p50_ms);

  // Capacity: the two searches alternate their probes, and the pair of searches runs kSearches times.
  // One search's interval is its final bracket, which only says how finely it bisected; on a shared
  // 2-core machine a target's capacity drifts by more than that from one minute to the next (the
  // same target measured 228-390 req/s), so each target's capacity interval is the 95% t-interval
  // over the repeated searches, as for any repeated measurement.
  const double cores_before = available_cores();
  std::vector<double> caps_in, caps_http;
  double io_share = 0;
  for (int run = 0; run < kSearches; ++run) {
    Turns turns;
    Result<CapacityResult> cap_in = internal_error("not run"), cap_http = internal_error("not run");
    CoresByLoad cores_in, cores_http;
    std::thread t_in([&] { cap_in = search(**inproc, turns, 0, cores_in); });
    std::thread t_http([&] { cap_http = search(**http, turns, 1, cores_http); });
    t_in.join();
    t_http.join();
    ASSERT_TRUE(cap_in.ok()) << cap_in.status().to_string();
    ASSERT_TRUE(cap_http.ok()) << cap_http.status().to_string();
    EXPECT_TRUE(cap_in->bracketed);
    EXPECT_TRUE(cap_http->bracketed);
    std::printf("search %d: capacity inproc %.1f [%.1f, %.1f] (%zu probes)  http %.1f [%.1f, %.1f] (%zu probes)  ratio %.3f\n",
                run, cap_in->capacity, cap_in->ci_low, cap_in->ci_high, cap_in->probes.size(), cap_http->capacity,
                cap_http->ci_low, cap_http->ci_high, cap_http->probes.size(), cap_http->capacity / cap_in->capacity);
    caps_in.push_back(cap_in->capacity);
    caps_http.push_back(cap_http->capacity);
    // The CPU the HTTP path adds per request (client and server I/O), from the highest load both met,
    // as a share of the engine's core at the in-process capacity.
    for (const auto& [load, c] : cores_in)
      if (cores_http.count(load)) io_share = std::max(io_share, std::max(0.0, cores_http.at(load) - c) / load * cap_in->capacity);
  }
  http->reset();
  (*server)->shutdown();
  const Estimate in = t_interval(caps_in), ht = t_interval(caps_http);
  std::printf("capacity over %d searches: inproc %.1f [%.1f, %.1f]  http %.1f [%.1f, %.1f]  ratio %.3f\n", kSearches,
              in.value, in.ci_low, in.ci_high, ht.value, ht.ci_low, ht.ci_high, ht.value / in.value);
  std::printf("available cores before %.2f after %.2f; HTTP I/O at capacity %.2f of a core\n", cores_before,
              available_cores(), io_share);
  // The intervals overlap; the HTTP side's may sit lower by the share of a core its own I/O takes
  // (client and server run on the same two cores as the engine).
  EXPECT_LE(in.ci_low, ht.ci_high * (1 + io_share));
  EXPECT_LE(ht.ci_low, in.ci_high);
  // And the means are close in absolute terms, so that wide intervals alone cannot pass the test.
  EXPECT_GT(ht.value / in.value, 0.75);
  EXPECT_LT(ht.value / in.value, 1.25);
}

}  // namespace
}  // namespace effitune::probes
