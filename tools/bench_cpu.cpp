// Quick CPU-backend timing on a random-weight model, in llama-bench's terms: tg (decode from an empty
// cache, one token per step) and pp (one batched prefill step). Prints medians over repetitions and the
// ratio to llama.cpp on the same 2-core machines (mission.md's CPU anchor). On a machine shared with
// other work, wall clock measures the load: the tg/cpu and pp/cpu lines give threads x tokens per
// process CPU-second (getrusage), the rate on that many otherwise idle cores.
//   bench_cpu [type=f16|q8_0|q4_0|f32|bf16] [threads=2] [tg=64] [pp=128] [reps=3] [shape=bench-134m]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <map>
#include <string>
#include <vector>

#include <sys/resource.h>

#include "effitune/engine/backend.h"
#include "effitune/engine/model_loader.h"

using namespace effitune::engine;

namespace {

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// CPU time of the calling thread: with threads=1 it estimates the unloaded speed on a busy machine.
double thread_cpu_s() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

// CPU time of the whole process (every pool thread, spinning included), from getrusage.
double process_cpu_s() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> args = {{"type", "f16"}, {"threads", "2"}, {"tg", "64"},
                                             {"pp", "128"},   {"reps", "3"},    {"shape", "bench-134m"}};
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto eq = a.find('=');
    if (eq == std::string::npos || !args.count(a.substr(0, eq))) {
      std::fprintf(stderr, "usage: bench_cpu [type=f16] [threads=2] [tg=64] [pp=128] [reps=3] [shape=bench-134m]\n");
      return 2;
    }
    args[a.substr(0, eq)] = a.substr(eq + 1);
  }
  auto type = parse_dtype(args["type"]);
  auto cfg = synthetic_model_config(args["shape"]);
  if (!type || !cfg) {
    std::fprintf(stderr, "unknown type or shape\n");
    return 2;
  }
  const int threads = std::stoi(args["threads"]);
  const int tg = std::stoi(args["tg"]), pp = std::stoi(args["pp"]), reps = std::stoi(args["reps"]);
  auto w = make_random_model(*cfg, *type, 1234);
  if (!w.ok()) {
    std::fprintf(stderr, "%s\n", w.status().to_string().c_str());
    return 1;
  }
  BackendOptions opt;
  opt.threads = threads;
  opt.kv_block_size = 16;
  opt.kv_blocks = (std::max(tg, pp) + 16) / 16 + 1;
  auto b = make_backend(*w, opt);
  if (!b.ok()) {
    std::fprintf(stderr, "%s\n", b.status().to_string().c_str());
    return 1;
  }
  Backend& be = **b;
  std::vector<int32_t> table(static_cast<size_t>(opt.kv_blocks));
  for (int32_t i = 0; i < opt.kv_blocks; ++i) table[static_cast<size_t>(i)] = i;
  std::vector<float> logits;

  std::vector<int32_t> prompt(static_cast<size_t>(pp));
  for (int i = 0; i < pp; ++i) prompt[static_cast<size_t>(i)] = (i * 7919 + 1) % cfg->vocab_size;
  // *_cpu: tokens per main-thread CPU-second; *_proc: threads x tokens per process CPU-second, the rate
  // the run would have on `threads` otherwise idle cores (waiting and spinning count against it).
  std::vector<double> pp_cpu, tg_cpu, pp_proc, tg_proc;
  auto run_pp = [&] {
    SequenceStep st{prompt, 0, table, false};
    const double t0 = now_s(), c0 = thread_cpu_s(), p0 = process_cpu_s();
    if (!be.forward(std::span<const SequenceStep>(&st, 1), logits).ok()) std::abort();
    pp_cpu.push_back(pp / (thread_cpu_s() - c0));
    pp_proc.push_back(threads * pp / (process_cpu_s() - p0));
    return pp / (now_s() - t0);
  };
  auto run_tg = [&] {
    int32_t tok = 1;
    const double t0 = now_s(), c0 = thread_cpu_s(), p0 = process_cpu_s();
    for (int i = 0; i < tg; ++i) {
      SequenceStep st{std::span<const int32_t>(&tok, 1), i, table, false};
      if (!be.forward(std::span<const SequenceStep>(&st, 1), logits).ok()) std::abort();
      tok = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    }
    tg_cpu.push_back(tg / (thread_cpu_s() - c0));
    tg_proc.push_back(threads * tg / (process_cpu_s() - p0));
    return tg / (now_s() - t0);
  };
  run_tg();  // warm-up: page in the weights, spin up the pool
  std::vector<double> pps, tgs;
  for (int r = 0; r < reps; ++r) {
    tgs.push_back(run_tg());
    pps.push_back(run_pp());
  }
  // llama.cpp, 2 threads, same shape (mission.md): tg64 / pp128 tok/s.
  const std::map<std::string, std::pair<double, double>> peer = {
      {"f16", {153, 908}}, {"q8_0", {230, 811}}, {"q4_0", {353, 1336}}};
  std::printf("%s %s on %s, weights %.1f MiB\n", args["shape"].c_str(), args["type"].c_str(), be.device_name().c_str(),
              be.weight_bytes() / 1048576.0);
  const auto p = peer.count(args["type"]) ? peer.at(args["type"]) : std::pair<double, double>{0, 0};
  auto line = [](const char* what, const std::vector<double>& v, double peer_v) {
    const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
    std::printf("  %-6s %8.1f tok/s (min %.1f, max %.1f)", what, median(v), *lo, *hi);
    if (peer_v > 0) std::printf("  llama.cpp %.0f  ratio %.2f", peer_v, median(v) / peer_v);
    std::printf("\n");
  };
  line(("tg" + std::to_string(tg)).c_str(), tgs, args["shape"] == "bench-134m" && tg == 64 ? p.first : 0);
  line(("pp" + std::to_string(pp)).c_str(), pps, args["shape"] == "bench-134m" && pp == 128 ? p.second : 0);
  std::printf("  by main-thread CPU time: tg %.1f tok/s, pp %.1f tok/s\n", median(tg_cpu), median(pp_cpu));
  line("tg/cpu", tg_proc, 0);
  line("pp/cpu", pp_proc, 0);
  return 0;
}
