// bench_policies: compares the batch policies on the CPU engine at a light and a saturating arrival
// rate (issue 7 acceptance 5). Open-loop Poisson arrivals are submitted to a Scheduler in-process;
// each policy sees the same arrival times and prompts. Reports throughput (requests/s and generated
// tokens/s over the run) and TTFT p50/p95 per policy and rate, as JSON.
//
//   bench_policies --model experiments/support-desk/model.gguf --requests 64 --out bench/results/batch_policies_cpu.json
//
// The rates come from a calibration run (continuous policy, all requests at once): capacity C in
// requests/s; light = 0.25 C, saturating = 4 C, unless --light-rate / --heavy-rate are given.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "effitune/engine/engine.h"
#include "effitune/engine/scheduler.h"

using namespace effitune;
using namespace effitune::engine;
using json = nlohmann::json;

namespace {

struct Options {
  std::string model = "experiments/support-desk/model.gguf";
  std::string out;
  int requests = 64;
  int max_new = 16;
  int max_batch = 16;
  int threads = 0;
  double light_rate = 0, heavy_rate = 0;
  uint64_t seed = 7;
};

struct RunResult {
  double wall_s = 0;
  int completed = 0;
  int64_t tokens = 0;
  std::vector<double> ttft_ms;
  int64_t preemptions = 0, steps = 0;
};

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const double idx = p * static_cast<double>(v.size() - 1);
  const size_t lo = static_cast<size_t>(idx);
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (idx - static_cast<double>(lo));
}

std::vector<std::vector<int32_t>> make_prompts(const Engine& engine, int n, uint64_t seed) {
  std::vector<std::vector<int32_t>> prompts;
  std::mt19937_64 rng(seed);
  const char* kCities[] = {"Lyon", "Oslo", "Porto", "Graz", "Turin", "Ghent"};
  for (int i = 0; i < n; ++i) {
    std::string text = "Hello, my order " + std::to_string(10000 + rng() % 90000) + " was shipped to " +
                       kCities[rng() % 6] + " on May " + std::to_string(1 + rng() % 28) + ".";
    for (int k = 0; k < static_cast<int>(rng() % 3); ++k) text += " The package has not arrived yet, please help.";
    if (engine.tokenizer()) {
      prompts.push_back(engine.tokenizer()->encode(text, true));
    } else {
      std::vector<int32_t> p = {1};
      for (size_t k = 0; k < text.size() % 40 + 8; ++k) p.push_back(3 + static_cast<int32_t>(rng() % 200));
      prompts.push_back(p);
    }
  }
  return prompts;
}

// Submits each request at its arrival offset (ms from start) and steps the scheduler until all finish.
RunResult run(Engine& engine, const std::string& policy_name, const std::vector<std::vector<int32_t>>& prompts,
              const std::vector<double>& arrivals_ms, const Options& o) {
  SchedulerConfig sc;
  sc.max_num_seqs = o.max_batch;
  sc.max_waiting = static_cast<int32_t>(prompts.size()) + 1;
  auto sched = Scheduler::create(engine, sc, make_batch_policy(policy_name).value()).value();
  RunResult r;
  std::mutex mu;
  std::atomic<int> finished{0};
  const auto t0 = std::chrono::steady_clock::now();
  std::thread submitter([&] {
    for (size_t i = 0; i < prompts.size(); ++i) {
      std::this_thread::sleep_until(t0 + std::chrono::microseconds(static_cast<int64_t>(arrivals_ms[i] * 1000)));
      InferenceRequest req;
      req.prompt = prompts[i];
      req.decoding.max_new_tokens = o.max_new;
      req.decoding.stop_at_eos = false;  // equal work per request: every policy generates the same tokens
      req.on_event = [&](const RequestEvent& ev) {
        if (ev.kind != RequestEvent::Kind::kFinish) return;
        std::lock_guard<std::mutex> lock(mu);
        if (ev.outcome == RequestOutcome::kLength || ev.outcome == RequestOutcome::kStop) {
          ++r.completed;
          r.tokens += static_cast<int64_t>(ev.tokens.size());
          r.ttft_ms.push_back(ev.timings.ttft_ms);
        }
        ++finished;
      };
      auto id = sched->submit(std::move(req));
      if (!id.ok()) {
        std::fprintf(stderr, "submit: %s\n", id.status().to_string().c_str());
        ++finished;
      }
    }
  });
  while (finished.load() < static_cast<int>(prompts.size())) {
    if (!sched->wait_for_work(5)) continue;
    if (!sched->step().dispatched) std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  submitter.join();
  r.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const SchedulerStats st = sched->stats();
  r.preemptions = st.preemptions;
  r.steps = st.steps;
  return r;
}

std::vector<double> poisson_arrivals(int n, double rate_per_s, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::exponential_distribution<double> gap(rate_per_s / 1000.0);
  std::vector<double> t(static_cast<size_t>(n));
  double now = 0;
  for (auto& x : t) x = now += gap(rng);
  return t;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    auto next = [&](const char* name) -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "bench_policies: %s needs a value\n", name);
        std::exit(2);
      }
      return argv[++i];
    };
    if (!std::strcmp(argv[i], "--model")) o.model = next("--model");
    else if (!std::strcmp(argv[i], "--out")) o.out = next("--out");
    else if (!std::strcmp(argv[i], "--requests")) o.requests = std::stoi(next("--requests"));
    else if (!std::strcmp(argv[i], "--max-new")) o.max_new = std::stoi(next("--max-new"));
    else if (!std::strcmp(argv[i], "--max-batch")) o.max_batch = std::stoi(next("--max-batch"));
    else if (!std::strcmp(argv[i], "--threads")) o.threads = std::stoi(next("--threads"));
    else if (!std::strcmp(argv[i], "--light-rate")) o.light_rate = std::stod(next("--light-rate"));
    else if (!std::strcmp(argv[i], "--heavy-rate")) o.heavy_rate = std::stod(next("--heavy-rate"));
    else {
      std::fprintf(stderr,
                   "usage: bench_policies [--model PATH] [--requests N] [--max-new N] [--max-batch N] [--threads N]\n"
                   "                      [--light-rate R] [--heavy-rate R] [--out FILE.json]\n");
      return 2;
    }
  }
  EngineConfig ec;
  ec.model_path = o.model;
  ec.backend.threads = o.threads;
  ec.max_sequences = o.max_batch;
  ec.context_length = 256;
  auto engine = Engine::create(ec);
  if (!engine.ok()) {
    std::fprintf(stderr, "bench_policies: %s\n", engine.status().to_string().c_str());
    return 1;
  }
  const auto prompts = make_prompts(**engine, o.requests, o.seed);

  if (o.light_rate <= 0 || o.heavy_rate <= 0) {
    const RunResult cal = run(**engine, "continuous", prompts, std::vector<double>(prompts.size(), 0.0), o);
    const double capacity = cal.completed / cal.wall_s;
    std::fprintf(stderr, "calibration: capacity %.1f requests/s (continuous, all at once)\n", capacity);
    if (o.light_rate <= 0) o.light_rate = 0.25 * capacity;
    if (o.heavy_rate <= 0) o.heavy_rate = 4 * capacity;
  }

  json results = json::array();
  for (const auto& [label, rate] : {std::pair<std::string, double>{"light", o.light_rate}, {"saturating", o.heavy_rate}}) {
    const auto arrivals = poisson_arrivals(o.requests, rate, o.seed + 1);
    for (const std::string& policy : batch_policy_names()) {
      const RunResult r = run(**engine, policy, prompts, arrivals, o);
      const json row = {{"rate_label", label},
                        {"arrival_rate_per_s", rate},
                        {"policy", policy},
                        {"completed", r.completed},
                        {"wall_s", r.wall_s},
                        {"throughput_req_per_s", r.completed / r.wall_s},
                        {"throughput_tokens_per_s", static_cast<double>(r.tokens) / r.wall_s},
                        {"ttft_p50_ms", percentile(r.ttft_ms, 0.5)},
                        {"ttft_p95_ms", percentile(r.ttft_ms, 0.95)},
                        {"steps", r.steps},
                        {"preemptions", r.preemptions}};
      std::fprintf(stderr, "%-10s %-12s %6.2f req/s %8.1f tok/s  TTFT p50 %8.1f ms  p95 %8.1f ms  steps %lld\n",
                   label.c_str(), policy.c_str(), row["throughput_req_per_s"].get<double>(),
                   row["throughput_tokens_per_s"].get<double>(), row["ttft_p50_ms"].get<double>(),
                   row["ttft_p95_ms"].get<double>(), static_cast<long long>(r.steps));
      results.push_back(row);
    }
  }
  const json doc = {{"benchmark", "batch policies, CPU engine, open-loop Poisson arrivals, in-process scheduler"},
                    {"model", o.model},
                    {"requests_per_run", o.requests},
                    {"max_new_tokens", o.max_new},
                    {"max_batch", o.max_batch},
                    {"cpu_threads", o.threads},
                    {"policy_params", "defaults of batch_policy.h"},
                    {"results", results}};
  if (!o.out.empty()) {
    std::ofstream f(o.out);
    f << doc.dump(2) << "\n";
  } else {
    std::printf("%s\n", doc.dump(2).c_str());
  }
  return 0;
}
