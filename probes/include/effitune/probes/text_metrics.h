// Reference-based text quality metrics, each following a published implementation exactly so that
// numbers are comparable with other tools:
//   - normalize_answer / exact_match: SQuAD normalize_answer, as used by HELM's quasi_exact_match;
//   - rouge_l: rouge-score's rougeL (default tokenizer, no stemming);
//   - key_point_recall: fraction of reference key points present in the answer (defined below);
//   - corpus_bleu / sentence_bleu: sacreBLEU 2.x BLEU (13a tokenizer, 'exp' smoothing by default);
//   - corpus_chrf / sentence_chrf: sacreBLEU 2.x chrF (char order 6, word order 0, beta 2).
// Inputs are UTF-8; ill-formed bytes count as U+FFFD. All functions are pure and thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "effitune/common/status.h"

namespace effitune::probes {

// SQuAD normalize_answer: lowercase, drop ASCII punctuation (Python string.punctuation), replace the
// whole words a/an/the by a space, collapse whitespace runs to one space and trim. Lowercasing and
// word boundaries follow Python for Latin, Greek and Cyrillic text; other scripts are kept as they are.
std::string normalize_answer(std::string_view text);

// HELM quasi_exact_match: 1 if the normalized prediction equals the normalized reference, else 0.
// An empty prediction scores 0 even against an empty reference, as in HELM.
bool exact_match(std::string_view prediction, std::string_view reference);
// Best over several references (HELM takes the max over references). False if `references` is empty.
bool exact_match_any(std::string_view prediction, const std::vector<std::string>& references);

// rouge-score's default tokenizer: lowercase, every character outside [a-z0-9] becomes a space, split.
// Non-ASCII letters therefore vanish, exactly as in rouge-score.
std::vector<std::string> rouge_tokenize(std::string_view text);

struct RougeScore {
  double precision = 0.0;  // LCS / prediction tokens
  double recall = 0.0;     // LCS / reference tokens
  double f1 = 0.0;         // harmonic mean; 0 when both are 0
  int64_t lcs = 0;         // length of the longest common token subsequence
};
// rougeL of `prediction` against `reference` (rouge-score's score(target=reference, prediction)).
// Either side tokenizing to nothing gives all zeros. O(|ref| * |pred|) time, O(|pred|) memory.
RougeScore rouge_l(std::string_view reference, std::string_view prediction);

// Fraction of `key_points` present in `answer`. A key point is present when its normalize_answer()
// form occurs in the normalized answer as a run of whole words (" kp " inside " answer "), so "12"
// does not match inside "123". A key point that normalizes to "" is vacuously present. With no key
// points the recall is 1 (nothing was required).
double key_point_recall(std::string_view answer, const std::vector<std::string>& key_points);

// ---- BLEU (sacreBLEU) --------------------------------------------------------------------------

enum class BleuTokenizer : uint8_t { k13a, kNone };
enum class BleuSmoothing : uint8_t { kNone, kFloor, kAddK, kExp };

struct BleuOptions {
  BleuTokenizer tokenizer = BleuTokenizer::k13a;
  BleuSmoothing smoothing = BleuSmoothing::kExp;
  // For kFloor (default 0.1) and kAddK (default 1); ignored otherwise.
  std::optional<double> smooth_value;
  // sacreBLEU's effective_order: average only over orders up to the highest one with any hypothesis
  // n-grams. Off for corpus BLEU (sacreBLEU's default); sentence_bleu turns it on, as sacreBLEU does.
  bool effective_order = false;
  bool lowercase = false;
  int max_ngram_order = 4;
};

struct BleuScore {
  double score = 0.0;               // 0..100
  std::vector<double> counts;       // matched n-grams per order (after add-k smoothing)
  std::vector<double> totals;       // hypothesis n-grams per order (after add-k smoothing)
  std::vector<double> precisions;   // percent per order, smoothed
  double bp = 0.0;                  // brevity penalty
  int64_t sys_len = 0;              // hypothesis tokens
  int64_t ref_len = 0;              // closest reference tokens, summed over segments
};

// The 13a tokenizer (mteval-v13a.pl, sacreBLEU's default): returns the tokens joined by one space.
std::string tokenize_13a(std::string_view line);

// BLEU from sufficient statistics (sacreBLEU BLEU.compute_bleu). `correct` and `total` hold one entry
// per order (max_ngram_order entries).
BleuScore compute_bleu(std::vector<double> correct, std::vector<double> total, int64_t sys_len,
                       int64_t ref_len, const BleuOptions& options);

// Corpus BLEU. `references[i]` lists the references of hypothesis i (a variable number is allowed;
// empty strings are dropped as sacreBLEU drops them). Returns kInvalidArgument if the sizes differ,
// a segment has no non-empty reference, or max_ngram_order < 1.
Result<BleuScore> corpus_bleu(const std::vector<std::string>& hypotheses,
                              const std::vector<std::vector<std::string>>& references,
                              const BleuOptions& options = {});
// One segment, with effective_order forced on (sacreBLEU's sentence_bleu).
Result<BleuScore> sentence_bleu(const std::string& hypothesis, const std::vector<std::string>& references,
                                BleuOptions options = {});

// ---- chrF (sacreBLEU) --------------------------------------------------------------------------

struct ChrfOptions {
  int char_order = 6;
  int word_order = 0;         // 2 gives chrF++
  double beta = 2.0;
  bool lowercase = false;
  bool whitespace = false;    // keep whitespace inside character n-grams
  bool eps_smoothing = false; // chrF++.py-style averaging instead of sacreBLEU's effective order
};

struct ChrfScore {
  double score = 0.0;              // 0..100
  std::vector<int64_t> stats;      // [hyp, ref, match] per order, char orders first, summed
};

// Corpus chrF: statistics of the best-scoring reference per segment are summed, then scored.
// Same argument rules and errors as corpus_bleu.
Result<ChrfScore> corpus_chrf(const std::vector<std::string>& hypotheses,
                              const std::vector<std::vector<std::string>>& references,
                              const ChrfOptions& options = {});
Result<ChrfScore> sentence_chrf(const std::string& hypothesis, const std::vector<std::string>& references,
                                const ChrfOptions& options = {});

}  // namespace effitune::probes
