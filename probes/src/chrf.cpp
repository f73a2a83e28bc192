// sacreBLEU 2.x chrF / chrF++: character (and optional word) n-gram F-beta, statistics of the best
// reference per segment summed over the corpus.
#include <string>
#include <unordered_map>

#include "effitune/probes/text_metrics.h"
#include "utf8.h"

namespace effitune::probes {
namespace {

using Counter = std::unordered_map<std::u32string, int64_t>;

std::vector<Counter> char_ngrams(const std::u32string& text, int max_order, bool whitespace) {
  std::u32string line;
  if (whitespace) {
    line = text;
  } else {
    for (char32_t c : text)
      if (!detail::is_space(c)) line.push_back(c);
  }
  std::vector<Counter> out(static_cast<size_t>(max_order));
  for (size_t n = 1; n <= out.size(); ++n)
    for (size_t i = 0; i + n <= line.size(); ++i) ++out[n - 1][line.substr(i, n)];
  return out;
}

bool is_punct(char32_t c) {
  return (c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) || (c >= 0x5B && c <= 0x60) ||
         (c >= 0x7B && c <= 0x7E);
}

// CHRF._remove_punctuation: split off one punctuation character at the end, else at the start.
std::vector<std::u32string> words_for_chrf(const std::string& sent) {
  std::vector<std::u32string> out;
  for (const auto& w8 : detail::split_whitespace(sent)) {
    std::u32string w = detail::decode_utf8(w8);
    if (w.size() == 1) {
      out.push_back(w);
    } else if (is_punct(w.back())) {
      out.push_back(w.substr(0, w.size() - 1));
      out.push_back(w.substr(w.size() - 1));
    } else if (is_punct(w.front())) {
      out.push_back(w.substr(0, 1));
      out.push_back(w.substr(1));
    } else {
      out.push_back(w);
    }
  }
  return out;
}

// Word n-gram keys join words with ' ', which no word contains.
Counter word_ngrams(const std::vector<std::u32string>& words, size_t n) {
  Counter out;
  for (size_t i = 0; i + n <= words.size(); ++i) {
    std::u32string key = words[i];
    for (size_t k = 1; k < n; ++k) key.append(U" ").append(words[i + k]);
    ++out[key];
  }
  return out;
}

std::vector<Counter> all_ngrams(const std::string& sent, const ChrfOptions& o) {
  const std::string s = o.lowercase ? detail::to_lower_utf8(sent) : sent;
  auto out = char_ngrams(detail::decode_utf8(s), o.char_order, o.whitespace);
  if (o.word_order > 0) {
    const auto words = words_for_chrf(s);
    for (int n = 1; n <= o.word_order; ++n) out.push_back(word_ngrams(words, static_cast<size_t>(n)));
  }
  return out;
}

double f_score(const std::vector<int64_t>& stats, const ChrfOptions& o) {
  constexpr double kEps = 1e-16;
  const double factor = o.beta * o.beta;
  const size_t orders = stats.size() / 3;
  double score = 0.0, avg_prec = 0.0, avg_rec = 0.0;
  int effective_order = 0;
  for (size_t i = 0; i < orders; ++i) {
    const auto n_hyp = static_cast<double>(stats[3 * i]);
    const auto n_ref = static_cast<double>(stats[3 * i + 1]);
    const auto n_match = static_cast<double>(stats[3 * i + 2]);
    const double prec = n_hyp > 0 ? n_match / n_hyp : kEps;
    const double rec = n_ref > 0 ? n_match / n_ref : kEps;
    const double denom = factor * prec + rec;
    score += denom > 0 ? (1 + factor) * prec * rec / denom : kEps;
    if (n_hyp > 0 && n_ref > 0) {
      avg_prec += prec;
      avg_rec += rec;
      ++effective_order;
    }
  }
  if (o.eps_smoothing) return 100.0 * score / static_cast<double>(orders);
  if (effective_order == 0) return 0.0;
  avg_prec /= effective_order;
  avg_rec /= effective_order;
  if (avg_prec + avg_rec == 0.0) return 0.0;
  return 100.0 * (1 + factor) * avg_prec * avg_rec / (factor * avg_prec + avg_rec);
}

std::vector<int64_t> match_stats(const std::vector<Counter>& hyp, const std::vector<Counter>& ref) {
  std::vector<int64_t> stats;
  for (size_t n = 0; n < hyp.size(); ++n) {
    int64_t hyp_count = 0, match = 0, ref_count = 0;
    for (const auto& [ng, c] : hyp[n]) {
      hyp_count += c;
      const auto it = ref[n].find(ng);
      if (it != ref[n].end()) match += std::min(c, it->second);
    }
    for (const auto& [ng, c] : ref[n]) ref_count += c;
    // sacreBLEU does not count hypothesis n-grams of an order the reference has none of.
    stats.push_back(ref[n].empty() ? 0 : hyp_count);
    stats.push_back(ref_count);
    stats.push_back(match);
  }
  return stats;
}

}  // namespace

Result<ChrfScore> corpus_chrf(const std::vector<std::string>& hypotheses,
                              const std::vector<std::vector<std::string>>& references,
                              const ChrfOptions& options) {
  if (options.char_order < 0 || options.word_order < 0 || options.char_order + options.word_order < 1) {
    return invalid_argument("chrF: char_order and word_order must be >= 0 with a positive sum");
  }
  if (!(options.beta > 0)) return invalid_argument("chrF: beta must be > 0");
  if (hypotheses.size() != references.size()) {
    return invalid_argument("chrF: " + std::to_string(hypotheses.size()) + " hypotheses but " +
                            std::to_string(references.size()) + " reference lists; pass one list per hypothesis");
  }
  const size_t orders = static_cast<size_t>(options.char_order + options.word_order);
  ChrfScore out;
  out.stats.assign(3 * orders, 0);
  for (size_t seg = 0; seg < hypotheses.size(); ++seg) {
    const auto hyp = all_ngrams(hypotheses[seg], options);
    std::vector<int64_t> best;
    double best_f = -1.0;
    for (const auto& ref : references[seg]) {
      if (ref.empty()) continue;
      auto stats = match_stats(hyp, all_ngrams(ref, options));
      const double f = f_score(stats, options);
      if (f > best_f) {
        best_f = f;
        best = std::move(stats);
      }
    }
    if (best.empty()) return invalid_argument("chrF: segment " + std::to_string(seg) + " has no non-empty reference");
    for (size_t i = 0; i < best.size(); ++i) out.stats[i] += best[i];
  }
  out.score = f_score(out.stats, options);
  return out;
}

Result<ChrfScore> sentence_chrf(const std::string& hypothesis, const std::vector<std::string>& references,
                                const ChrfOptions& options) {
  return corpus_chrf({hypothesis}, {references}, options);
}

}  // namespace effitune::probes
