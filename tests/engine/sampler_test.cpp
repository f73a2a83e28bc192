// The sampler against the softmax / top-k / top-p definitions.
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "effitune/engine/sampling.h"

namespace effitune::engine {
namespace {

DecodingConfig sampling(float t, int k, float p, uint64_t seed) {
  DecodingConfig c;
  c.strategy = DecodingStrategy::kSample;
  c.temperature = t;
  c.top_k = k;
  c.top_p = p;
  c.seed = seed;
  return c;
}

TEST(SamplerTest, GreedyAndZeroTemperaturePickTheArgmax) {
  std::vector<float> l{0.1f, 2.0f, 1.9f, -3.0f};
  DecodingConfig g;
  EXPECT_EQ(Sampler(g).sample(l), 1);
  EXPECT_EQ(Sampler(sampling(0.0f, 0, 1.0f, 1)).sample(l), 1);
  EXPECT_EQ(argmax(std::vector<float>{1.0f, 1.0f}), 0) << "ties go to the lowest id";
}

// Frequencies over 40k draws follow softmax(l / T) within 4 binomial standard deviations.
TEST(SamplerTest, FrequenciesFollowTheTemperedSoftmax) {
  std::vector<float> l{1.0f, 0.0f, -1.0f, 0.5f};
  const float t = 0.8f;
  Sampler s(sampling(t, 0, 1.0f, 123));
  const int n = 40000;
  std::vector<int> counts(4);
  for (int i = 0; i < n; ++i) counts[s.sample(l)]++;
  double z = 0;
  for (float v : l) z += std::exp(v / t);
  for (int i = 0; i < 4; ++i) {
    const double p = std::exp(l[i] / t) / z;
    EXPECT_NEAR(counts[i] / double(n), p, 4 * std::sqrt(p * (1 - p) / n)) << "token " << i;
  }
}

TEST(SamplerTest, TopKAndTopPRestrictTheSupport) {
  // probabilities 0.5, 0.3, 0.2 (logits are their logs): top_p 0.6 keeps {0, 1}; top_k 1 keeps {0}.
  std::vector<float> l{std::log(0.5f), std::log(0.3f), std::log(0.2f)};
  Sampler nucleus(sampling(1.0f, 0, 0.6f, 5));
  std::map<int, int> seen;
  for (int i = 0; i < 5000; ++i) seen[nucleus.sample(l)]++;
  EXPECT_EQ(seen.count(2), 0u);
  EXPECT_NEAR(seen[0] / 5000.0, 0.5 / 0.8, 0.03);
  Sampler topk(sampling(1.0f, 2, 1.0f, 5));
  for (int i = 0; i < 2000; ++i) EXPECT_NE(topk.sample(l), 2);
}

TEST(SamplerTest, SameSeedSameTokens) {
  std::vector<float> l(50);
  for (int i = 0; i < 50; ++i) l[i] = std::sin(i * 1.7f);
  Sampler a(sampling(1.0f, 0, 0.95f, 42)), b(sampling(1.0f, 0, 0.95f, 42));
  for (int i = 0; i < 100; ++i) EXPECT_EQ(a.sample(l), b.sample(l));
}

TEST(SamplerTest, ValidateNamesTheField) {
  DecodingConfig c;
  c.top_p = 0.0f;
  auto s = validate(c);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("top_p"), std::string::npos);
  c = {};
  c.strategy = DecodingStrategy::kBeam;
  c.beam_width = 0;
  EXPECT_NE(validate(c).message().find("beam_width"), std::string::npos);
}

TEST(SamplerTest, LogSoftmaxIsNormalizedAndStable) {
  std::vector<float> l{1000.0f, 999.0f, -1000.0f};
  std::vector<float> out(3);
  log_softmax(l, out);
  double sum = 0;
  for (float v : out) sum += std::exp(static_cast<double>(v));
  EXPECT_NEAR(sum, 1.0, 1e-6);
  EXPECT_NEAR(out[0], -std::log1p(std::exp(-1.0)), 1e-6);
}

}  // namespace
}  // namespace effitune::engine
