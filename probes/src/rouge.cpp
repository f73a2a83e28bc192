// rouge-score's rougeL: LCS over its default tokens, no stemming.
#include <algorithm>

#include "effitune/probes/text_metrics.h"
#include "utf8.h"

namespace effitune::probes {

std::vector<std::string> rouge_tokenize(std::string_view text) {
  // lower() first (so 'K' KELVIN SIGN and U+0130 contribute ASCII letters, as in Python), then every
  // code point outside [a-z0-9] separates tokens.
  std::vector<std::string> tokens;
  std::string cur;
  for (char32_t c : detail::to_lower(detail::decode_utf8(text))) {
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
      cur.push_back(static_cast<char>(c));
    } else if (!cur.empty()) {
      tokens.push_back(std::move(cur));
      cur.clear();
    }
  }
  if (!cur.empty()) tokens.push_back(std::move(cur));
  return tokens;
}

RougeScore rouge_l(std::string_view reference, std::string_view prediction) {
  const auto ref = rouge_tokenize(reference);
  const auto pred = rouge_tokenize(prediction);
  RougeScore out;
  if (ref.empty() || pred.empty()) return out;
  // Classic LCS table, two rows.
  std::vector<int64_t> prev(pred.size() + 1, 0), cur(pred.size() + 1, 0);
  for (size_t i = 1; i <= ref.size(); ++i) {
    for (size_t j = 1; j <= pred.size(); ++j)
      cur[j] = ref[i - 1] == pred[j - 1] ? prev[j - 1] + 1 : std::max(prev[j], cur[j - 1]);
    std::swap(prev, cur);
  }
  out.lcs = prev[pred.size()];
  out.precision = static_cast<double>(out.lcs) / static_cast<double>(pred.size());
  out.recall = static_cast<double>(out.lcs) / static_cast<double>(ref.size());
  if (out.precision + out.recall > 0) out.f1 = 2 * out.precision * out.recall / (out.precision + out.recall);
  return out;
}

}  // namespace effitune::probes
