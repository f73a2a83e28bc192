// effitune bench: prefill and decode throughput, median of repetitions with the spread, next to the
// peer (llama.cpp on the same machine, mission.md's anchors) and the memory-bandwidth roofline.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "cli_util.h"
#include "commands.h"
#include "git_commit.h"
#include "effitune/engine/engine.h"

namespace effitune::cli {
namespace {

using Clock = std::chrono::steady_clock;

struct Stats {
  double median = 0, min = 0, max = 0;
};
Stats summarize(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  Stats s;
  s.min = v.front();
  s.max = v.back();
  const size_t n = v.size();
  s.median = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
  return s;
}

// llama.cpp figures from mission.md, keyed by (backend, model shape, quant, batch); 0 when unknown.
struct Peer {
  double decode_tok_s = 0, prefill_tok_s = 0;
};
Peer peer_for(const std::string& backend, const std::string& model, const std::string& quant, int batch) {
  if (backend == "cpu" && model.find("bench-134m") != std::string::npos && batch == 1) {
    if (quant == "f16") return {153, 908};
    if (quant == "q8_0") return {230, 811};
    if (quant == "q4_0") return {353, 1336};
  }
  if (backend == "cuda") {
    const bool b8 = model.find("llama-8b") != std::string::npos, b1 = model.find("llama-1b") != std::string::npos;
    const bool f16 = quant == "bf16" || quant == "f16";
    if (b8 && batch == 1) return {f16 ? 211.0 : quant == "q8_0" ? 247.0 : quant == "q4_0" ? 334.0 : 0.0, f16 ? 19000.0 : 0.0};
    if (b1 && batch == 1) return {f16 ? 785.0 : quant == "q8_0" ? 824.0 : quant == "q4_0" ? 982.0 : 0.0, 0};
    if (b8 && batch == 64 && f16) return {6470, 0};
    if (b1 && batch == 64 && f16) return {16528, 0};
  }
  return {};
}

std::string today() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d", std::gmtime(&t));
  return buf;
}

// Measured copy bandwidth (read + write, GB/s) of the cards the project has run on (bench/README.md:
// H100 80GB HBM3 3.01 TB/s, H200 4.3 TB/s), by a substring of the CUDA device name; 0 (no roofline)
// for another card, rather than a figure that belongs to a different one.
double known_bandwidth_gb_s(const std::string& device) {
  if (device.find("H200") != std::string::npos) return 4300;
  if (device.find("H100") != std::string::npos) return 3010;
  return 0;
}

}  // namespace

int run_bench(int argc, char** argv) {
  po::options_description desc("options");
  desc.add_options()("help,h", "show this help");
  add_engine_options(desc);
  desc.add_options()
      ("prompt", po::value<int>()->default_value(128), "prompt tokens per sequence (prefill)")
      ("gen", po::value<int>()->default_value(64), "generated tokens per sequence (decode); 0 times the prefill alone")
      ("batch", po::value<std::string>()->default_value("1"), "comma-separated batch sizes, e.g. 1,16,64,256")
      ("repetitions", po::value<int>()->default_value(5), "timed repetitions (after one warm-up)")
      ("bandwidth-gb-s", po::value<double>()->default_value(0), "one GPU's memory bandwidth for the roofline, GB/s (0 = the "
       "measured copy bandwidth of the card when known: H100 3010, H200 4300; none on cpu or another card). "
       "Under --gpu-count N every GPU reads its share of the weights: the roofline is N times one GPU's")
      ("collective-timing", po::bool_switch(), "with --gpu-count above 1: also time the tensor-parallel all-reduces of the decode "
       "steps as rank 0 sees them (CUDA: the residual exchange kernels' GPU time after their PDL wait, their fused add and norm "
       "included; CPU: wall time in the in-process sums). Off by default: the timer costs the CUDA "
       "exchange a little")
      ("format", po::value<std::string>()->default_value("text"), "text | json (one object per line)");
  int code = 0;
  auto vm = parse_args(argc, argv, desc,
                       "effitune bench --model PATH|synthetic:NAME [--backend cpu|cuda] [--quant Q] [--prompt 128] [--gen 64] "
                       "[--batch 1,16] [--repetitions 5] [--format json]",
                       "Prefill: all prompt tokens of each sequence in one forward pass. Decode: one token per sequence per\n"
                       "step. Random token ids; the first repetition warms up and is not counted. Figures are the median\n"
                       "of the repetitions with the min-max spread, next to llama.cpp's figure (mission.md) and the ratio.\n"
                       "Each step ends with a token per sequence as serving does: picked on the GPU with CUDA (only ids\n"
                       "cross the bus), from logits copied to the host otherwise (JSON: token_selection).",
                       code);
  if (!vm) return code;
  auto config = engine_config_from(*vm);
  if (!config.ok()) return usage_error("bench", config.status());
  auto batches = parse_id_list((*vm)["batch"].as<std::string>(), "--batch");
  if (!batches.ok()) return usage_error("bench", batches.status());
  const int prompt = (*vm)["prompt"].as<int>(), gen = (*vm)["gen"].as<int>(), reps = (*vm)["repetitions"].as<int>();
  if (prompt < 1 || gen < 0 || reps < 1)
    return usage_error("bench", "--prompt and --repetitions must be >= 1, --gen >= 0 (0: prefill only)");
  const int max_batch = *std::max_element(batches->begin(), batches->end());
  if (max_batch < 1) return usage_error("bench", "--batch sizes must be >= 1");
  config->max_sequences = max_batch;
  config->context_length = config->context_length > 0 ? config->context_length : prompt + gen + 1;
  config->kv_cache_tokens = static_cast<int64_t>(max_batch) * (prompt + gen + 1);
  auto eng = engine::Engine::create(*config);
  if (!eng.ok()) return report_error("bench", eng.status());
  engine::Engine& e = **eng;
  const bool json = (*vm)["format"].as<std::string>() == "json";
  std::string quant = config->weight_type ? std::string(engine::dtype_name(*config->weight_type))
                                          : std::string(engine::dtype_name(e.weights().layers[0].wq.type));
  double bw = (*vm)["bandwidth-gb-s"].as<double>();
  if (bw == 0 && config->backend.kind == "cuda") bw = known_bandwidth_gb_s(e.backend().accelerator_model());
  // Before any step: CUDA graphs keep the timer setting they are captured with.
  const bool collective_timing = (*vm)["collective-timing"].as<bool>() && config->backend.gpu_count > 1;
  if (collective_timing) e.backend().start_collective_timing();

  std::mt19937 rng(42);
  std::uniform_int_distribution<int32_t> tok(3, e.model().vocab_size - 1);
  if (!json)
    std::printf("%-22s %-6s %5s %16s %16s %10s %8s\n", "model", "quant", "batch", "prefill tok/s", "decode tok/s",
                "peer dec", "ratio");
  const bool on_device = e.samples_on_device();
  for (int batch : *batches) {
    const std::vector<engine::RowSampling> greedy_rows(batch);
    std::vector<double> prefill, decode, coll_ms_per_step, coll_share;
    int64_t coll_calls_per_step = 0;
    for (int rep = 0; rep <= reps; ++rep) {
      std::vector<engine::SeqId> seqs(batch);
      std::vector<std::vector<int32_t>> prompts(batch, std::vector<int32_t>(prompt));
      std::vector<engine::StepRequest> reqs(batch);
      for (int b = 0; b < batch; ++b) {
        seqs[b] = e.add_sequence();
        for (auto& t : prompts[b]) t = tok(rng);
        reqs[b] = {seqs[b], prompts[b], false};
      }
      std::vector<float> logits;
      std::vector<int32_t> ids;
      // As served: a device sampler returns one greedy id per sequence; otherwise logits come back.
      auto step = [&] { return on_device ? e.step_sample(reqs, greedy_rows, ids) : e.step(reqs, logits); };
      auto t0 = Clock::now();
      Status s = step();
      const double pre_s = std::chrono::duration<double>(Clock::now() - t0).count();
      std::vector<int32_t> next(batch);
      const engine::CollectiveTime c0 = e.backend().collective_timing();
      auto t1 = Clock::now();
      for (int g = 0; s.ok() && g < gen; ++g) {
        for (int b = 0; b < batch; ++b) {
          next[b] = tok(rng);
          reqs[b] = {seqs[b], {&next[b], 1}, false};
        }
        s = step();
      }
      const double dec_s = std::chrono::duration<double>(Clock::now() - t1).count();
      const engine::CollectiveTime c1 = e.backend().collective_timing();
      for (auto q : seqs) e.remove_sequence(q);
      if (!s.ok()) return report_error("bench", s);
      if (rep == 0) continue;  // warm-up
      prefill.push_back(batch * prompt / pre_s);
      decode.push_back(gen > 0 ? batch * gen / dec_s : 0.0);
      if (c1.calls > c0.calls) {
        coll_ms_per_step.push_back((c1.seconds - c0.seconds) * 1e3 / gen);
        coll_share.push_back((c1.seconds - c0.seconds) / dec_s);
        coll_calls_per_step = (c1.calls - c0.calls) / gen;
      }
    }
    const Stats p = summarize(prefill), d = summarize(decode);
    const bool timed = !coll_share.empty();  // --collective-timing under TP
    const Stats coll_ms = timed ? summarize(coll_ms_per_step) : Stats{}, coll = timed ? summarize(coll_share) : Stats{};
    const Peer peer = peer_for(config->backend.kind, config->model_path, quant, batch);
    const double gpus = config->backend.kind == "cuda" ? std::max(1, config->backend.gpu_count) : 1;
    // No decode measured (--gen 0): no decode roofline either.
    const double roofline =
        bw > 0 && gen > 0 ? gpus * bw * 1e9 / static_cast<double>(e.backend().weight_bytes()) * batch : 0;
    if (json) {
      nlohmann::json j;
      j["backend"] = config->backend.kind;
      j["device"] = e.backend().device_name();
      j["model"] = config->model_path;
      j["quant"] = quant;
      j["batch"] = batch;
      j["tp"] = config->backend.gpu_count;
      j["token_selection"] = on_device ? "device" : "host";
      j["threads"] = config->backend.threads;
      j["prompt_tokens"] = prompt;
      j["gen_tokens"] = gen;
      j["repetitions"] = reps;
      j["prefill_tok_s"] = p.median;
      j["prefill_tok_s_min"] = p.min;
      j["prefill_tok_s_max"] = p.max;
      j["decode_tok_s"] = d.median;
      j["decode_tok_s_min"] = d.min;
      j["decode_tok_s_max"] = d.max;
      j["roofline_decode_tok_s"] = roofline > 0 ? nlohmann::json(roofline) : nlohmann::json(nullptr);
      j["roofline_bandwidth_gb_s"] = bw > 0 ? nlohmann::json(gpus * bw) : nlohmann::json(nullptr);
      j["peer"] = "llama.cpp";
      j["peer_decode_tok_s"] = peer.decode_tok_s > 0 ? nlohmann::json(peer.decode_tok_s) : nlohmann::json(nullptr);
      j["peer_prefill_tok_s"] = peer.prefill_tok_s > 0 ? nlohmann::json(peer.prefill_tok_s) : nlohmann::json(nullptr);
      j["decode_vs_peer"] =
          peer.decode_tok_s > 0 && gen > 0 ? nlohmann::json(d.median / peer.decode_tok_s) : nlohmann::json(nullptr);
      j["prefill_vs_peer"] = peer.prefill_tok_s > 0 ? nlohmann::json(p.median / peer.prefill_tok_s) : nlohmann::json(nullptr);
      if (timed) {
        j["collective_calls_per_step"] = coll_calls_per_step;
        j["collective_ms_per_step"] = coll_ms.median;
        j["collective_ms_per_step_min"] = coll_ms.min;
        j["collective_ms_per_step_max"] = coll_ms.max;
        j["collective_share_of_decode"] = coll.median;
        // A decode step makes one token for each of `batch` sequences (issue 5 asks per token).
        j["collective_us_per_token"] = coll_ms.median * 1e3 / batch;
      }
      j["commit"] = effitune_git_commit();
      j["date"] = today();
      std::cout << j.dump() << std::endl;
    } else {
      std::ostringstream ratio;
      if (peer.decode_tok_s > 0 && gen > 0) ratio << d.median / peer.decode_tok_s << "x";
      std::printf("%-22s %-6s %5d %8.1f [%5.0f-%5.0f] %8.1f [%5.0f-%5.0f] %8.0f %8s\n", config->model_path.substr(0, 22).c_str(),
                  quant.c_str(), batch, p.median, p.min, p.max, d.median, d.min, d.max, peer.decode_tok_s, ratio.str().c_str());
      if (timed)
        std::printf("%-22s all-reduce (rank 0): %.3f ms per decode step [%.3f-%.3f] (%.1f us per token), %lld calls, "
                    "%.1f%% of decode\n",
                    "", coll_ms.median, coll_ms.min, coll_ms.max, coll_ms.median * 1e3 / batch,
                    static_cast<long long>(coll_calls_per_step), 100 * coll.median);
    }
  }
  return kExitOk;
}

}  // namespace effitune::cli
