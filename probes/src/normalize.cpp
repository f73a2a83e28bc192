// SQuAD normalize_answer, HELM quasi-exact match and key-point recall.
#include <string>

#include "effitune/probes/text_metrics.h"
#include "utf8.h"

namespace effitune::probes {
namespace {

bool is_ascii_punct(char32_t c) {
  return (c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) || (c >= 0x5B && c <= 0x60) ||
         (c >= 0x7B && c <= 0x7E);
}

// Python's \w (str.isalnum() or '_') for the characters an answer realistically holds: ASCII exactly;
// beyond ASCII, everything but whitespace and the common punctuation and symbol blocks.
bool is_word_char(char32_t c) {
  if (c < 0x80) return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
  if (detail::is_space(c)) return false;
  if (c <= 0xBF) {
    return c == 0xAA || c == 0xB2 || c == 0xB3 || c == 0xB5 || c == 0xB9 || c == 0xBA ||
           (c >= 0xBC && c <= 0xBE);
  }
  if (c == 0xD7 || c == 0xF7) return false;
  if ((c >= 0x2000 && c <= 0x206F) || (c >= 0x20A0 && c <= 0x20CF) || (c >= 0x2190 && c <= 0x23FF) ||
      (c >= 0x2500 && c <= 0x27BF) || (c >= 0x2E00 && c <= 0x2E7F) || (c >= 0x3000 && c <= 0x3004) ||
      (c >= 0x3008 && c <= 0x3020) || (c >= 0xFF01 && c <= 0xFF0F) || (c >= 0xFF1A && c <= 0xFF20) ||
      (c >= 0x1F300 && c <= 0x1FAFF)) {
    return false;
  }
  return true;
}

bool is_article(std::u32string_view w) { return w == U"a" || w == U"an" || w == U"the"; }

}  // namespace

std::string normalize_answer(std::string_view text) {
  // Steps in SQuAD's order: lower -> remove_punc -> remove_articles -> white_space_fix.
  std::u32string s;
  for (char32_t c : detail::to_lower(detail::decode_utf8(text)))
    if (!is_ascii_punct(c)) s.push_back(c);

  std::u32string no_articles;
  no_articles.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    if (!is_word_char(s[i])) {
      no_articles.push_back(s[i++]);
      continue;
    }
    size_t j = i;
    while (j < s.size() && is_word_char(s[j])) ++j;
    const std::u32string_view word(s.data() + i, j - i);
    if (is_article(word)) {
      no_articles.push_back(U' ');
    } else {
      no_articles.append(word);
    }
    i = j;
  }

  std::string out;
  bool pending_space = false;
  for (char32_t c : no_articles) {
    if (detail::is_space(c)) {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) out.push_back(' ');
    pending_space = false;
    detail::append_utf8(out, c);
  }
  return out;
}

bool exact_match(std::string_view prediction, std::string_view reference) {
  if (prediction.empty()) return false;
  return normalize_answer(prediction) == normalize_answer(reference);
}

bool exact_match_any(std::string_view prediction, const std::vector<std::string>& references) {
  for (const auto& r : references)
    if (exact_match(prediction, r)) return true;
  return false;
}

double key_point_recall(std::string_view answer, const std::vector<std::string>& key_points) {
  if (key_points.empty()) return 1.0;
  // Padding with spaces turns a substring search into a whole-word search.
  const auto padded = [](std::string_view body) {
    std::string out(1, ' ');
    out.append(body);
    out.push_back(' ');
    return out;
  };
  const std::string padded_answer = padded(normalize_answer(answer));
  size_t present = 0;
  for (const auto& kp : key_points) {
    const std::string norm = normalize_answer(kp);
    if (norm.empty() || padded_answer.find(padded(norm)) != std::string::npos) ++present;
  }
  return static_cast<double>(present) / static_cast<double>(key_points.size());
}

}  // namespace effitune::probes
