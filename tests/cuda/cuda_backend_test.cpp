// The CUDA backend against the CPU backend and the float64 reference on stories260K and on random
// synthetic models, through the Backend interface.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <numeric>
#include <span>

#include "cuda_test_util.h"
#include "effitune/engine/backend.h"
#include "effitune/engine/gguf.h"
#include "effitune/engine/model_loader.h"
#include "effitune/engine/sampling.h"
#include "effitune/engine/tokenizer.h"
#include "support/paths.h"
#include "support/reference_f64.h"

namespace effitune::engine {
namespace {

using testing::nmse;

constexpr int32_t kBlock = 16;

std::shared_ptr<const ModelWeights> stories(std::optional<DType> type = std::nullopt) {
  LoadOptions o;
  o.weight_type = type;
  auto w = load_model(testing::stories260k_path(), o);
  EXPECT_TRUE(w.ok()) << w.status().to_string();
  return w.ok() ? w.value() : nullptr;
}

std::unique_ptr<Backend> backend(const std::string& kind, std::shared_ptr<const ModelWeights> w, int32_t blocks) {
  BackendOptions o;
  o.kind = kind;
  o.kv_block_size = kBlock;
  o.kv_blocks = blocks;
  auto b = make_backend(std::move(w), o);
  EXPECT_TRUE(b.ok()) << b.status().to_string();
  return b.ok() ? std::move(b).value() : nullptr;
}

// A block table of `n` blocks starting at `first`, reversed so that order matters.
std::vector<int32_t> table(int32_t first, int32_t n) {
  std::vector<int32_t> t(n);
  std::iota(t.rbegin(), t.rend(), first);
  return t;
}

TEST(CudaBackend, Stories260kGreedyMatchesCpuFor200Tokens) {
  EFFITUNE_SKIP_WITHOUT_CUDA();
  auto w = stories();
  ASSERT_TRUE(w);
  auto cpu = backend("cpu", w, 32);
  auto gpu = backend("cuda", w, 32);
  ASSERT_TRUE(cpu && gpu);
  testing::ReferenceLlama ref(*w);
  const auto bt = table(0, 32);
  int32_t tok = w->config.bos_id;
  double worst = 0, worst_ref = 0;
  for (int32_t pos = 0; pos < 200; ++pos) {
    const int32_t toks[1] = {tok};
    SequenceStep s{toks, pos, bt, false};
    std::vector<float> lc, lg;
    ASSERT_TRUE(cpu->forward({&s, 1}, lc).ok());
    ASSERT_TRUE(gpu->forward({&s, 1}, lg).ok());
    const std::vector<double> lr = ref.step(tok);
    worst = std::max(worst, nmse(lg, lc));
    worst_ref = std::max(worst_ref, nmse(lg, lr));
    const int32_t next = argmax(lc);
    ASSERT_EQ(argmax(lg), next) << "greedy token differs at position " << pos;
    tok = next;
  }
  EXPECT_LE(worst, 5e-4);
  EXPECT_LE(worst_ref, 5e-4);
  std::printf("stories260K f32: 200 greedy tokens identical; worst logits NMSE vs cpu %.3g, vs f64 %.3g\n", worst,
              worst_ref);
}

TEST(CudaBackend, MixedBatchMatchesCpu) {
  EFFITUNE_SKIP_WITHOUT_CUDA();
  auto w = stories();
  ASSERT_TRUE(w);
  auto cpu = backend("cpu", w, 64);
  auto gpu = backend("cuda", w, 64);
  ASSERT_TRUE(cpu && gpu);
  // Three sequences: prefills of 70 and 5 tokens and a teacher-forced 33, then batched decodes.
  std::vector<std::vector<int32_t>> prompts = {{}, {}, {}};
  for (int i = 0; i < 70; ++i) prompts[0].push_back((i * 37 + 1) % 512);
  for (int i = 0; i < 5; ++i) prompts[1].push_back((i * 11 + 3) % 512);
  for (int i = 0; i < 33; ++i) prompts[2].push_back((i * 7 + 5) % 512);
  const std::vector<std::vector<int32_t>> tables = {table(0, 20), table(20, 20), table(40, 20)};
  std::vector<SequenceStep> steps;
  for (int i = 0; i < 3; ++i) steps.push_back({prompts[i], 0, tables[i], i == 2});
  std::vector<float> lc, lg;
  ASSERT_TRUE(cpu->forward(steps, lc).ok());
  ASSERT_TRUE(gpu->forward(steps, lg).ok());
  EXPECT_EQ(lg.size(), lc.size());
  EXPECT_LE(nmse(lg, lc), 5e-4);
  std::vector<int32_t> len = {70, 5, 33};
  for (int step = 0; step < 40; ++step) {
    std::vector<std::vector<int32_t>> toks(3);
    steps.clear();
    for (int i = 0; i < 3; ++i) {
      toks[i] = {(step * 13 + i * 101) % 512};
      steps.push_back({toks[i], len[i], tables[i], false});
    }
    ASSERT_TRUE(cpu->forward(steps, lc).ok());
    ASSERT_TRUE(gpu->forward(steps, lg).ok());
    ASSERT_LE(nmse(lg, lc), 5e-4) << "decode step " << step;
    auto* greedy = dynamic_cast<DeviceGreedy*>(gpu.get());
    ASSERT_NE(greedy, nullptr);
    for (int i = 0; i < 3; ++i) ++len[i];
  }
  // Device greedy agrees with argmax over the host logits (runs one more step on fresh positions).
  std::vector<std::vector<int32_t>> toks = {{1}, {2}, {3}};
  steps.clear();
  for (int i = 0; i < 3; ++i) steps.push_back({toks[i], len[i], tables[i], false});
  ASSERT_TRUE(cpu->forward(steps, lc).ok());
  std::vector<int32_t> ids;
  ASSERT_TRUE(dynamic_cast<DeviceGreedy*>(gpu.get())->forward_greedy(steps, ids).ok());
  ASSERT_EQ(ids.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    const std::span<const float> row(lc.data() + i * 512, 512);
    EXPECT_EQ(ids[i], argmax(row)) << "sequence " << i;
  }
}

TEST(CudaBackend, CopyBlockForksASequence) {
  EFFITUNE_SKIP_WITHOUT_CUDA();
  auto w = stories();
  ASSERT_TRUE(w);
  auto gpu = backend("cuda", w, 8);
  ASSERT_TRUE(gpu);
  std::vector<int32_t> prompt(20);
  std::iota(prompt.begin(), prompt.end(), 10);
  const std::vector<int32_t> a = {0, 1}, b = {0, 2};  // b shares block 0, copies block 1 into 2
  SequenceStep s{prompt, 0, a, false};
  std::vector<float> la, lb;
  ASSERT_TRUE(gpu->forward({&s, 1}, la).ok());
  gpu->copy_block(1, 2);
  const int32_t next[1] = {42};
  SequenceStep sa{next, 20, a, false}, sb{next, 20, b, false};
  ASSERT_TRUE(gpu->forward({&sa, 1}, la).ok());
  ASSERT_TRUE(gpu->forward({&sb, 1}, lb).ok());
  EXPECT_EQ(la, lb);
}

// bf16 against f32, teacher-forced on the f32 model's own greedy continuation. On stories260K
// (d = 64) rounding the weights alone moves ~3% of the top-1 choices: the CPU reference with bf16
// weights and f32 activations agrees on 389/400 (the 99% is out of reach for any bf16
// path on this model). The GPU's bf16 path (bf16 weights and bf16 activations) is held to within
// 2 points of that reference; its agreement with the CPU on the same bf16 weights, at positions
// where those weights are decided (top-2 margin >= 0.05), is printed (0.984 on an H100).
TEST(CudaBackend, Bf16AgreesWithF32TeacherForced) {
  EFFITUNE_SKIP_WITHOUT_CUDA();
  auto w32 = stories();
  auto w16 = stories(DType::kBF16);
  ASSERT_TRUE(w32 && w16);
  auto g32 = backend("cuda", w32, 40);
  auto g16 = backend("cuda", w16, 40);
  auto c16 = backend("cpu", w16, 40);
  ASSERT_TRUE(g32 && g16 && c16);
  std::vector<int32_t> seq = {w32->config.bos_id};
  const auto bt = table(0, 40);
  for (int32_t pos = 0; pos < 400; ++pos) {
    const int32_t t[1] = {seq.back()};
    SequenceStep s{t, pos, bt, false};
    std::vector<int32_t> ids;
    ASSERT_TRUE(dynamic_cast<DeviceGreedy*>(g32.get())->forward_greedy({&s, 1}, ids).ok());
    seq.push_back(ids[0]);
  }
  seq.pop_back();
  SequenceStep all{seq, 0, bt, true};
  std::vector<float> l32, l16, lc16;
  ASSERT_TRUE(g32->forward({&all, 1}, l32).ok());
  ASSERT_TRUE(g16->forward({&all, 1}, l16).ok());
  ASSERT_TRUE(c16->forward({&all, 1}, lc16).ok());
  const size_t vocab = w32->config.vocab_size;
  int gpu_same = 0, cpu_same = 0, decided = 0, decided_same = 0;
  for (size_t i = 0; i < seq.size(); ++i) {
    const std::span<const float> r32(l32.data() + i * vocab, vocab), r16(l16.data() + i * vocab, vocab),
        rc(lc16.data() + i * vocab, vocab);
    gpu_same += argmax(r32) == argmax(r16);
    cpu_same += argmax(r32) == argmax(rc);
    std::vector<float> sorted(rc.begin(), rc.end());
    std::partial_sort(sorted.begin(), sorted.begin() + 2, sorted.end(), std::greater<float>());
    if (sorted[0] - sorted[1] >= 0.05f) {
      ++decided;
      decided_same += argmax(r16) == argmax(rc);
    }
  }
  const double gpu = double(gpu_same) / seq.size(), cpu = double(cpu_same) / seq.size();
  const double decided_frac = decided ? double(decided_same) / decided : 1.0;
  std::printf("stories260K teacher-forced same top-1 vs f32: gpu bf16 %.4f, cpu bf16 %.4f; gpu vs cpu bf16 where "
              "decided %.4f (%d positions)\n", gpu, cpu, decided_frac, decided);
  EXPECT_GE(gpu, cpu - 0.02);
}

// The task model (experiments/support-desk/model.gguf, f32 master, d = 256): bf16 weights and
// activations against f32, teacher-forced on support-desk conversations (from dev.jsonl) followed by
// the f32 model's greedy answer. The model is trained on assistant tokens only, so it is confident
// there and the 99% applies to those positions (acknowledgements, answers and their
// <|end|>); agreement over every position (user text included, where the model guesses) is printed.
// EFFITUNE_TASK_MODEL overrides the path (the device machine's checkout is elsewhere).
TEST(CudaBackend, TaskModelBf16AgreesWithF32TeacherForced) {
  EFFITUNE_SKIP_WITHOUT_CUDA();
  const char* env = std::getenv("EFFITUNE_TASK_MODEL");
  const std::string path = env ? env : testing::source_dir() + "/experiments/support-desk/model.gguf";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << "no task model at " << path;
  auto file = GgufFile::open(path);
  ASSERT_TRUE(file.ok()) << file.status().to_string();
  auto tok = make_tokenizer(*file.value());
  ASSERT_TRUE(tok.ok()) << tok.status().to_string();
  const Tokenizer& tk = *tok.value();
  LoadOptions o16;
  o16.weight_type = DType::kBF16;
  auto w32 = load_model(path), w16 = load_model(path, o16);
  ASSERT_TRUE(w32.ok() && w16.ok());
  const int32_t bos = tk.find_token("<|bos|>"), sys = tk.find_token("<|system|>"), usr = tk.find_token("<|user|>"),
                asst = tk.find_token("<|assistant|>"), end = tk.find_token("<|end|>");
  ASSERT_TRUE(bos >= 0 && sys >= 0 && usr >= 0 && asst >= 0 && end >= 0);
  struct Conv {
    std::string system;
    std::vector<std::pair<bool, std::string>> turns;  // (assistant?, content)
    std::string question;
  };
  const std::string policy = " Returns are accepted within 30 days. Refunds take 7 business days. Support is open "
                             "from 10 am to 8 pm.";
  const std::vector<Conv> convs = {
      {"You are the support assistant of Bluebird." + policy,
       {{false, "Hello, this is Paula writing."}, {true, "Okay, I have written that down."},
        {false, "The order number is 67902."}, {true, "Thank you, I have found order 67902."},
        {false, "I am contacting you because it came in the wrong color."}, {true, "Thanks for the detail."},
        {false, "It should be delivered to Denver."}, {true, "Thanks, the delivery city is Denver."},
        {false, "Is it going to rain this weekend?"}, {true, "I am not sure about the weather, sorry."},
        {false, "I paid $350 in total."}, {true, "Thank you, the total was $350."},
        {false, "The order date was February 9."}, {true, "Thank you, noted."},
        {false, "I ordered 7 purple pillow last month."}, {true, "Understood, thanks."},
        {false, "Correction, I actually ordered 5 of them."}, {true, "Thanks, I updated the quantity to 5."}},
       "What was the order date?"},
      {"You are the support assistant of Bluebird." + policy,
       {{false, "Hello, this is Paula writing."}, {true, "Okay, I have written that down."},
        {false, "The order number is 67902."}, {true, "Thank you, I have found order 67902."},
        {false, "It should be delivered to Denver."}, {true, "Thanks, the delivery city is Denver."},
        {false, "I paid $350 in total."}, {true, "Thank you, the total was $350."}},
       "Can you summarize my order?"},
      {"You are the support assistant of Bluebird." + policy,
       {{false, "The order number is 67902."}, {true, "Thank you, I have found order 67902."},
        {false, "I ordered 7 purple pillow last month."}, {true, "Understood, thanks."},
        {false, "I paid $350 in total."}, {true, "Thank you, the total was $350."}},
       "How much did one item cost?"},
  };
  auto g32 = backend("cuda", w32.value(), 40);
  auto g16 = backend("cuda", w16.value(), 40);
  ASSERT_TRUE(g32 && g16);
  const auto bt = table(0, 40);
  const int32_t vocab = w32.value()->config.vocab_size;
  int all = 0, all_same = 0, mine = 0, mine_same = 0;
  for (const Conv& cv : convs) {
    std::vector<int32_t> seq = {bos};
    std::vector<bool> target_is_assistant = {false};  // per token: produced by the assistant
    auto add = [&](int32_t special, const std::string& text, bool assistant) {
      seq.push_back(special), target_is_assistant.push_back(false);
      for (int32_t t : tk.encode(" " + text, false)) seq.push_back(t), target_is_assistant.push_back(assistant);
      seq.push_back(end), target_is_assistant.push_back(assistant);
    };
    add(sys, cv.system, false);
    for (const auto& [assistant, text] : cv.turns) add(assistant ? asst : usr, text, assistant);
    add(usr, cv.question, false);
    seq.push_back(asst), target_is_assistant.push_back(false);
    // The f32 model's greedy answer, up to <|end|> (or 80 tokens).
    for (int i = 0; i < 80; ++i) {
      SequenceStep s{seq, 0, bt, false};
      std::vector<int32_t> ids;
      ASSERT_TRUE(dynamic_cast<DeviceGreedy*>(g32.get())->forward_greedy({&s, 1}, ids).ok());
      seq.push_back(ids[0]), target_is_assistant.push_back(true);
      if (ids[0] == end) break;
    }
    ASSERT_LE(seq.size(), 40u * kBlock);
    SequenceStep s{seq, 0, bt, true};
    std::vector<float> l32, l16;
    ASSERT_TRUE(g32->forward({&s, 1}, l32).ok());
    ASSERT_TRUE(g16->forward({&s, 1}, l16).ok());
    for (size_t i = 0; i + 1 < seq.size(); ++i) {
      const std::span<const float> r32(l32.data() + i * vocab, vocab), r16(l16.data() + i * vocab, vocab);
      const bool same = argmax(r32) == argmax(r16);
      ++all, all_same += same;
      if (target_is_assistant[i + 1]) ++mine, mine_same += same;
    }
  }
  const double frac_mine = double(mine_same) / mine, frac_all = double(all_same) / all;
  std::printf("task model teacher-forced same top-1, bf16 vs f32: assistant positions %.4f (%d/%d), all positions "
              "%.4f (%d/%d)\n", frac_mine, mine_same, mine, frac_all, all_same, all);
  EXPECT_GE(frac_mine, 0.99);
}

// Random synthetic models in each weight type against the CPU backend in the same type. Both
// backends quantize activations to int8 blocks for quantized weights, but the CPU stores the block
// scale in f16 and the GPU in f32 and the bf16 rounding of activations differs, so quantized models
// get a looser bound: one Q8 rounding flip has relative error ~2^-8, compounding over the tiny
// model's 2 layers and lm head well under 1e-3.
TEST(CudaBackend, SyntheticModelsMatchCpu) {
  EFFITUNE_SKIP_WITHOUT_CUDA();
  auto cfg = synthetic_model_config("tiny");
  ASSERT_TRUE(cfg);
  for (DType t : {DType::kF32, DType::kF16, DType::kBF16, DType::kQ8_0, DType::kQ4_0}) {
    auto w = make_random_model(*cfg, t, 99);
    ASSERT_TRUE(w.ok()) << w.status().to_string();
    auto cpu = backend("cpu", w.value(), 16);
    auto gpu = backend("cuda", w.value(), 16);
    ASSERT_TRUE(cpu && gpu);
    std::vector<int32_t> prompt(40);
    for (int i = 0; i < 40; ++i) prompt[i] = (i * 29 + 3) % cfg->vocab_size;
    const auto bt = table(0, 16);
    SequenceStep s{prompt, 0, bt, true};
    std::vector<float> lc, lg;
    ASSERT_TRUE(cpu->forward({&s, 1}, lc).ok());
    ASSERT_TRUE(gpu->forward({&s, 1}, lg).ok());
    const double bound = t == DType::kF32 ? 5e-4 : 2e-3;
    EXPECT_LE(nmse(lg, lc), bound) << dtype_name(t);
    EXPECT_EQ(gpu->weight_bytes() > 0, true);
    // Greedy on the device (the argmax folded into the LM-head GEMV, float and quantized) picks the
    // argmax of the same step's logits, for three sequences at once.
    std::vector<std::vector<int32_t>> prompts(3), tables(3);
    std::vector<SequenceStep> steps;
    for (int i = 0; i < 3; ++i) {
      prompts[i] = {(i * 31 + 7) % cfg->vocab_size, (i * 17 + 2) % cfg->vocab_size};
      tables[i] = table(4 * (i + 1), 4);
      steps.push_back({prompts[i], 0, tables[i], false});
    }
    std::vector<float> lb;
    ASSERT_TRUE(gpu->forward(steps, lb).ok());
    std::vector<int32_t> ids;
    ASSERT_TRUE(dynamic_cast<DeviceGreedy*>(gpu.get())->forward_greedy(steps, ids).ok());
    ASSERT_EQ(ids.size(), 3u);
    for (int i = 0; i < 3; ++i)
      EXPECT_EQ(ids[i], argmax(std::span<const float>(lb.data() + i * cfg->vocab_size, cfg->vocab_size)))
          << dtype_name(t) << " sequence " << i;
    // The same three sequences against the CPU, then a decode step of all three: the GEMVs at 3
    // activation rows with their fused inputs (RMSNorm, SwiGLU).
    std::vector<float> lcb;
    ASSERT_TRUE(cpu->forward(steps, lcb).ok());
    EXPECT_LE(nmse(lb, lcb), bound) << dtype_name(t) << " three prompts";
    std::vector<std::vector<int32_t>> next(3);
    std::vector<SequenceStep> decode;
    for (int i = 0; i < 3; ++i) {
      next[i] = {(i * 13 + 5) % cfg->vocab_size};
      decode.push_back({next[i], 2, tables[i], false});
    }
    ASSERT_TRUE(cpu->forward(decode, lcb).ok());
    ASSERT_TRUE(gpu->forward(decode, lb).ok());
    EXPECT_LE(nmse(lb, lcb), bound) << dtype_name(t) << " decode of three";
  }
}

TEST(CudaBackend, RandomDeviceWeightsRunAndAccountMemory) {
  EFFITUNE_SKIP_WITHOUT_CUDA();
  auto cfg = synthetic_model_config("tiny");
  ASSERT_TRUE(cfg);
  auto w = make_random_model(*cfg, DType::kQ4_0, 5);
  ASSERT_TRUE(w.ok());
  BackendOptions o;
  o.kind = "cuda";
  o.kv_blocks = 8;
  CudaBackendExtras x;
  x.random_weights = true;
  auto b = make_cuda_backend(w.value(), o, x);
  ASSERT_TRUE(b.ok()) << b.status().to_string();
  const int32_t toks[3] = {1, 2, 3};
  const std::vector<int32_t> bt = {3};
  SequenceStep s{toks, 0, bt, false};
  std::vector<float> logits;
  ASSERT_TRUE(b.value()->forward({&s, 1}, logits).ok());
  EXPECT_TRUE(std::all_of(logits.begin(), logits.end(), [](float v) { return std::isfinite(v); }));
  EXPECT_GT(std::abs(logits[0]) + std::abs(logits[1]), 0.0f);
  // kv bytes: K and V, all layers, block of 16, kv_dim, bf16.
  EXPECT_EQ(b.value()->kv_bytes_per_block(), 2LL * cfg->n_layers * 16 * cfg->kv_dim() * 2);

  // A KV cache larger than any GPU fails cleanly before allocating.
  o.kv_blocks = 1 << 30;
  auto huge = make_cuda_backend(w.value(), o, x);
  ASSERT_FALSE(huge.ok());
  EXPECT_EQ(huge.status().code(), StatusCode::kResourceExhausted) << huge.status().to_string();
}

TEST(CudaBackend, RejectsBadSteps) {
  EFFITUNE_SKIP_WITHOUT_CUDA();
  auto w = stories();
  ASSERT_TRUE(w);
  auto gpu = backend("cuda", w, 4);
  ASSERT_TRUE(gpu);
  std::vector<float> logits;
  const int32_t bad[1] = {512};
  const std::vector<int32_t> bt = {0};
  SequenceStep s{bad, 0, bt, false};
  EXPECT_EQ(gpu->forward({&s, 1}, logits).code(), StatusCode::kInvalidArgument);
  std::vector<int32_t> many(17, 1);
  SequenceStep t{many, 0, bt, false};  // 17 positions need 2 blocks
  EXPECT_EQ(gpu->forward({&t, 1}, logits).code(), StatusCode::kInvalidArgument);
  const std::vector<int32_t> out_of_range = {9};
  SequenceStep u{many, 0, out_of_range, false};
  EXPECT_EQ(gpu->forward({&u, 1}, logits).code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace effitune::engine
