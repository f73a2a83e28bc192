// chrF goldens: hand-worked character n-gram arithmetic plus the expected values published in
// sacreBLEU's test/test_chrf.py and the Hugging Face chrF metric card (which wraps sacreBLEU).
#include <gtest/gtest.h>

#include "effitune/probes/text_metrics.h"

namespace effitune::probes {
namespace {

double chrf(const std::vector<std::string>& hyps, const std::vector<std::string>& refs, const ChrfOptions& o) {
  std::vector<std::vector<std::string>> per_segment;
  for (const auto& r : refs) per_segment.push_back({r});
  const auto s = corpus_chrf(hyps, per_segment, o);
  EXPECT_TRUE(s.ok()) << s.status().to_string();
  return s.ok() ? s->score : -1.0;
}

TEST(Chrf, HandWorkedDefault) {
  // hyp "ab", ref "abc", beta 2, char order 6, sacreBLEU effective-order averaging:
  //   order 1: hyp {a,b}=2, ref {a,b,c}=3, match 2 -> P 1, R 2/3
  //   order 2: hyp {ab}=1,  ref {ab,bc}=2, match 1 -> P 1, R 1/2
  //   order 3: hyp none (ref {abc}); orders 4-6: neither side -> not effective
  //   avgP = 1, avgR = (2/3 + 1/2) / 2 = 7/12
  //   F2 = (1 + 4) * 1 * 7/12 / (4 * 1 + 7/12) = (35/12) / (55/12) = 7/11 -> 63.6363...
  const auto s = sentence_chrf("ab", {"abc"});
  ASSERT_TRUE(s.ok());
  EXPECT_NEAR(s->score, 100.0 * 7.0 / 11.0, 1e-10);
  EXPECT_EQ(s->stats[0], 2);
  EXPECT_EQ(s->stats[1], 3);
  EXPECT_EQ(s->stats[2], 2);
  // Whitespace is removed before n-grams: "a b" scores like "ab".
  EXPECT_NEAR(sentence_chrf("a b", {"ab c"})->score, 100.0 * 7.0 / 11.0, 1e-10);
}

TEST(Chrf, HandWorkedEpsSmoothing) {
  // Same pair with chrF++.py-style smoothing: per-order F2, then the plain mean over 6 orders.
  //   order 1: 5 * 1 * 2/3 / (4 + 2/3) = 10/14;  order 2: 5 * 1 * 1/2 / (4 + 1/2) = 5/9
  //   order 3: P = eps, R = 0 -> 0;  orders 4-6: P = R = eps -> eps (1e-16, negligible)
  //   score = 100 * (5/7 + 5/9) / 6 = 100 * 80/378 = 21.1640...
  ChrfOptions o;
  o.eps_smoothing = true;
  EXPECT_NEAR(sentence_chrf("ab", {"abc"}, o)->score, 100.0 * 80.0 / 378.0, 1e-10);
}

TEST(Chrf, SacrebleuEpsSmoothingGoldens) {
  // test_chrf.py test_chrf: char_order 6, word_order 0, beta 3, eps_smoothing.
  ChrfOptions o;
  o.beta = 3;
  o.eps_smoothing = true;
  EXPECT_NEAR(chrf({"abcdefg"}, {"hijklmnop"}, o), 0.0, 1e-4);
  EXPECT_NEAR(chrf({"a"}, {"b"}, o), 0.0, 1e-4);
  EXPECT_NEAR(chrf({""}, {"b"}, o), 0.0, 1e-4);
  EXPECT_NEAR(chrf({""}, {"ref"}, o), 0.0, 1e-4);
  EXPECT_NEAR(chrf({""}, {"reference"}, o), 0.0, 1e-4);
  EXPECT_NEAR(chrf({"aa"}, {"ab"}, o), 8.3333, 1e-4);
  EXPECT_NEAR(chrf({"a", "b"}, {"a", "c"}, o), 8.3333, 1e-4);
  EXPECT_NEAR(chrf({"a"}, {"a"}, o), 16.6667, 1e-4);
  EXPECT_NEAR(chrf({"a b c"}, {"a b c"}, o), 50.0, 1e-4);
  EXPECT_NEAR(chrf({"a b c"}, {"abc"}, o), 50.0, 1e-4);
  EXPECT_NEAR(chrf({" risk assessment must be made of those who are qualified and expertise in the sector - these are the scientists ."},
                   {"risk assessment has to be undertaken by those who are qualified and expert in that area - that is the scientists ."}, o),
              63.361730, 1e-4);
  EXPECT_NEAR(chrf({" Die    Beziehung zwischen  Obama und Netanjahu ist nicht gerade  freundlich. "},
                   {"Das Verh\xC3\xA4ltnis zwischen Obama und Netanyahu ist nicht gerade freundschaftlich."}, o),
              64.1302698, 1e-4);
  EXPECT_NEAR(chrf({"Niemand hat die Absicht, eine Mauer zu errichten"},
                   {"Niemand hat die Absicht, eine Mauer zu errichten"}, o),
              100.0, 1e-4);
}

TEST(Chrf, SacrebleuEffectiveOrderGoldens) {
  // test_chrf.py test_chrf_eff_order: beta 3, eps_smoothing off (sacreBLEU's default averaging).
  ChrfOptions o;
  o.beta = 3;
  EXPECT_NEAR(chrf({"a"}, {"a"}, o), 100.0, 1e-4);
  EXPECT_NEAR(chrf({""}, {"reference"}, o), 0.0, 1e-4);
  EXPECT_NEAR(chrf({"a b c"}, {"a b c"}, o), 100.0, 1e-4);
  EXPECT_NEAR(chrf({"a b c"}, {"abc"}, o), 100.0, 1e-4);
  EXPECT_NEAR(chrf({""}, {"c"}, o), 0.0, 1e-4);
  EXPECT_NEAR(chrf({"a", "b"}, {"a", "c"}, o), 50.0, 1e-4);
  EXPECT_NEAR(chrf({"aa"}, {"ab"}, o), 25.0, 1e-4);
}

TEST(Chrf, SacrebleuKeepWhitespaceGoldens) {
  ChrfOptions o;
  o.beta = 3;
  o.whitespace = true;
  EXPECT_NEAR(chrf({"Die Beziehung zwischen Obama und Netanjahu ist nicht gerade freundlich."},
                   {"Das Verh\xC3\xA4ltnis zwischen Obama und Netanyahu ist nicht gerade freundschaftlich."}, o),
              67.3481606, 1e-4);
  EXPECT_NEAR(chrf({"risk assessment must be made of those who are qualified and expertise in the sector - these are the scientists ."},
                   {"risk assessment has to be undertaken by those who are qualified and expert in that area - that is the scientists ."}, o),
              65.2414427, 1e-4);
}

TEST(Chrf, SacrebleuSentenceLevelGoldens) {
  // test_chrf.py test_chrf_sentence_level: sentence_chrf(..., eps_smoothing=True), beta 2.
  ChrfOptions o;
  o.eps_smoothing = true;
  EXPECT_NEAR(sentence_chrf("Co n\xC3\xA1s nejv\xC3\xAD" "c tr\xC3\xA1p\xC3\xAD, proto\xC5\xBE" "e l\xC3\xA9ka\xC5\x99i si "
                            "vyb\xC3\xADraj\xC3\xAD, kdo bude \xC5\xBE\xC3\xADt a kdo zem\xC5\x99" "e.",
                            {"Nejv\xC3\xAD" "ce smutn\xC3\xAD jsme z toho, \xC5\xBE" "e mus\xC3\xADme rozhodovat o tom, kdo "
                             "bude \xC5\xBE\xC3\xADt a kdo zem\xC5\x99" "e."},
                            o)->score,
              39.14078509, 1e-4);
  EXPECT_NEAR(sentence_chrf("Nebo prost\xC4\x9B nemaj\xC3\xAD vybaven\xC3\xAD, kter\xC3\xA9 by jim pomohlo, uvedli l\xC3\xA9ka\xC5\x99i.",
                            {"A n\xC4\x9Bkdy nem\xC3\xA1me ani pot\xC5\x99" "ebn\xC3\xBD materi\xC3\xA1l, abychom jim pomohli, "
                             "popsali l\xC3\xA9ka\xC5\x99i."},
                            o)->score,
              31.22557079, 1e-4);
}

TEST(Chrf, HuggingFaceMetricCardGoldens) {
  // Default chrF2 (beta 2, char order 6, effective-order averaging).
  ChrfOptions o;
  EXPECT_NEAR(chrf({"The relationship between Obama and Netanyahu is not exactly friendly."},
                   {"The ties between Obama and Netanyahu are not particularly friendly."}, o),
              61.576379378113785, 1e-9);
  EXPECT_NEAR(chrf({"The relationship between cats and dogs is not exactly friendly.",
                    "a good bookshop is just a genteel black hole that knows how to read."},
                   {"The relationship between dogs and cats is not exactly friendly.",
                    "A good bookshop is just a genteel Black Hole that knows how to read."},
                   o),
              84.64214891738334, 1e-9);
}

TEST(Chrf, HandWorkedWordNgrams) {
  // chrF+ with char order 1 and word order 1: hyp "cat sat." ref "cat sat".
  //   chars (whitespace removed): hyp c,a,t,s,a,t,. = 7, ref 6, match 6 -> P 6/7, R 1
  //   words: "sat." splits its final punctuation -> hyp [cat, sat, .] = 3, ref 2, match 2 -> P 2/3, R 1
  //   avgP = (6/7 + 2/3) / 2 = 16/21, avgR = 1; F2 = 5 * 16/21 / (4 * 16/21 + 1) = 80/85 = 16/17
  ChrfOptions o;
  o.char_order = 1;
  o.word_order = 1;
  const auto s = sentence_chrf("cat sat.", {"cat sat"}, o);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->stats, (std::vector<int64_t>{7, 6, 6, 3, 2, 2}));
  EXPECT_NEAR(s->score, 100.0 * 16.0 / 17.0, 1e-10);
}

TEST(Chrf, BestReferenceWinsAndErrors) {
  // The exact reference among several gives 100.
  EXPECT_NEAR(sentence_chrf("hello world", {"goodbye", "hello world"})->score, 100.0, 1e-12);
  EXPECT_FALSE(corpus_chrf({"a"}, {}).ok());
  EXPECT_FALSE(corpus_chrf({"a"}, {{""}}).ok());
  ChrfOptions bad;
  bad.char_order = 0;
  EXPECT_FALSE(sentence_chrf("a", {"a"}, bad).ok());
}

}  // namespace
}  // namespace effitune::probes
