// CUDA-backend timing on synthetic random-weight models (weights generated on the GPU): prefill of
// one long prompt, and batched greedy decode at several batch sizes, in the JSON format of
// `effitune bench` (one object per line) plus a table with the ratio to llama.cpp's anchors.
//   bench_cuda [models=llama-1b,llama-8b] [quants=bf16,q8_0,q4_0] [batches=1,16,64,256] [prompt=128]
//              [gen=64] [prefill=512] [reps=3] [tp=1,2] [out=FILE] [sample=1]
// sample=1 instead times token selection at vocab 128256 for batch 1 and 64: launch_sample on the
// device (with the params' upload and the ids' copy back) against copying the logits to the host
// and running engine::Sampler on every row (what serving did before the device sampler).
// tp lists tensor-parallel degrees (GPUs per replica); for tp > 1 each row also carries the time of
// the step's all-reduces (2 per layer, measured alone with NCCL at the row's message size).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <map>
#include <random>
#include <span>
#include <sstream>
#include <string>
#include <vector>

#include "../engine/src/cuda/cuda_backend_factory.h"
#include "../engine/src/cuda/sampling_ops.h"
#include "effitune/engine/backend.h"
#include "effitune/engine/model_loader.h"
#include "effitune/engine/sampling.h"
#include "comma_list.h"

using namespace effitune::engine;
using effitune::Status;

namespace {

double now_s() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

using effitune::tools::split;

// Shapes and types only: the backend fills the weights on the device.
std::shared_ptr<ModelWeights> skeleton(const ModelConfig& c, DType t) {
  auto w = std::make_shared<ModelWeights>();
  w->config = c;
  const int64_t hd = c.head_dim();
  auto view = [](DType type, int64_t rows, int64_t cols) { return TensorView{type, nullptr, rows, cols}; };
  w->token_embedding = view(t, c.vocab_size, c.dim);
  w->output = c.tied_output ? w->token_embedding : view(t, c.vocab_size, c.dim);
  w->output_norm = view(DType::kF32, 1, c.dim);
  for (int i = 0; i < c.n_layers; ++i) {
    LayerWeights l;
    l.attn_norm = view(DType::kF32, 1, c.dim);
    l.ffn_norm = view(DType::kF32, 1, c.dim);
    l.wq = view(t, c.n_heads * hd, c.dim);
    l.wk = view(t, c.n_kv_heads * hd, c.dim);
    l.wv = view(t, c.n_kv_heads * hd, c.dim);
    l.wo = view(t, c.dim, c.n_heads * hd);
    l.w_gate = view(t, c.hidden_dim, c.dim);
    l.w_up = view(t, c.hidden_dim, c.dim);
    l.w_down = view(t, c.dim, c.hidden_dim);
    w->layers.push_back(l);
  }
  return w;
}

// llama.cpp on one H200 (mission.md's engine anchors), keyed by model/quant/batch; 0 = none.
double anchor(const std::string& model, const std::string& quant, int batch, bool prefill) {
  if (prefill) return model == "llama-8b" && quant == "bf16" ? 19000 : 0;
  if (batch == 1) {
    if (model == "llama-8b") return quant == "bf16" ? 211 : quant == "q8_0" ? 247 : 334;
    return quant == "bf16" ? 785 : quant == "q8_0" ? 824 : 982;
  }
  if (batch == 64 && quant == "bf16") return model == "llama-8b" ? 6470 : 16528;
  return 0;
}

struct Row {
  std::string model, quant;
  int batch = 0, prompt = 0, gen = 0;
  double prefill = 0, decode = 0, roofline = 0, allreduce_us = 0;
  int tp = 1;
};

// Microseconds per step of picking `batch` tokens at vocab 128256: device vs host, per knob set.
int sample_bench(int reps) {
  constexpr int32_t kVocab = 128256;
  struct Knobs {
    const char* name;
    float t;
    int32_t k;
    float p;
  };
  const Knobs knobs[] = {{"greedy", 0.0f, 0, 1.0f}, {"T1", 1.0f, 0, 1.0f}, {"T0.8 k40 p0.95", 0.8f, 40, 0.95f},
                         {"T1 p0.9", 1.0f, 0, 0.9f}};
  std::printf("%-16s %6s %14s %14s %14s %14s %8s\n", "knobs", "batch", "device_us", "copy_us", "host_sample_us",
              "host_total_us", "speedup");
  for (const int batch : {1, 64}) {
    // Llama-like rows: a N(0, 2) bulk and 40 tokens lifted by 6..14 nats.
    std::vector<float> logits(static_cast<size_t>(batch) * kVocab);
    std::mt19937_64 rng(7);
    std::normal_distribution<float> bulk(0.0f, 2.0f);
    std::uniform_int_distribution<int32_t> pick(0, kVocab - 1);
    std::uniform_real_distribution<float> lift(6.0f, 14.0f);
    for (float& v : logits) v = bulk(rng);
    for (int r = 0; r < batch; ++r)
      for (int i = 0; i < 40; ++i) logits[static_cast<size_t>(r) * kVocab + pick(rng)] += lift(rng);
    for (const Knobs& kn : knobs) {
      RowSampling p;
      p.temperature = kn.t, p.top_k = kn.k, p.top_p = kn.p, p.seed = 1;
      auto dev = effitune::engine::cuda_ops::time_sample(logits, batch, p, reps);
      if (!dev.ok()) {
        std::fprintf(stderr, "bench_cuda: %s\n", dev.status().to_string().c_str());
        return 1;
      }
      DecodingConfig c;
      c.strategy = kn.t > 0 ? DecodingStrategy::kSample : DecodingStrategy::kGreedy;
      c.temperature = kn.t, c.top_k = kn.k, c.top_p = kn.p;
      Sampler sampler(c);
      std::vector<double> host;
      int64_t sink = 0;
      for (int rep = 0; rep < (batch == 1 ? 20 : 3); ++rep) {  // the host path is slow: few reps
        const double t0 = now_s();
        for (int r = 0; r < batch; ++r)
          sink += sampler.sample(std::span<const float>(logits.data() + static_cast<size_t>(r) * kVocab, kVocab));
        host.push_back((now_s() - t0) * 1e6);
      }
      const double h = median(host), total = dev->logits_copy_us + h;
      std::printf("%-16s %6d %14.1f %14.1f %14.1f %14.1f %7.1fx%s\n", kn.name, batch, dev->device_sample_us,
                  dev->logits_copy_us, h, total, total / dev->device_sample_us, sink < 0 ? "!" : "");
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> args = {{"models", "llama-1b,llama-8b"}, {"quants", "bf16,q8_0,q4_0"},
                                             {"batches", "1,16,64,256"},       {"prompt", "128"},
                                             {"gen", "64"},                    {"prefill", "512"},
                                             {"reps", "3"},                    {"out", ""},
                                             {"tp", "1"},                      {"sample", "0"}};
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const auto eq = a.find('=');
    if (eq == std::string::npos || !args.count(a.substr(0, eq))) {
      std::fprintf(stderr, "bench_cuda: unknown argument '%s' (expected key=value: models, quants, batches, prompt, gen, prefill, reps, tp, out, sample)\n", a.c_str());
      return 2;
    }
    args[a.substr(0, eq)] = a.substr(eq + 1);
  }
  if (!cuda_backend_available()) {
    std::fprintf(stderr, "bench_cuda: no CUDA device\n");
    return 1;
  }
  if (args["sample"] == "1") return sample_bench(std::max(3, std::stoi(args["reps"]) * 100));
  const int prompt = std::stoi(args["prompt"]), gen = std::stoi(args["gen"]), prefill_n = std::stoi(args["prefill"]);
  const int reps = std::stoi(args["reps"]);
  std::vector<int> batches;
  for (const auto& b : split(args["batches"])) batches.push_back(std::stoi(b));
  const int max_batch = *std::max_element(batches.begin(), batches.end());
  const char* commit_env = std::getenv("EFFITUNE_COMMIT");
  const std::string commit = commit_env ? commit_env : "unknown";
  char date[32];
  const std::time_t tt = std::time(nullptr);
  std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&tt));
  const double bw = cuda_measured_copy_bandwidth(0);
  std::fprintf(stderr, "device copy bandwidth %.0f GB/s (read + write)\n", bw / 1e9);
  FILE* out = args["out"].empty() ? nullptr : std::fopen(args["out"].c_str(), "w");
  std::vector<Row> rows;

  for (const std::string& model : split(args["models"])) {
    auto cfg = synthetic_model_config(model);
    if (!cfg) {
      std::fprintf(stderr, "bench_cuda: unknown model %s\n", model.c_str());
      return 2;
    }
    for (const std::string& quant : split(args["quants"]))
    for (const std::string& tp_s : split(args["tp"])) {
      const int tp = std::stoi(tp_s);
      if (tp > cuda_device_count()) {
        std::fprintf(stderr, "bench_cuda: tp=%d needs %d GPUs, %d visible: skipped\n", tp, tp, cuda_device_count());
        continue;
      }
      const auto type = parse_dtype(quant);
      if (!type) {
        std::fprintf(stderr, "bench_cuda: unknown quant %s\n", quant.c_str());
        return 2;
      }
      BackendOptions o;
      o.kind = "cuda";
      o.gpu_count = tp;
      o.kv_block_size = 16;
      const int per_seq_blocks = (std::max(prompt + gen + 2, prefill_n) + 15) / 16;
      o.kv_blocks = max_batch * per_seq_blocks + per_seq_blocks;
      CudaBackendExtras x;
      x.random_weights = true;
      const double t_load = now_s();
      auto made = make_cuda_backend(skeleton(*cfg, *type), o, x);
      if (!made.ok()) {
        std::fprintf(stderr, "bench_cuda: %s %s: %s\n", model.c_str(), quant.c_str(), made.status().to_string().c_str());
        continue;
      }
      std::unique_ptr<Backend> backend = std::move(made).value();
      auto* greedy = dynamic_cast<DeviceGreedy*>(backend.get());
      std::fprintf(stderr, "%s %s tp=%d: %.2f GB weights on %s in %.1f s\n", model.c_str(), quant.c_str(), tp,
                   backend->weight_bytes() / 1e9, backend->device_name().c_str(), now_s() - t_load);
      const double kv_per_token = static_cast<double>(backend->kv_bytes_per_block()) / o.kv_block_size;
      auto emit = [&](Row r) {
        r.tp = tp;
        if (tp > 1) {
          // The step's all-reduces, two per layer: the residual update with the next RMSNorm that decode
          // steps of up to 128 rows use (a model of one weight type has bf16 activations unless it is
          // f32 or f16), else a plain all-reduce of the step's tokens x dim floats.
          const int64_t tokens = r.gen == 0 ? r.prompt : r.batch;
          const bool bf16_act = quant != "f32" && quant != "f16";
          effitune::Result<double> t = effitune::unavailable("not a decode step");
          if (r.gen > 0) t = cuda_residual_add_seconds(0, tp, static_cast<int32_t>(tokens), cfg->dim, bf16_act, 200);
          if (!t.ok()) t = cuda_all_reduce_seconds(0, tp, tokens * cfg->dim, 200);
          if (t.ok()) r.allreduce_us = 2.0 * cfg->n_layers * t.value() * 1e6;
        }
        rows.push_back(r);
        if (!out) return;
        std::fprintf(out,
                     "{\"backend\":\"cuda\",\"device\":\"%s\",\"model\":\"synthetic:%s\",\"quant\":\"%s\",\"batch\":%d,"
                     "\"tp\":%d,\"prompt_tokens\":%d,\"gen_tokens\":%d,\"prefill_tok_s\":%.1f,\"decode_tok_s\":%.1f,"
                     "\"roofline_decode_tok_s\":%.1f,\"copy_bandwidth_gbs\":%.0f,\"allreduce_us_per_step\":%.1f,"
                     "\"commit\":\"%s\",\"date\":\"%s\"}\n",
                     backend->device_name().c_str(), r.model.c_str(), r.quant.c_str(), r.batch, r.tp, r.prompt, r.gen,
                     r.prefill, r.decode, r.roofline, bw / 1e9, r.allreduce_us, commit.c_str(), date);
        std::fflush(out);
      };

      // Prefill: one sequence of prefill_n tokens, median of reps after a warm-up (prefill=0 skips it).
      if (prefill_n > 0) {
        std::vector<int32_t> toks(prefill_n), table(per_seq_blocks), ids;
        for (int i = 0; i < prefill_n; ++i) toks[i] = (i * 7919 + 13) % cfg->vocab_size;
        for (int i = 0; i < per_seq_blocks; ++i) table[i] = i;
        SequenceStep s{toks, 0, table, false};
        std::vector<double> times;
        for (int r = 0; r <= reps; ++r) {
          const double t0 = now_s();
          const Status st = greedy->forward_greedy({&s, 1}, ids);
          if (!st.ok()) {
            std::fprintf(stderr, "prefill failed: %s\n", st.to_string().c_str());
            return 1;
          }
          if (r > 0) times.push_back(now_s() - t0);
        }
        emit({model, quant, 1, prefill_n, 0, prefill_n / median(times), 0, 0});
      }

      for (int b : batches) {
        std::vector<std::vector<int32_t>> tables(b), toks(b);
        std::vector<int32_t> lens(b, 0), ids;
        std::vector<SequenceStep> steps(b);
        for (int i = 0; i < b; ++i) {
          for (int j = 0; j < per_seq_blocks; ++j) tables[i].push_back(per_seq_blocks * (i + 1) + j);
          toks[i].resize(prompt);
          for (int j = 0; j < prompt; ++j) toks[i][j] = (i * 131 + j * 7919 + 1) % cfg->vocab_size;
          steps[i] = {toks[i], 0, tables[i], false};
        }
        const double tp0 = now_s();
        Status st = greedy->forward_greedy(steps, ids);
        const double prefill_s = now_s() - tp0;
        double t_start = 0;  // after the first decode step (graph capture) has finished
        for (int step = 0; st.ok() && step <= gen; ++step) {
          if (step == 1) greedy->synchronize();
          for (int i = 0; i < b; ++i) {
            lens[i] = step == 0 ? prompt : lens[i] + 1;
            toks[i] = {ids[i]};
            steps[i] = {toks[i], lens[i], tables[i], false};
          }
          if (step == 1) t_start = now_s();
          st = greedy->forward_greedy(steps, ids);
          if (step == gen && st.ok()) {
            const double dt = now_s() - t_start;
            const double avg_ctx = prompt + 1 + gen / 2.0;
            // Each GPU streams its shard: the sums over ranks divided by the degree (replicated
            // embedding and LM head included, as each rank reads them).
            const double bytes = (backend->weight_bytes() + b * avg_ctx * kv_per_token) / tp;
            emit({model, quant, b, prompt, gen, b * prompt / prefill_s, b * gen / dt, bw > 0 ? b * bw / bytes : 0});
          }
        }
        if (!st.ok()) std::fprintf(stderr, "%s %s batch %d: %s\n", model.c_str(), quant.c_str(), b, st.to_string().c_str());
      }
    }
  }
  if (out) std::fclose(out);
  std::printf("%-9s %-5s %3s %5s %12s %12s %10s %9s %9s %11s\n", "model", "quant", "tp", "batch", "prefill/s", "decode/s",
              "roofline", "llama.cpp", "ratio", "allreduce");
  for (const Row& r : rows) {
    const bool pre = r.gen == 0;
    const double a = anchor(r.model, r.quant, r.batch, pre), v = pre ? r.prefill : r.decode;
    std::printf("%-9s %-5s %3d %5d %12.0f %12.0f %10.0f %9.0f %9s %8.0f us\n", r.model.c_str(), r.quant.c_str(), r.tp,
                r.batch, r.prefill, pre ? 0.0 : r.decode, r.roofline, a,
                a > 0 ? std::to_string(v / a).substr(0, 4).c_str() : "-", r.allreduce_us);
  }
  return 0;
}
