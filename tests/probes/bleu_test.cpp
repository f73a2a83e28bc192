// BLEU goldens: hand-worked n-gram arithmetic plus the expected values published in sacreBLEU's own
// test suite (test/test_bleu.py, test/test_sentence_bleu.py).
#include <cmath>

#include <gtest/gtest.h>

#include "effitune/probes/text_metrics.h"

namespace effitune::probes {
namespace {

TEST(Tokenizer13a, SplitsLikeMteval) {
  // '!', '(' and ')' are always split; ',' and '.' unless next to a digit on the relevant side;
  // the apostrophe and the hyphen inside words are kept.
  EXPECT_EQ(tokenize_13a("Hello, world! It's 3.5 km-long (approx.)"),
            "Hello , world ! It's 3.5 km-long ( approx . )");
  EXPECT_EQ(tokenize_13a("5-10"), "5 - 10");  // a dash after a digit is split
  EXPECT_EQ(tokenize_13a("1,000.50 dollars."), "1,000.50 dollars .");
  EXPECT_EQ(tokenize_13a("&amp; &lt;b&gt; &quot;x&quot;"), "& < b > \" x \"");
  EXPECT_EQ(tokenize_13a("line-\nbreak\nnext<skipped>"), "linebreak next");
  EXPECT_EQ(tokenize_13a("   "), "");
}

TEST(Bleu, HandWorkedSentencePair) {
  // hyp: the cat sat on the mat   ref: the cat is on the mat   (6 tokens each, BP = 1)
  // 1-grams: the x2, cat, on, mat match -> 5/6
  // 2-grams: "the cat", "on the", "the mat" match of 5 -> 3/5
  // 3-grams: "on the mat" of 4 -> 1/4
  // 4-grams: 0 of 3 -> exp smoothing: 1 / (2 * 3) = 1/6
  // BLEU = 100 * (5/6 * 3/5 * 1/4 * 1/6)^(1/4) = 100 * (1/48)^(1/4) = 37.99178428...
  const auto s = corpus_bleu({"the cat sat on the mat"}, {{"the cat is on the mat"}});
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  EXPECT_EQ(s->counts, (std::vector<double>{5, 3, 1, 0}));
  EXPECT_EQ(s->totals, (std::vector<double>{6, 5, 4, 3}));
  EXPECT_DOUBLE_EQ(s->bp, 1.0);
  EXPECT_NEAR(s->precisions[3], 100.0 / 6.0, 1e-12);
  EXPECT_NEAR(s->score, 100.0 * std::pow(48.0, -0.25), 1e-10);
}

TEST(Bleu, BrevityPenaltyAndEffectiveOrder) {
  // hyp "the cat" (2) vs ref of 6 tokens: BP = exp(1 - 6/2) = e^-2.
  // p1 = 2/2, p2 = 1/1, no 3-grams: corpus BLEU averages over 4 orders with log(0) -> 0;
  // with effective order (sentence BLEU) only 2 orders count: BLEU = 100 * e^-2 = 13.5335.
  const auto corpus = corpus_bleu({"the cat"}, {{"the cat is on the mat"}});
  ASSERT_TRUE(corpus.ok());
  EXPECT_NEAR(corpus->bp, std::exp(-2.0), 1e-15);
  EXPECT_NEAR(corpus->score, 0.0, 1e-12);
  const auto sentence = sentence_bleu("the cat", {"the cat is on the mat"});
  ASSERT_TRUE(sentence.ok());
  EXPECT_NEAR(sentence->score, 100.0 * std::exp(-2.0), 1e-10);
}

TEST(Bleu, SacrebleuCorpusGoldens) {
  // test_bleu.py test_corpus_bleu; sacreBLEU's reference streams transposed to per-segment lists.
  const std::vector<std::string> hyps = {"The dog bit the man.", "It wasn't surprising.", "The man had just bitten him."};
  const std::vector<std::vector<std::string>> refs = {{"The dog bit the man.", "The dog had bit the man."},
                                                      {"It was not unexpected.", "No one was surprised."},
                                                      {"The man bit him first.", "The man had bitten the dog."}};
  EXPECT_NEAR(corpus_bleu(hyps, refs)->score, 48.530827, 1e-6);
  BleuOptions none_smooth;
  none_smooth.smoothing = BleuSmoothing::kNone;
  EXPECT_NEAR(corpus_bleu(hyps, refs, none_smooth)->score, 48.530827, 1e-6);
  BleuOptions no_tok;
  no_tok.tokenizer = BleuTokenizer::kNone;
  EXPECT_NEAR(corpus_bleu(hyps, refs, no_tok)->score, 49.1919566, 1e-6);
  EXPECT_EQ(corpus_bleu({"", "", ""}, refs)->score, 0.0);  // empty hypotheses are kept and score 0
}

// sacrebleu.raw_corpus_bleu: floor smoothing 0.01, no tokenization, effective order.
BleuOptions raw_options() {
  BleuOptions o;
  o.tokenizer = BleuTokenizer::kNone;
  o.smoothing = BleuSmoothing::kFloor;
  o.smooth_value = 0.01;
  o.effective_order = true;
  return o;
}

TEST(Bleu, SacrebleuRawAndEffectiveOrderGoldens) {
  const auto o = raw_options();
  EXPECT_NEAR(corpus_bleu({"this is a test"}, {{"this is a test"}}, o)->score, 100.0, 1e-6);
  EXPECT_NEAR(corpus_bleu({"this is a fest"}, {{"this is a test"}}, o)->score, 22.3606797749979, 1e-6);
  EXPECT_NEAR(corpus_bleu({"test"}, {{"a test"}}, o)->score, 36.78794411714425, 1e-6);
  EXPECT_NEAR(corpus_bleu({"a test"}, {{"a test"}}, o)->score, 100.0, 1e-6);
  EXPECT_NEAR(corpus_bleu({"a little test"}, {{"a test"}}, o)->score, 3.218297948685433, 1e-6);
  const auto stats = corpus_bleu({"am I am a character sequence"}, {{"I am a symbol string sequence a a"}}, o);
  EXPECT_EQ(stats->counts, (std::vector<double>{4, 2, 1, 0}));
  EXPECT_EQ(stats->totals, (std::vector<double>{6, 5, 4, 3}));
  // test_offset: floor smoothing at 0 gives 0, the default 0.1 gives 0.1555722182.
  auto zero = o;
  zero.smooth_value = 0.0;
  EXPECT_NEAR(corpus_bleu({"am I am a character sequence"}, {{"I am a symbol string sequence a a"}}, zero)->score, 0.0, 1e-8);
  auto deflt = o;
  deflt.smooth_value.reset();
  EXPECT_NEAR(corpus_bleu({"am I am a character sequence"}, {{"I am a symbol string sequence a a"}}, deflt)->score,
              15.55722182, 1e-6);
}

TEST(Bleu, SacrebleuComputeBleuGoldens) {
  BleuOptions none;
  none.smoothing = BleuSmoothing::kNone;
  EXPECT_NEAR(compute_bleu({9, 7, 5, 3}, {10, 8, 6, 4}, 11, 11, none).score, 83.75922397, 1e-6);
  // test_degenerate_statistics (floor smoothing): all give 0.
  BleuOptions floor;
  floor.smoothing = BleuSmoothing::kFloor;
  floor.smooth_value = 0.0;
  EXPECT_EQ(compute_bleu({0, 0, 0, 0}, {4, 4, 2, 1}, 0, 1, floor).score, 0.0);
  EXPECT_EQ(compute_bleu({0, 0, 0, 0}, {10, 11, 12, 0}, 14, 10, floor).score, 0.0);
  EXPECT_EQ(compute_bleu({0, 0, 0, 0}, {0, 0, 0, 0}, 0, 0, floor).score, 0.0);
  EXPECT_NEAR(compute_bleu({6, 5, 4, 0}, {6, 5, 4, 3}, 6, 6, floor).score, 0.0, 1e-12);
  floor.smooth_value = 0.1;
  EXPECT_EQ(compute_bleu({0, 0, 0, 0}, {0, 0, 0, 0}, 0, 0, floor).score, 0.0);
  floor.smooth_value = 0.01;
  EXPECT_EQ(compute_bleu({0, 0, 0, 0}, {0, 0, 0, 0}, 1, 5, floor).score, 0.0);
}

TEST(Bleu, SacrebleuSentenceGoldens) {
  // test_sentence_bleu.py (issue #98): Romanian with diacritics, effective order on, 13a.
  const std::string ref = "produc\xC5\xA3ia de zah\xC4\x83r brut se exprim\xC4\x83 \xC3\xAEn zah\xC4\x83r alb;";
  const std::string sys = "Produc\xC8\x9Bia de zah\xC4\x83r prim\xC4\x83 va fi exprimat\xC4\x83 \xC3\xAEn ceea ce "
                          "prive\xC8\x99te zah\xC4\x83rul alb;";
  struct Case {
    BleuSmoothing smoothing;
    std::optional<double> value;
    BleuTokenizer tok;
    double expected;
  };
  const Case cases[] = {
      {BleuSmoothing::kExp, std::nullopt, BleuTokenizer::k13a, 8.493},
      {BleuSmoothing::kNone, std::nullopt, BleuTokenizer::k13a, 0.0},
      {BleuSmoothing::kFloor, std::nullopt, BleuTokenizer::k13a, 4.51688},
      {BleuSmoothing::kFloor, 0.1, BleuTokenizer::k13a, 4.51688},
      {BleuSmoothing::kFloor, 0.5, BleuTokenizer::k13a, 10.10},
      {BleuSmoothing::kAddK, std::nullopt, BleuTokenizer::k13a, 14.882},
      {BleuSmoothing::kAddK, 1.0, BleuTokenizer::k13a, 14.882},
      {BleuSmoothing::kAddK, 2.0, BleuTokenizer::k13a, 21.389},
      {BleuSmoothing::kExp, std::nullopt, BleuTokenizer::kNone, 7.347},
  };
  for (const auto& c : cases) {
    BleuOptions o;
    o.smoothing = c.smoothing;
    o.smooth_value = c.value;
    o.tokenizer = c.tok;
    const auto s = sentence_bleu(sys, {ref}, o);
    ASSERT_TRUE(s.ok());
    EXPECT_NEAR(s->score, c.expected, 1e-3) << static_cast<int>(c.smoothing);
  }
  // Issue #141: no match at all is 0 with every smoothing.
  for (auto m : {BleuSmoothing::kExp, BleuSmoothing::kNone, BleuSmoothing::kFloor, BleuSmoothing::kAddK}) {
    BleuOptions o;
    o.smoothing = m;
    EXPECT_EQ(sentence_bleu("this is a cat", {"okay thanks"}, o)->score, 0.0);
  }
}

TEST(Bleu, MultipleReferencesClipAndClosestLength) {
  // hyp "the the the" ; refs "the cat" (the x1) and "the the dog" (the x2): clip at max = 2 -> 2/3.
  // Lengths 2 and 3 vs hyp 3: closest is 3 -> BP 1.
  const auto s = corpus_bleu({"the the the"}, {{"the cat", "the the dog"}});
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->counts[0], 2.0);
  EXPECT_EQ(s->ref_len, 3);
  // Equal distance (hyp 3 tokens, refs 2 and 4): the shorter wins.
  EXPECT_EQ(corpus_bleu({"a b c"}, {{"a b", "a b c d"}})->ref_len, 2);
}

TEST(Bleu, RejectsBadArguments) {
  EXPECT_EQ(corpus_bleu({"a"}, {}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(corpus_bleu({"a"}, {{"", ""}}).status().code(), StatusCode::kInvalidArgument);
  BleuOptions o;
  o.max_ngram_order = 0;
  EXPECT_FALSE(corpus_bleu({"a"}, {{"a"}}, o).ok());
}

}  // namespace
}  // namespace effitune::probes
