// sacreBLEU 2.x BLEU: segment statistics (clipped n-gram matches, closest reference length) summed
// over the corpus, then BLEU.compute_bleu on the sums.
#include <cmath>
#include <string>
#include <unordered_map>

#include "effitune/probes/text_metrics.h"
#include "utf8.h"

namespace effitune::probes {
namespace {

// utils.my_log: log(0) is a large negative number rather than -inf, so exp() of the mean gives 0.
double my_log(double x) { return x == 0.0 ? -9999999999.0 : std::log(x); }

using NgramCounts = std::vector<std::unordered_map<std::string, int64_t>>;  // one map per order

// Tokens never contain whitespace, so joining with ' ' is an unambiguous n-gram key.
NgramCounts count_ngrams(const std::vector<std::string>& tokens, int max_order) {
  NgramCounts counts(static_cast<size_t>(max_order));
  for (int n = 1; n <= max_order; ++n) {
    for (size_t i = 0; i + static_cast<size_t>(n) <= tokens.size(); ++i) {
      std::string key = tokens[i];
      for (int k = 1; k < n; ++k) key.append(" ").append(tokens[i + static_cast<size_t>(k)]);
      ++counts[static_cast<size_t>(n - 1)][key];
    }
  }
  return counts;
}

std::vector<std::string> preprocess(const std::string& sent, const BleuOptions& o) {
  std::string s = o.lowercase ? detail::to_lower_utf8(sent) : sent;
  s = std::string(detail::rstrip(s));
  if (o.tokenizer == BleuTokenizer::k13a) s = tokenize_13a(s);
  return detail::split_whitespace(s);
}

int64_t closest_ref_len(int64_t hyp_len, const std::vector<int64_t>& ref_lens) {
  int64_t best_diff = -1, best_len = -1;
  for (int64_t len : ref_lens) {
    const int64_t diff = std::llabs(hyp_len - len);
    if (best_diff == -1 || diff < best_diff) {
      best_diff = diff;
      best_len = len;
    } else if (diff == best_diff && len < best_len) {
      best_len = len;
    }
  }
  return best_len;
}

}  // namespace

BleuScore compute_bleu(std::vector<double> correct, std::vector<double> total, int64_t sys_len,
                       int64_t ref_len, const BleuOptions& options) {
  const size_t orders = static_cast<size_t>(options.max_ngram_order);
  correct.resize(orders, 0.0);
  total.resize(orders, 0.0);
  double smooth_value = 0.0;
  if (options.smoothing == BleuSmoothing::kFloor) smooth_value = options.smooth_value.value_or(0.1);
  if (options.smoothing == BleuSmoothing::kAddK) smooth_value = options.smooth_value.value_or(1.0);

  BleuScore out;
  out.sys_len = sys_len;
  out.ref_len = ref_len;
  if (sys_len < ref_len) {
    out.bp = sys_len > 0 ? std::exp(1.0 - static_cast<double>(ref_len) / static_cast<double>(sys_len)) : 0.0;
  } else {
    out.bp = 1.0;
  }
  out.precisions.assign(orders, 0.0);

  bool any_correct = false;
  for (double c : correct) any_correct = any_correct || c != 0.0;
  if (!any_correct) {  // sacreBLEU #141: no match at all is 0 whatever the smoothing
    out.counts = std::move(correct);
    out.totals = std::move(total);
    return out;
  }

  double smooth_mteval = 1.0;
  size_t eff_order = orders;
  for (size_t n = 1; n <= orders; ++n) {
    if (options.smoothing == BleuSmoothing::kAddK && n > 1) {
      correct[n - 1] += smooth_value;
      total[n - 1] += smooth_value;
    }
    if (total[n - 1] == 0.0) break;
    if (options.effective_order) eff_order = n;
    if (correct[n - 1] == 0.0) {
      if (options.smoothing == BleuSmoothing::kExp) {
        smooth_mteval *= 2;
        out.precisions[n - 1] = 100.0 / (smooth_mteval * total[n - 1]);
      } else if (options.smoothing == BleuSmoothing::kFloor) {
        out.precisions[n - 1] = 100.0 * smooth_value / total[n - 1];
      }
    } else {
      out.precisions[n - 1] = 100.0 * correct[n - 1] / total[n - 1];
    }
  }
  double log_sum = 0.0;
  for (size_t n = 0; n < eff_order; ++n) log_sum += my_log(out.precisions[n]);
  out.score = out.bp * std::exp(log_sum / static_cast<double>(eff_order));
  out.counts = std::move(correct);
  out.totals = std::move(total);
  return out;
}

Result<BleuScore> corpus_bleu(const std::vector<std::string>& hypotheses,
                              const std::vector<std::vector<std::string>>& references,
                              const BleuOptions& options) {
  if (options.max_ngram_order < 1) return invalid_argument("BLEU: max_ngram_order must be >= 1");
  if (hypotheses.size() != references.size()) {
    return invalid_argument("BLEU: " + std::to_string(hypotheses.size()) + " hypotheses but " +
                            std::to_string(references.size()) + " reference lists; pass one list per hypothesis");
  }
  const size_t orders = static_cast<size_t>(options.max_ngram_order);
  std::vector<double> correct(orders, 0.0), total(orders, 0.0);
  int64_t sys_len = 0, ref_len = 0;
  for (size_t seg = 0; seg < hypotheses.size(); ++seg) {
    NgramCounts ref_max(orders);  // per n-gram, the max count over references (clipping limit)
    std::vector<int64_t> ref_lens;
    for (const auto& ref : references[seg]) {
      if (ref.empty()) continue;
      const auto toks = preprocess(ref, options);
      ref_lens.push_back(static_cast<int64_t>(toks.size()));
      const auto counts = count_ngrams(toks, options.max_ngram_order);
      for (size_t n = 0; n < orders; ++n)
        for (const auto& [ng, c] : counts[n]) ref_max[n][ng] = std::max(ref_max[n][ng], c);
    }
    if (ref_lens.empty()) {
      return invalid_argument("BLEU: segment " + std::to_string(seg) + " has no non-empty reference");
    }
    const auto hyp = preprocess(hypotheses[seg], options);
    const auto hyp_counts = count_ngrams(hyp, options.max_ngram_order);
    const int64_t hyp_len = static_cast<int64_t>(hyp.size());
    sys_len += hyp_len;
    ref_len += closest_ref_len(hyp_len, ref_lens);
    for (size_t n = 0; n < orders; ++n) {
      for (const auto& [ng, c] : hyp_counts[n]) {
        total[n] += static_cast<double>(c);
        const auto it = ref_max[n].find(ng);
        if (it != ref_max[n].end()) correct[n] += static_cast<double>(std::min(c, it->second));
      }
    }
  }
  return compute_bleu(std::move(correct), std::move(total), sys_len, ref_len, options);
}

Result<BleuScore> sentence_bleu(const std::string& hypothesis, const std::vector<std::string>& references,
                                BleuOptions options) {
  options.effective_order = true;
  return corpus_bleu({hypothesis}, {references}, options);
}

}  // namespace effitune::probes
