// Golden tests for normalized exact match, ROUGE-L and key-point recall. Expected values are worked
// out by hand from the published definitions (SQuAD normalize_answer, rouge-score rougeL).
#include "effitune/probes/text_metrics.h"

#include <gtest/gtest.h>

namespace effitune::probes {
namespace {

TEST(NormalizeAnswer, FollowsSquadSteps) {
  // lower -> "the order #54526, please!"; drop punctuation -> "the order 54526 please";
  // drop whole-word articles -> " order 54526 please"; collapse whitespace -> "order 54526 please".
  EXPECT_EQ(normalize_answer("The Order #54526, please!"), "order 54526 please");
  EXPECT_EQ(normalize_answer("An apple a day"), "apple day");
  // Articles only as whole words: "theater", "anthem", "bean" keep their letters.
  EXPECT_EQ(normalize_answer("theater anthem bean"), "theater anthem bean");
  // Punctuation goes before articles, so "the-end" -> "theend" (one word, not an article).
  EXPECT_EQ(normalize_answer("the-end"), "theend");
  EXPECT_EQ(normalize_answer("  Multiple\t\nspaces  "), "multiple spaces");
  EXPECT_EQ(normalize_answer("Don't"), "dont");
  EXPECT_EQ(normalize_answer(""), "");
  EXPECT_EQ(normalize_answer("The"), "");
  // Python lowercases non-ASCII letters too, and non-ASCII letters are word characters for \b.
  EXPECT_EQ(normalize_answer("\xC3\x9C" "ber THE Caf\xC3\x89"), "\xC3\xBC" "ber caf\xC3\xA9");
  EXPECT_EQ(normalize_answer("\xC3\xA9the"), "\xC3\xA9the");
}

TEST(ExactMatch, QuasiExactMatch) {
  EXPECT_TRUE(exact_match("The Helsinki.", "helsinki"));
  EXPECT_TRUE(exact_match("$239", "239"));
  EXPECT_FALSE(exact_match("Helsinki", "Helsingfors"));
  EXPECT_FALSE(exact_match("", ""));  // HELM: an empty prediction never matches
  EXPECT_TRUE(exact_match_any("oslo", {"Helsinki", "Oslo."}));
  EXPECT_FALSE(exact_match_any("oslo", {}));
}

TEST(RougeL, Tokenizer) {
  EXPECT_EQ(rouge_tokenize("Hello, World! It's 4:30pm"),
            (std::vector<std::string>{"hello", "world", "it", "s", "4", "30pm"}));
  // Non-ASCII letters become separators, as in rouge-score: "café" -> "caf".
  EXPECT_EQ(rouge_tokenize("caf\xC3\xA9 ok"), (std::vector<std::string>{"caf", "ok"}));
  EXPECT_TRUE(rouge_tokenize(" ,;! ").empty());
}

TEST(RougeL, SameLength) {
  // ref  [the cat sat on the mat], pred [the cat lay on a mat]
  // LCS = the, cat, on, mat = 4;  P = 4/6, R = 4/6, F = 4/6.
  const auto s = rouge_l("the cat sat on the mat", "the cat lay on a mat");
  EXPECT_EQ(s.lcs, 4);
  EXPECT_DOUBLE_EQ(s.precision, 4.0 / 6.0);
  EXPECT_DOUBLE_EQ(s.recall, 4.0 / 6.0);
  EXPECT_NEAR(s.f1, 4.0 / 6.0, 1e-15);
}

TEST(RougeL, OrderMattersAndLengthsDiffer) {
  // ref [police killed the gunman], pred [the gunman police killed]: LCS = 2 ("police killed").
  const auto a = rouge_l("police killed the gunman", "the gunman police killed");
  EXPECT_EQ(a.lcs, 2);
  EXPECT_DOUBLE_EQ(a.f1, 0.5);
  // ref [a b c d e] (5), pred [a c e f] (4): LCS = a c e = 3; P = 3/4, R = 3/5,
  // F = 2 * 0.75 * 0.6 / 1.35 = 0.9 / 1.35 = 2/3.
  const auto b = rouge_l("A B C D E", "a, c; e f");
  EXPECT_EQ(b.lcs, 3);
  EXPECT_DOUBLE_EQ(b.precision, 0.75);
  EXPECT_DOUBLE_EQ(b.recall, 0.6);
  EXPECT_NEAR(b.f1, 2.0 / 3.0, 1e-15);
}

TEST(RougeL, EmptySideScoresZero) {
  const auto s = rouge_l("", "something");
  EXPECT_EQ(s.lcs, 0);
  EXPECT_EQ(s.f1, 0.0);
  EXPECT_EQ(rouge_l("x", "!!!").precision, 0.0);
}

TEST(KeyPointRecall, WholeWordNormalizedMatch) {
  // normalized answer: "your order 54526 ships to helsinki on may 27"
  // "order 54526" present, "Helsinki" present, "May 28" absent, "5452" absent (not a whole word).
  const std::string answer = "Your order #54526 ships to Helsinki on May 27.";
  EXPECT_DOUBLE_EQ(key_point_recall(answer, {"order 54526", "Helsinki", "May 28", "5452"}), 0.5);
  EXPECT_DOUBLE_EQ(key_point_recall(answer, {"the order 54526."}), 1.0);
  EXPECT_DOUBLE_EQ(key_point_recall(answer, {}), 1.0);
  EXPECT_DOUBLE_EQ(key_point_recall("", {"refund"}), 0.0);
}

}  // namespace
}  // namespace effitune::probes
