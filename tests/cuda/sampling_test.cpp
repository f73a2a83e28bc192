// Sampling on the device (engine/src/cuda/sampling.cu) against float64 references written here:
// argmax equivalence, determinism of (seed, counter), chi-square goodness of fit of 20,000 draws to
// the truncated (top-k, top-p) distribution at realistic Llama-3-sized vocabularies, zero draws
// outside the allowed set (ties at both boundaries included), top-k log-probabilities, and the
// backend's forward_sample / forward_topk on the task model. Run: --gtest_filter='*Sampl*'.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <numeric>
#include <span>
#include <random>
#include <set>

#include "../../engine/src/cuda/sampling_ops.h"
#include "cuda_test_util.h"
#include "effitune/engine/model_loader.h"
#include "effitune/engine/engine.h"
#include "effitune/engine/generate.h"
#include "effitune/engine/sampling.h"
#include "support/paths.h"

namespace effitune::engine {
namespace {

constexpr int32_t kLlama3Vocab = 128256;
constexpr int32_t kDraws = 20000;

// Llama-like logits: a N(0, 2) bulk and `peaks` tokens lifted by 6..14 nats.
std::vector<float> realistic_logits(int32_t vocab, int32_t peaks, uint64_t seed) {
  std::vector<float> l = testing::random_normal(vocab, seed, 2.0f);
  std::mt19937_64 rng(seed + 1);
  std::uniform_int_distribution<int32_t> pick(0, vocab - 1);
  std::uniform_real_distribution<float> lift(6.0f, 14.0f);
  for (int32_t i = 0; i < peaks; ++i) l[pick(rng)] += lift(rng);
  return l;
}

// Sampler's definition in float64: the allowed tokens and their probabilities.
std::map<int32_t, double> reference(const std::vector<float>& logits, const RowSampling& p) {
  std::vector<int32_t> order(logits.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return logits[a] > logits[b]; });
  size_t keep = order.size();
  if (p.top_k > 0) keep = std::min(keep, static_cast<size_t>(p.top_k));
  std::vector<double> prob(keep);
  double sum = 0;
  for (size_t i = 0; i < keep; ++i)
    sum += prob[i] = std::exp((static_cast<double>(logits[order[i]]) - logits[order[0]]) / p.temperature);
  for (double& q : prob) q /= sum;
  if (p.top_p < 1.0f) {
    double cum = 0;
    size_t n = 0;
    while (n < keep) {
      cum += prob[n++];
      if (cum >= p.top_p) break;
    }
    // A boundary closer than 1e-6 to top_p would make the test depend on rounding: keep p away from it.
    EXPECT_GT(std::abs(cum - p.top_p), 1e-6) << "top_p sits on a boundary";
    keep = n;
    for (size_t i = 0; i < keep; ++i) prob[i] /= cum;
  }
  std::map<int32_t, double> out;
  for (size_t i = 0; i < keep; ++i) out[order[i]] = prob[i];
  return out;
}

// Upper quantile of chi-square with `df` degrees of freedom at p = 1e-6 (Wilson-Hilferty, z = 4.753).
double chi2_limit(int df) {
  const double a = 2.0 / (9.0 * df), z = 4.753;
  return df * std::pow(1.0 - a + z * std::sqrt(a), 3.0);
}

std::vector<RowSampling> draws_of(const RowSampling& p, int32_t n) {
  std::vector<RowSampling> v(n, p);
  for (int32_t i = 0; i < n; ++i) v[i].counter = static_cast<uint64_t>(i);
  return v;
}

// Draws kDraws tokens from `logits` with p: none outside the allowed set, and a chi-square fit
// (categories with expected count < 5 pooled) within the 1e-6 quantile.
void expect_fits(const std::vector<float>& logits, const RowSampling& p, const std::string& what) {
  const auto ref = reference(logits, p);
  std::vector<int32_t> got;
  ASSERT_TRUE(cuda_ops::sample_one_row(logits, draws_of(p, kDraws), got).ok());
  ASSERT_EQ(got.size(), static_cast<size_t>(kDraws));
  std::map<int32_t, int64_t> count;
  int64_t outside = 0;
  for (int32_t t : got) {
    if (ref.count(t) == 0) ++outside;
    ++count[t];
  }
  EXPECT_EQ(outside, 0) << what << ": draws outside the allowed set";
  double chi2 = 0, pooled_e = 0, pooled_o = 0;
  int cells = 0;
  for (const auto& [id, q] : ref) {
    const double e = q * kDraws, o = count.count(id) ? static_cast<double>(count[id]) : 0.0;
    if (e < 5) {
      pooled_e += e, pooled_o += o;
      continue;
    }
    chi2 += (o - e) * (o - e) / e;
    ++cells;
  }
  if (pooled_e > 0) chi2 += (pooled_o - pooled_e) * (pooled_o - pooled_e) / std::max(pooled_e, 1e-9), ++cells;
  const int df = std::max(1, cells - 1);
  std::printf("%s: %zu allowed, %d cells, chi2 %.1f (limit %.1f)\n", what.c_str(), ref.size(), cells, chi2, chi2_limit(df));
  EXPECT_LT(chi2, chi2_limit(df)) << what;
}

RowSampling knobs(float t, int32_t k, float p, uint64_t seed) {
  RowSampling s;
  s.temperature = t;
  s.top_k = k;
  s.top_p = p;
  s.seed = seed;
  return s;
}

TEST(CudaSampling, TemperatureZeroAndTopK1AreTheArgmax) {
  EFFITUNE_SKIP_WITHOUT_CUDA();
  const int32_t rows = 6, vocab = 5000;
  std::vector<float> l = testing::random_normal(static_cast<size_t>(rows) * vocab, 3);
  l[2 * vocab + 4000] = l[2 * vocab + 17] = 50.0f;  // a tie at the top: the lower id wins
  l[3 * vocab + vocab - 1] = 40.0f;                 // the very last id
  std::vector<RowSampling> p(rows);
  p[1] = knobs(1.0f, 1, 1.0f, 9);   // top_k 1 at temperature 1
  p[4] = knobs(-1.0f, 0, 1.0f, 9);  // negative temperature
  p[5] = knobs(0.5f, 1, 0.5f, 9);
  std::vector<int32_t> got;
  ASSERT_TRUE(cuda_ops::sample_rows(l, rows, p, got).ok());
  for (int32_t r = 0; r < rows; ++r)
    EXPECT_EQ(got[r], argmax(std::span<const float>(l.data() + static_cast<size_t>(r) * vocab, vocab))) << "row " << r;
  EXPECT_EQ(got[2], 17);
  EXPECT_EQ(got[3], vocab - 1);
}

TEST(CudaSampling, SameSeedAndCounterGiveTheSameTokenInAnyBatch) {
  EFFITUNE_SKIP_WITHOUT_CUDA();
  const std::vector<float> l = realistic_logits(kLlama3Vocab, 0, 21);  // flat: many plausible tokens
  const auto p = draws_of(knobs(1.0f, 0, 1.0f, 42), 256);
  std::vector<int32_t> a, b;
  ASSERT_TRUE(cuda_ops::sample_one_row(l, p, a).ok());
  ASSERT_TRUE(cuda_ops::sample_one_row(l, p, b).ok());
  EXPECT_EQ(a, b);
  const std::set<int32_t> distinct(a.begin(), a.end());
  EXPECT_GT(distinct.size(), 200u) << "counters must vary the draws";
  // The same (seed, counter) in a 3-row batch, at another row.
  std::vector<float> three(3 * l.size());
  const std::vector<float> other = realistic_logits(kLlama3Vocab, 10, 5);
  std::copy(other.begin(), other.end(), three.begin());
  std::copy(l.begin(), l.end(), three.begin() + kLlama3Vocab);
  std::copy(other.begin(), other.end(), three.begin() + 2 * kLlama3Vocab);
  for (int c : {0, 7, 255}) {
    std::vector<int32_t> got;
    const std::vector<RowSampling> ps = {knobs(1.0f, 0, 1.0f, 1), p[c], knobs(0.7f, 5, 1.0f, 2)};
    ASSERT_TRUE(cuda_ops::sample_rows(three, 3, ps, got).ok());
    EXPECT_EQ(got[1], a[c]) << "counter " << c;
  }
  // Another seed, another stream.
  std::vector<int32_t> s2;
  ASSERT_TRUE(cuda_ops::sample_one_row(l, draws_of(knobs(1.0f, 0, 1.0f, 43), 256), s2).ok());
  int same = 0;
  for (size_t i = 0; i < a.size(); ++i) same += a[i] == s2[i];
  EXPECT_LT(same, 20);
}

TEST(CudaSampling, DrawsFitTheTruncatedDistributionSmallVocab) {
  EFFITUNE_SKIP_WITHOUT_CUDA();
  const std::vector<float> l = testing::random_normal(1000, 77, 1.5f);
  expect_fits(l, knobs(1.0f, 0, 1.0f, 1), "v1000 T1");
  expect_fits(l, knobs(0.7f, 50, 1.0f, 2), "v1000 T0.7 k50");
  expect_fits(l, knobs(1.3f, 0, 0.8f, 3), "v1000 T1.3 p0.8");
  expect_fits(l, knobs(0.9f, 200, 0.6f, 4), "v1000 T0.9 k200 p0.6");
}

TEST(CudaSampling, DrawsFitTheTruncatedDistributionLlama3Vocab) {
  EFFITUNE_SKIP_WITHOUT_CUDA();
  const std::vector<float> l = realistic_logits(kLlama3Vocab, 40, 2024);
  expect_fits(l, knobs(1.0f, 40, 0.9f, 5), "v128256 T1 k40 p0.9");
  expect_fits(l, knobs(0.8f, 0, 0.95f, 6), "v128256 T0.8 p0.95");
  expect_fits(l, knobs(1.0f, 0, 1.0f, 7), "v128256 T1");
  expect_fits(l, knobs(0.6f, 1000, 1.0f, 8), "v128256 T0.6 k1000");
  const std::vector<float> flat = realistic_logits(kLlama3Vocab, 0, 99);
  expect_fits(flat, knobs(1.0f, 0, 0.5f, 9), "v128256 flat T1 p0.5");
}

// Equal logits at the top-k and top-p boundaries: the lower ids are kept, as Sampler keeps them.
TEST(CudaSampling, TiesAtTheBoundariesGoToLowerIds) {
  EFFITUNE_SKIP_WITHOUT_CUDA();
  std::vector<float> l(3000);
  for (size_t i = 0; i < l.size(); ++i) l[i] = static_cast<float>(i % 3);  // 1000 tokens at each of 2, 1, 0
  expect_fits(l, knobs(1.0f, 1500, 1.0f, 10), "ties k1500");    // all 2s and the first 500 1s
  expect_fits(l, knobs(1.0f, 0, 0.4f, 11), "ties p0.4");         // a prefix of the 2s
  expect_fits(l, knobs(0.5f, 1200, 0.97f, 12), "ties k1200 p0.97");
}

TEST(CudaSampling, TopKLogprobsMatchAFloat64LogSoftmax) {
  EFFITUNE_SKIP_WITHOUT_CUDA();
  const int32_t rows = 3;
  std::vector<float> l;
  for (int r = 0; r < rows; ++r) {
    auto row = realistic_logits(kLlama3Vocab, 30, 300 + r);
    l.insert(l.end(), row.begin(), row.end());
  }
  l[1 * kLlama3Vocab + 100] = l[1 * kLlama3Vocab + 90000] = l[1 * kLlama3Vocab + 5] = 30.0f;  // tie at the top
  for (int32_t k : {1, 8, 50, 128}) {
    std::vector<int32_t> ids;
    std::vector<float> lp;
    ASSERT_TRUE(cuda_ops::topk_logprobs(l, rows, k, ids, lp).ok());
    ASSERT_EQ(ids.size(), static_cast<size_t>(rows * k));
    double worst = 0;
    for (int r = 0; r < rows; ++r) {
      const float* row = l.data() + static_cast<size_t>(r) * kLlama3Vocab;
      double mx = -INFINITY, sum = 0;
      for (int32_t i = 0; i < kLlama3Vocab; ++i) mx = std::max(mx, static_cast<double>(row[i]));
      for (int32_t i = 0; i < kLlama3Vocab; ++i) sum += std::exp(row[i] - mx);
      const double lse = mx + std::log(sum);
      std::vector<int32_t> order(kLlama3Vocab);
      std::iota(order.begin(), order.end(), 0);
      std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return row[a] > row[b]; });
      for (int j = 0; j < k; ++j) {
        EXPECT_EQ(ids[r * k + j], order[j]) << "row " << r << " rank " << j << " k " << k;
        worst = std::max(worst, std::abs(lp[r * k + j] - (row[order[j]] - lse)));
      }
    }
    EXPECT_LT(worst, 1e-5) << "k " << k;
  }
}

TEST(CudaSampling, RejectsBadKnobs) {
  EFFITUNE_SKIP_WITHOUT_CUDA();
  const std::vector<float> l(100, 0.0f);
  std::vector<int32_t> out;
  std::vector<float> lp;
  const std::vector<RowSampling> bad_p = {knobs(1.0f, 0, 0.0f, 1)}, one = {knobs(1.0f, 0, 1.0f, 1)};
  EXPECT_EQ(cuda_ops::sample_one_row(l, bad_p, out).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(cuda_ops::sample_rows(l, 2, one, out).code(), StatusCode::kInvalidArgument);  // 2 rows, 1 params
  EXPECT_EQ(cuda_ops::topk_logprobs(l, 1, 129, out, lp).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(cuda_ops::topk_logprobs(l, 1, 101, out, lp).code(), StatusCode::kInvalidArgument);
}

std::string task_model() {
  const char* env = std::getenv("EFFITUNE_TASK_MODEL");
  return env ? env : testing::source_dir() + "/experiments/support-desk/model.gguf";
}

// forward_sample with greedy knobs (the greedy path) and the argmax rows of a batch with a hot row
// (the sampling kernel) equal forward_greedy on the task model for a batch of three sequences over
// 24 decode steps (CUDA graphs, padded batch); sampled tokens fall in the top-k of
// forward()'s logits; forward_topk matches a float64 log-softmax of them.
TEST(CudaSampling, ForwardSampleOnTheTaskModel) {
  EFFITUNE_SKIP_WITHOUT_CUDA();
  if (!std::filesystem::exists(task_model())) GTEST_SKIP() << "no task model at " << task_model();
  auto w = load_model(task_model());
  ASSERT_TRUE(w.ok()) << w.status().to_string();
  const int32_t vocab = (*w)->config.vocab_size;
  BackendOptions o;
  o.kind = "cuda";
  o.kv_block_size = 16;
  o.kv_blocks = 48;
  auto made = make_backend(*w, o);
  ASSERT_TRUE(made.ok()) << made.status().to_string();
  Backend& b = *made.value();
  auto* ds = dynamic_cast<DeviceSampler*>(&b);
  ASSERT_NE(ds, nullptr);
  std::vector<std::vector<int32_t>> tables(3);
  for (int s = 0; s < 3; ++s)
    for (int i = 0; i < 16; ++i) tables[s].push_back(s * 16 + 15 - i);
  std::vector<std::vector<int32_t>> prompts = {{1, 5, 9, 200, 31}, {1, 77}, {1, 300, 301, 302, 303, 304, 305, 306, 12}};
  std::vector<int32_t> len(3, 0), last(3);
  std::vector<SequenceStep> steps;
  for (int s = 0; s < 3; ++s) steps.push_back({prompts[s], 0, tables[s], false});
  std::vector<int32_t> greedy, sampled;
  ASSERT_TRUE(ds->forward_greedy(steps, greedy).ok());
  ASSERT_TRUE(ds->forward_sample(steps, std::vector<RowSampling>(3), sampled).ok());  // rewrites the same K/V
  EXPECT_EQ(sampled, greedy);
  for (int s = 0; s < 3; ++s) len[s] = static_cast<int32_t>(prompts[s].size()), last[s] = greedy[s];
  const RowSampling hot = knobs(0.9f, 20, 0.95f, 123);
  for (int step = 0; step < 24; ++step) {
    std::vector<std::vector<int32_t>> toks = {{last[0]}, {last[1]}, {last[2]}};
    steps.clear();
    for (int s = 0; s < 3; ++s) steps.push_back({toks[s], len[s], tables[s], false});
    ASSERT_TRUE(ds->forward_greedy(steps, greedy).ok());
    ASSERT_TRUE(ds->forward_sample(steps, std::vector<RowSampling>(3), sampled).ok());
    EXPECT_EQ(sampled, greedy) << "step " << step;
    // One hot row sends the batch through the sampling kernel; its argmax rows still give greedy's.
    std::vector<RowSampling> mixed(3);
    mixed[1] = knobs(1.0f, 1, 1.0f, 7);
    mixed[2] = hot;
    mixed[2].counter = static_cast<uint64_t>(step);
    ASSERT_TRUE(ds->forward_sample(steps, mixed, sampled).ok());
    EXPECT_EQ(sampled[0], greedy[0]) << "step " << step;
    EXPECT_EQ(sampled[1], greedy[1]) << "step " << step;
    if (step % 6 == 0) {
      std::vector<float> logits;
      ASSERT_TRUE(b.forward(steps, logits).ok());
      std::vector<RowSampling> ps(3, hot);
      for (int s = 0; s < 3; ++s) ps[s].counter = static_cast<uint64_t>(step * 3 + s);
      ASSERT_TRUE(ds->forward_sample(steps, ps, sampled).ok());
      std::vector<int32_t> ids;
      std::vector<float> lp;
      ASSERT_TRUE(ds->forward_topk(steps, 20, ids, lp).ok());
      ASSERT_EQ(ids.size(), 60u);
      for (int s = 0; s < 3; ++s) {
        const std::span<const float> row(logits.data() + static_cast<size_t>(s) * vocab, vocab);
        std::vector<float> ref(vocab);
        log_softmax(row, ref);
        const auto allowed = reference(std::vector<float>(row.begin(), row.end()), hot);
        EXPECT_EQ(allowed.count(sampled[s]), 1u) << "step " << step << " seq " << s;
        EXPECT_EQ(ids[s * 20], greedy[s]);
        for (int j = 0; j < 20; ++j) {
          EXPECT_NEAR(lp[s * 20 + j], ref[ids[s * 20 + j]], 1e-5);
          if (j > 0) {
            EXPECT_LE(lp[s * 20 + j], lp[s * 20 + j - 1]);
          }
        }
      }
    }
    for (int s = 0; s < 3; ++s) ++len[s], last[s] = greedy[s];
  }
}

// Beam search end to end on the task model in f32: the CUDA engine takes each beam's candidates
// from the device top-k (Engine::step_topk), the CPU engine from full logits on the host; both must
// find the same best hypothesis.
TEST(CudaSampling, BeamSearchOnTheDeviceMatchesTheCpuEngine) {
  EFFITUNE_SKIP_WITHOUT_CUDA();
  if (!std::filesystem::exists(task_model())) GTEST_SKIP() << "no task model at " << task_model();
  auto engine_on = [](const std::string& kind) {
    EngineConfig c;
    c.model_path = task_model();
    c.weight_type = DType::kF32;
    c.backend.kind = kind;
    c.backend.threads = 2;
    c.max_sequences = 8;
    c.context_length = 256;
    return Engine::create(c);
  };
  auto gpu = engine_on("cuda");
  auto cpu = engine_on("cpu");
  ASSERT_TRUE(gpu.ok()) << gpu.status().to_string();
  ASSERT_TRUE(cpu.ok()) << cpu.status().to_string();
  ASSERT_TRUE((*gpu)->samples_on_device());
  ASSERT_FALSE((*cpu)->samples_on_device());
  const std::vector<int32_t> prompt = {1, 50, 200, 31, 77, 300, 12};
  for (int32_t width : {2, 4}) {
    DecodingConfig beam;
    beam.strategy = DecodingStrategy::kBeam;
    beam.beam_width = width;
    beam.max_new_tokens = 24;
    auto a = generate(**cpu, prompt, beam);
    auto b = generate(**gpu, prompt, beam);
    ASSERT_TRUE(a.ok() && b.ok()) << "width " << width;
    EXPECT_EQ(b->token_ids, a->token_ids) << "width " << width;
    EXPECT_NEAR(b->score, a->score, 1e-3) << "width " << width;
  }
}

}  // namespace
}  // namespace effitune::engine
