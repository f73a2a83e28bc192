// sacreBLEU's Tokenizer13a (mteval-v13a.pl). Each regex pass of TokenizerRegexp is replayed as a
// left-to-right scan with Python re.sub's non-overlapping semantics. Working on bytes gives the same
// output as Python's code points: every pattern tests one ASCII byte against ASCII classes, and the
// bytes of a multi-byte character are all "not a digit", as the character is.
#include <string>

#include "effitune/probes/text_metrics.h"
#include "utf8.h"

namespace effitune::probes {
namespace {

void replace_all(std::string& s, std::string_view from, std::string_view to) {
  std::string out;
  size_t pos = 0;
  for (size_t hit; (hit = s.find(from, pos)) != std::string::npos; pos = hit + from.size()) {
    out.append(s, pos, hit - pos);
    out.append(to);
  }
  out.append(s, pos, std::string::npos);
  s = std::move(out);
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_period_comma(char c) { return c == '.' || c == ','; }

// r'([\{-\~\[-\` -\&\(-\+\:-\@\/])': ASCII punctuation except ' , - . and digits/letters.
bool is_split_symbol(char c) {
  return (c >= '{' && c <= '~') || (c >= '[' && c <= '`') || (c >= ' ' && c <= '&') ||
         (c >= '(' && c <= '+') || (c >= ':' && c <= '@') || c == '/';
}

}  // namespace

std::string tokenize_13a(std::string_view line_in) {
  std::string line(line_in);
  replace_all(line, "<skipped>", "");
  replace_all(line, "-\n", "");
  replace_all(line, "\n", " ");
  replace_all(line, "&quot;", "\"");
  replace_all(line, "&amp;", "&");
  replace_all(line, "&lt;", "<");
  replace_all(line, "&gt;", ">");
  line = " " + line + " ";

  std::string a;
  for (char c : line) {
    if (is_split_symbol(c)) {
      a.push_back(' ');
      a.push_back(c);
      a.push_back(' ');
    } else {
      a.push_back(c);
    }
  }
  // ([^0-9])([\.,]) -> '\1 \2 '
  std::string b;
  for (size_t i = 0; i < a.size();) {
    if (i + 1 < a.size() && !is_digit(a[i]) && is_period_comma(a[i + 1])) {
      b.push_back(a[i]);
      b.push_back(' ');
      b.push_back(a[i + 1]);
      b.push_back(' ');
      i += 2;
    } else {
      b.push_back(a[i++]);
    }
  }
  // ([\.,])([^0-9]) -> ' \1 \2'
  std::string c;
  for (size_t i = 0; i < b.size();) {
    if (i + 1 < b.size() && is_period_comma(b[i]) && !is_digit(b[i + 1])) {
      c.push_back(' ');
      c.push_back(b[i]);
      c.push_back(' ');
      c.push_back(b[i + 1]);
      i += 2;
    } else {
      c.push_back(b[i++]);
    }
  }
  // ([0-9])(-) -> '\1 \2 '
  std::string d;
  for (size_t i = 0; i < c.size();) {
    if (i + 1 < c.size() && is_digit(c[i]) && c[i + 1] == '-') {
      d.push_back(c[i]);
      d.append(" - ");
      i += 2;
    } else {
      d.push_back(c[i++]);
    }
  }
  std::string out;
  for (const auto& tok : detail::split_whitespace(d)) {
    if (!out.empty()) out.push_back(' ');
    out.append(tok);
  }
  return out;
}

}  // namespace effitune::probes
