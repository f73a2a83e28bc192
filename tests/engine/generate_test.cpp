// Decoding strategies on a scripted language model whose probabilities are known exactly.
#include "effitune/engine/generate.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <map>

#include "support/scripted_backend.h"

namespace effitune::engine {
namespace {

using testing::ScriptedBackend;

constexpr int32_t kEos = 0, kA = 1, kB = 2, kC = 3, kVocab = 4;

std::vector<float> logs(std::vector<double> p) {
  std::vector<float> l;
  for (double v : p) l.push_back(static_cast<float>(std::log(v)));
  return l;
}

// After the prompt [C]: A 0.55, B 0.45. After A: flat over A/B/C (0.34/0.33/0.33). After B: C 0.97.
// After two generated tokens: EOS 0.999. Greedy takes A (0.55 * 0.34 = 0.187); the best sequence is
// B C EOS (0.45 * 0.97 * 0.999 = 0.436).
std::vector<float> trap_script(const std::vector<int32_t>& h) {
  const size_t gen = h.size() - 1;
  if (gen == 0) return logs({1e-6, 0.55, 0.45, 1e-6});
  if (gen == 1 && h[1] == kA) return logs({1e-6, 0.34, 0.33, 0.33});
  if (gen == 1 && h[1] == kB) return logs({1e-6, 0.01, 0.02, 0.97});
  return logs({0.999, 0.0005, 0.0003, 0.0002});
}

// Pseudo-random but deterministic logits from the history (a hash), vocab 32.
std::vector<float> hash_script(const std::vector<int32_t>& h) {
  uint64_t x = 1469598103934665603ull;
  for (int32_t t : h) x = (x ^ static_cast<uint64_t>(t)) * 1099511628211ull;
  std::vector<float> l(32);
  for (auto& v : l) {
    x ^= x >> 33, x *= 0xff51afd7ed558ccdull, x ^= x >> 33;
    v = static_cast<float>((x % 10000) / 1000.0);
  }
  return l;
}

std::unique_ptr<Engine> scripted_engine(int32_t vocab, testing::ScriptFn fn, int32_t eos = kEos) {
  auto backend = std::make_unique<ScriptedBackend>(vocab, 256, 4, std::move(fn));
  return Engine::create_with_backend(testing::config_only_weights(vocab, 512, eos), std::move(backend), 512, 256, 4).value();
}

// Exhaustive search over every continuation of up to `max_len` tokens (ending at EOS or the limit).
std::pair<std::vector<int32_t>, double> brute_force(const testing::ScriptFn& fn, std::vector<int32_t> prompt, int32_t vocab,
                                                    int32_t max_len) {
  std::pair<std::vector<int32_t>, double> best{{}, -1e300};
  std::function<void(std::vector<int32_t>&, double)> rec = [&](std::vector<int32_t>& hist, double lp) {
    const int32_t gen = static_cast<int32_t>(hist.size() - prompt.size());
    if (gen == max_len) {
      if (lp > best.second) best = {std::vector<int32_t>(hist.begin() + prompt.size(), hist.end()), lp};
      return;
    }
    std::vector<float> l = fn(hist);
    std::vector<float> p(vocab);
    log_softmax(l, p);
    for (int32_t t = 0; t < vocab; ++t) {
      if (t == kEos) {
        if (lp + p[t] > best.second) best = {std::vector<int32_t>(hist.begin() + prompt.size(), hist.end()), lp + p[t]};
        continue;
      }
      hist.push_back(t);
      rec(hist, lp + p[t]);
      hist.pop_back();
    }
  };
  std::vector<int32_t> hist = prompt;  // rec grows and shrinks its own copy; `prompt` stays the prefix
  rec(hist, 0.0);
  return best;
}

TEST(GenerateTest, BeamSearchFindsTheBestSequenceWhereGreedyDoesNot) {
  auto engine = scripted_engine(kVocab, trap_script);
  DecodingConfig greedy;
  greedy.max_new_tokens = 3;
  auto g = generate(*engine, {kC}, greedy).value();
  ASSERT_FALSE(g.token_ids.empty());
  EXPECT_EQ(g.token_ids[0], kA);

  DecodingConfig beam = greedy;
  beam.strategy = DecodingStrategy::kBeam;
  beam.beam_width = 2;
  beam.length_penalty = 0.0f;  // rank by total log-probability, as the brute force does
  auto b = generate(*engine, {kC}, beam).value();
  auto [best_tokens, best_lp] = brute_force(trap_script, {kC}, kVocab, 3);
  EXPECT_EQ(b.token_ids, best_tokens);
  EXPECT_EQ(b.token_ids, (std::vector<int32_t>{kB, kC}));
  EXPECT_NEAR(b.score, best_lp, 1e-5);
  EXPECT_EQ(b.finish_reason, FinishReason::kStop);
  EXPECT_EQ(engine->kv_stats().used_blocks, 0) << "beam search leaked KV blocks";
}

TEST(GenerateTest, BeamWidthOneEqualsGreedy) {
  auto engine = scripted_engine(32, hash_script, /*eos=*/-1);
  DecodingConfig greedy;
  greedy.max_new_tokens = 40;
  DecodingConfig beam = greedy;
  beam.strategy = DecodingStrategy::kBeam;
  beam.beam_width = 1;
  auto g = generate(*engine, {5, 6, 7}, greedy).value();
  auto b = generate(*engine, {5, 6, 7}, beam).value();
  EXPECT_EQ(g.token_ids.size(), 40u);
  EXPECT_EQ(g.token_ids, b.token_ids);
  EXPECT_EQ(b.finish_reason, FinishReason::kLength);
}

TEST(GenerateTest, WiderBeamsNeverScoreBelowGreedy) {
  auto engine = scripted_engine(32, hash_script, -1);
  DecodingConfig c;
  c.max_new_tokens = 6;
  c.strategy = DecodingStrategy::kBeam;
  c.length_penalty = 0.0f;
  c.beam_width = 1;
  const double s1 = generate(*engine, {1}, c).value().score;
  c.beam_width = 8;
  const double s8 = generate(*engine, {1}, c).value().score;
  EXPECT_GE(s8, s1 - 1e-9);
}

TEST(GenerateTest, TopKOneEqualsGreedyAndSeedsReproduce) {
  auto engine = scripted_engine(32, hash_script, -1);
  DecodingConfig greedy;
  greedy.max_new_tokens = 30;
  DecodingConfig topk1 = greedy;
  topk1.strategy = DecodingStrategy::kSample;
  topk1.temperature = 1.5f;
  topk1.top_k = 1;
  topk1.seed = 99;
  EXPECT_EQ(generate(*engine, {3}, greedy).value().token_ids, generate(*engine, {3}, topk1).value().token_ids);

  DecodingConfig s = greedy;
  s.strategy = DecodingStrategy::kSample;
  s.temperature = 1.0f;
  s.seed = 7;
  auto a = generate(*engine, {3}, s).value().token_ids;
  auto b = generate(*engine, {3}, s).value().token_ids;
  EXPECT_EQ(a, b);
  s.seed = 8;
  EXPECT_NE(a, generate(*engine, {3}, s).value().token_ids);
}

TEST(GenerateTest, FinishReasonIsStopAtEosAndLengthAtTheBudget) {
  auto engine = scripted_engine(kVocab, trap_script);
  DecodingConfig c;
  c.max_new_tokens = 10;
  auto r = generate(*engine, {kC}, c).value();
  EXPECT_EQ(r.finish_reason, FinishReason::kStop);
  EXPECT_EQ(r.token_ids.size(), 2u);  // A, then (after a flat step) EOS
  c.max_new_tokens = 1;
  r = generate(*engine, {kC}, c).value();
  EXPECT_EQ(r.finish_reason, FinishReason::kLength);
  EXPECT_EQ(r.token_ids, (std::vector<int32_t>{kA}));
}

TEST(GenerateTest, BadInputsAreErrorsNotCrashes) {
  auto engine = scripted_engine(kVocab, trap_script);
  DecodingConfig c;
  EXPECT_EQ(generate(*engine, {}, c).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(generate(*engine, {kVocab + 5}, c).status().code(), StatusCode::kInvalidArgument);
  c.max_new_tokens = 0;
  EXPECT_EQ(generate(*engine, {kC}, c).status().code(), StatusCode::kInvalidArgument);
  c.max_new_tokens = 4;
  EXPECT_EQ(generate(*engine, std::vector<int32_t>(600, kA), c).status().code(), StatusCode::kOutOfRange);
  EXPECT_EQ(engine->kv_stats().used_blocks, 0);
}

TEST(GenerateTest, ScoreTokensIsTheTeacherForcedNll) {
  auto engine = scripted_engine(kVocab, trap_script);
  auto nll = score_tokens(*engine, {kC, kB, kC, kEos}).value();
  ASSERT_EQ(nll.size(), 3u);
  // -log p, with p normalized over the scripted (unnormalized by 1e-6 terms) distributions.
  EXPECT_NEAR(nll[0], -std::log(0.45 / (0.55 + 0.45 + 2e-6)), 1e-5);
  EXPECT_NEAR(nll[1], -std::log(0.97 / (1e-6 + 0.01 + 0.02 + 0.97)), 1e-5);
  EXPECT_NEAR(nll[2], -std::log(0.999 / 1.0), 1e-5);
}

}  // namespace
}  // namespace effitune::engine
