// Consistency and quality goldens, worked out by hand.
#include "effitune/probes/consistency.h"

#include <cmath>
#include <limits>

#include <gtest/gtest.h>

#include "effitune/probes/quality.h"

namespace effitune::probes {
namespace {

TEST(ModalAgreement, NormalizedModeAndFirstSeenTies) {
  // Normalized: helsinki x3 ("Helsinki", "helsinki.", "the Helsinki"), oslo x2 -> 3/5.
  const std::vector<std::string> answers = {"Helsinki", "helsinki.", "Oslo", "the Helsinki", "Oslo"};
  const auto m = modal_agreement(answers);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->modal_answer, "helsinki");
  EXPECT_EQ(m->modal_count, 3u);
  EXPECT_DOUBLE_EQ(m->agreement, 0.6);
  // b and a both twice: the first seen (b) is modal.
  const std::vector<std::string> tie = {"b", "a", "a", "b"};
  EXPECT_EQ(modal_agreement(tie)->modal_answer, "b");
  EXPECT_DOUBLE_EQ(modal_agreement(tie)->agreement, 0.5);
  EXPECT_FALSE(modal_agreement(std::vector<std::string>{}).ok());
}

TEST(CompareLogits, KlAndTop1ByHand) {
  const float ln2 = static_cast<float>(std::log(2.0));
  // Position 0: ref [0,0,0] -> p = 1/3 each; test [ln2,0,0] -> q = [1/2, 1/4, 1/4].
  //   KL = 1/3 (ln(2/3) + ln(4/3) + ln(4/3)) = ln(32/27) / 3 = 0.0566330...; both argmax 0.
  // Position 1: identical rows -> KL 0, same top-1.
  // Position 2: ref [3,1,0], test [0,1,3]: the log-sum-exp is equal, so log p - log q = [3, 0, -3]
  //   and KL = 3 p0 - 3 p2 = 3 (e^3 - 1) / (e^3 + e + 1); argmax 0 vs 2 differ.
  const std::vector<float> ref = {0, 0, 0, 1, 2, 3, 3, 1, 0};
  const std::vector<float> test = {ln2, 0, 0, 1, 2, 3, 0, 1, 3};
  const auto r = compare_logits(ref, test, 3);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->positions, 3u);
  const double e = std::exp(1.0);
  const double kl0 = std::log(32.0 / 27.0) / 3.0;
  const double kl2 = 3.0 * (e * e * e - 1.0) / (e * e * e + e + 1.0);
  EXPECT_NEAR(r->kl[0], kl0, 1e-7);  // ln2 rounded to float: |d| < 3e-8 in the logit
  EXPECT_NEAR(r->kl[1], 0.0, 1e-15);
  EXPECT_NEAR(r->kl[2], kl2, 1e-12);
  EXPECT_EQ(r->same_top1, (std::vector<uint8_t>{1, 1, 0}));
  EXPECT_DOUBLE_EQ(r->same_top1_rate, 2.0 / 3.0);
  EXPECT_NEAR(r->mean_kl, (kl0 + kl2) / 3.0, 1e-7);
}

TEST(CompareLogits, MaskedTokensAndErrors) {
  const float inf = std::numeric_limits<float>::infinity();
  // ref [0, -inf] -> p = [1, 0]; test [0, 0] -> q = [1/2, 1/2]; KL = ln 2.
  const std::vector<float> masked_ref = {0, -inf};
  const std::vector<float> open = {0, 0};
  EXPECT_NEAR(compare_logits(masked_ref, open, 2)->kl[0], std::log(2.0), 1e-15);
  // The test masks a token the reference gives mass: KL is infinite.
  EXPECT_TRUE(std::isinf(compare_logits(open, masked_ref, 2)->kl[0]));
  const std::vector<float> nan_row = {0, std::nanf("")};
  const auto bad = compare_logits(open, nan_row, 2);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("position 0, token 1"), std::string::npos);
  EXPECT_FALSE(compare_logits(open, std::vector<float>{0, 0, 0}, 2).ok());
  EXPECT_FALSE(compare_logits(open, open, 0).ok());
  EXPECT_FALSE(compare_logits(std::vector<float>{-inf, -inf}, open, 2).ok());
}

TEST(HistoryConsistency, OnlyDependentItemsCount) {
  // 3 dependent items, 2 correct -> 2/3; Wilson(2, 3) = [0.2076596, 0.9385081].
  const std::vector<ItemOutcome> items = {{true, true}, {false, true}, {true, true}, {false, false}, {false, false}};
  const auto e = history_consistency(items);
  EXPECT_EQ(e.n, 3u);
  EXPECT_DOUBLE_EQ(e.value, 2.0 / 3.0);
  EXPECT_NEAR(e.ci_low, 0.20765960080204765, 1e-12);
  EXPECT_NEAR(e.ci_high, 0.9385080552796037, 1e-12);
}

TEST(Quality, TruncationRate) {
  const std::vector<std::string> reasons = {"stop", "length", "length", "stop"};
  const auto e = truncation_rate(reasons);
  EXPECT_DOUBLE_EQ(e.value, 0.5);
  EXPECT_EQ(e.n, 4u);
  EXPECT_DOUBLE_EQ(truncation_rate(1, 4).value, 0.25);
}

TEST(Quality, WeightedGeometricMean) {
  // Equal weights: sqrt(0.81 * 0.5) = 0.636396...
  const std::vector<WeightedValue> equal = {{0.81, 1}, {0.5, 1}};
  EXPECT_NEAR(*weighted_geometric_mean(equal), std::sqrt(0.405), 1e-15);
  // Weights 3:1 -> 0.8^0.75 * 0.4^0.25 = 0.672717...
  const std::vector<WeightedValue> skew = {{0.8, 3}, {0.4, 1}};
  EXPECT_NEAR(*weighted_geometric_mean(skew), 0.6727171322029717, 1e-12);
  // A zero with positive weight gives exactly zero; with zero weight it is ignored.
  const std::vector<WeightedValue> zero = {{0.9, 1}, {0.0, 1}};
  EXPECT_EQ(*weighted_geometric_mean(zero), 0.0);
  const std::vector<WeightedValue> ignored = {{0.9, 1}, {0.0, 0}};
  EXPECT_NEAR(*weighted_geometric_mean(ignored), 0.9, 1e-15);
  EXPECT_FALSE(weighted_geometric_mean(std::vector<WeightedValue>{}).ok());
  EXPECT_FALSE(weighted_geometric_mean(std::vector<WeightedValue>{{1.5, 1}}).ok());
  EXPECT_FALSE(weighted_geometric_mean(std::vector<WeightedValue>{{0.5, -1}}).ok());
  EXPECT_FALSE(weighted_geometric_mean(std::vector<WeightedValue>{{0.5, 0}}).ok());
}

}  // namespace
}  // namespace effitune::probes
