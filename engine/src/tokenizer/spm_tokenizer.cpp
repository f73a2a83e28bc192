#include "tokenizer/spm_tokenizer.h"

#include <cstdio>
#include <optional>

#include "tokenizer/symbol_merge.h"
#include "tokenizer/unicode_util.h"

namespace effitune::engine::tokenizer {

namespace {

constexpr std::string_view kSpace = "\xE2\x96\x81";  // U+2581, SentencePiece's visible space

// The byte a "<0xXX>" token stands for, or -1.
int parse_byte_token(const std::string& text) {
  if (text.size() != 6 || text.compare(0, 3, "<0x") != 0 || text[5] != '>') return -1;
  int value = 0;
  for (size_t i = 3; i < 5; ++i) {
    const char c = text[i];
    int d;
    if (c >= '0' && c <= '9') d = c - '0';
    else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
    else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
    else return -1;
    value = value * 16 + d;
  }
  return value;
}

std::string unescape_spaces(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    if (text.compare(i, kSpace.size(), kSpace) == 0) {
      out.push_back(' ');
      i += kSpace.size();
    } else {
      out.push_back(text[i++]);
    }
  }
  return out;
}

}  // namespace

SpmTokenizer::SpmTokenizer(Vocab vocab, bool add_space_prefix)
    : VocabTokenizer(std::move(vocab)), add_space_prefix_(add_space_prefix) {
  strip_prefix_space_ = add_space_prefix;
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof(name), "<0x%02X>", b);
    int32_t id = vocab_.find(name);
    if (id < 0) id = vocab_.find(std::string(1, static_cast<char>(b)));
    byte_tokens_[static_cast<size_t>(b)] = id >= 0 ? id : vocab_.unk;
  }
  words_independent_ = true;
  for (const std::string& text : vocab_.texts) {
    for (size_t pos = text.find(kSpace, 1); pos != std::string::npos; pos = text.find(kSpace, pos + 1)) {
      if (pos < kSpace.size() || text.compare(pos - kSpace.size(), kSpace.size(), kSpace) != 0) {
        words_independent_ = false;
      }
    }
  }
  pieces_.resize(vocab_.texts.size());
  for (size_t id = 0; id < vocab_.texts.size(); ++id) {
    const std::string& text = vocab_.texts[id];
    switch (vocab_.types[id]) {
      case TokenType::kNormal: pieces_[id] = unescape_spaces(text); break;
      case TokenType::kUserDefined: pieces_[id] = text; break;
      case TokenType::kByte: {
        const int b = parse_byte_token(text);
        if (b >= 0) pieces_[id] = std::string(1, static_cast<char>(b));
        break;
      }
      default: break;  // control, unknown, unused: no output text, as llama.cpp without `special`
    }
  }
}

std::vector<int32_t> SpmTokenizer::encode(std::string_view text, bool add_bos) const {
  std::vector<int32_t> out;
  if (wants_bos(add_bos)) out.push_back(vocab_.bos);
  bool prev_was_token = true;  // the start counts as following a token: it gets the prefix space
  std::string escaped;
  for (const Fragment& f : partition(text)) {
    if (f.token >= 0) {
      out.push_back(f.token);
      prev_was_token = true;
      continue;
    }
    escaped.clear();
    escaped.reserve(f.text.size() + 16);
    if (add_space_prefix_ && prev_was_token) escaped.append(kSpace);
    for (char c : f.text) {
      if (c == ' ') escaped.append(kSpace);
      else escaped.push_back(c);
    }
    encode_escaped(escaped, out);
    prev_was_token = false;
  }
  return out;
}

void SpmTokenizer::encode_escaped(std::string_view text, std::vector<int32_t>& out) const {
  if (!words_independent_) {
    merge_segment(text, out);
    return;
  }
  // Cut before each U+2581 that follows another character, where symbols (split by lead byte,
  // as in merge_segment) start: no token spans such a cut.
  size_t seg_start = 0;
  bool prev_is_space = false;
  for (size_t off = 0; off < text.size();) {
    const size_t n = std::min(utf8_seq_len(static_cast<uint8_t>(text[off])), text.size() - off);
    const bool is_space = text.substr(off, n) == kSpace;
    if (is_space && off > seg_start && !prev_is_space) {
      merge_segment(text.substr(seg_start, off - seg_start), out);
      seg_start = off;
    }
    prev_is_space = is_space;
    off += n;
  }
  merge_segment(text.substr(seg_start), out);
}

void SpmTokenizer::merge_segment(std::string_view text, std::vector<int32_t>& out) const {
  merge_symbols(
      text,
      [&](std::string_view left, std::string_view right) -> std::optional<double> {
        // Only pairs whose concatenation is a vocabulary token merge, the best-scored first.
        const int32_t id = vocab_.find(std::string_view(left.data(), left.size() + right.size()));
        if (id < 0) return std::nullopt;
        return -static_cast<double>(vocab_.score(id));
      },
      [&](std::string_view piece) {
        // Every merged piece is a vocabulary token (pairs only merge when they are), so a piece that
        // is not one is a single character the vocabulary lacks: emit its bytes.
        const int32_t id = vocab_.find(piece);
        if (id >= 0) {
          out.push_back(id);
          return;
        }
        for (char c : piece) {
          const int32_t bt = byte_tokens_[static_cast<uint8_t>(c)];
          if (bt >= 0) out.push_back(bt);
        }
      });
}

}  // namespace effitune::engine::tokenizer
