#include "tokenizer/bpe_tokenizer.h"

#include <algorithm>
#include <optional>

#include "tokenizer/symbol_merge.h"
#include "tokenizer/unicode_util.h"

namespace effitune::engine::tokenizer {

namespace {

// Decodes byte-level text back to bytes. A character outside GPT-2's alphabet is kept as its UTF-8
// (llama.cpp writes "[UNK_BYTE_...]" instead); it only occurs in hand-made vocabularies.
std::string byte_level_decode(const std::string& text) {
  const ByteLevelMap& map = ByteLevelMap::instance();
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    const uint8_t c = static_cast<uint8_t>(text[i]);
    size_t n = std::min(utf8_seq_len(c), text.size() - i);
    uint32_t cp = c;
    if (n == 2 && (static_cast<uint8_t>(text[i + 1]) & 0xC0) == 0x80) {
      cp = ((c & 0x1Fu) << 6) | (static_cast<uint8_t>(text[i + 1]) & 0x3Fu);
    } else if (n == 2) {
      n = 1;
    }
    const int b = (n <= 2) ? map.decode(cp) : -1;
    if (b >= 0) out.push_back(static_cast<char>(b));
    else out.append(text, i, n);
    i += n;
  }
  return out;
}

}  // namespace

BpeTokenizer::BpeTokenizer(Vocab vocab, const std::vector<std::string>& merges, std::unique_ptr<PreTokenizer> pre,
                           bool ignore_merges)
    : VocabTokenizer(std::move(vocab)), pre_(std::move(pre)), ignore_merges_(ignore_merges) {
  ranks_.reserve(merges.size());
  for (size_t i = 0; i < merges.size(); ++i) {
    // llama.cpp splits at the first space after the first character; lines without one never match.
    if (merges[i].find(' ', 1) == std::string::npos) continue;
    ranks_.try_emplace(merges[i], static_cast<int32_t>(i));
  }
  pieces_.resize(vocab_.texts.size());
  for (size_t id = 0; id < vocab_.texts.size(); ++id) {
    switch (vocab_.types[id]) {
      case TokenType::kNormal: pieces_[id] = byte_level_decode(vocab_.texts[id]); break;
      case TokenType::kUserDefined: pieces_[id] = vocab_.texts[id]; break;
      default: break;  // control, unknown, unused, byte: no output text, as in llama.cpp
    }
  }
}

int BpeTokenizer::rank(std::string_view left, std::string_view right, std::string& key) const {
  // Byte-level symbols never contain ' ', so "left right" names the pair unambiguously.
  key.assign(left);
  key.push_back(' ');
  key.append(right);
  auto it = ranks_.find(key);
  return it == ranks_.end() ? -1 : it->second;
}

std::vector<int32_t> BpeTokenizer::encode(std::string_view text, bool add_bos) const {
  std::vector<int32_t> out;
  if (wants_bos(add_bos)) out.push_back(vocab_.bos);
  std::string mapped;
  std::string key;
  for (const Fragment& f : partition(text)) {
    if (f.token >= 0) {
      out.push_back(f.token);
      continue;
    }
    const std::string clean = is_valid_utf8(f.text) ? std::string(f.text) : sanitize_utf8(f.text);
    for (std::string_view word : pre_->split(clean)) encode_word(word, mapped, key, out);
  }
  return out;
}

void BpeTokenizer::encode_word(std::string_view word, std::string& mapped, std::string& key,
                               std::vector<int32_t>& out) const {
  mapped.clear();
  ByteLevelMap::instance().encode_append(word, mapped);
  const std::string_view text = mapped;
  if (ignore_merges_) {
    const int32_t id = vocab_.find(text);
    if (id >= 0) {
      out.push_back(id);
      return;
    }
  }

  merge_symbols(
      text,
      [&](std::string_view left, std::string_view right) -> std::optional<double> {
        const int rk = rank(left, right, key);  // lower ranks merge first
        if (rk < 0) return std::nullopt;
        return rk;
      },
      [&](std::string_view piece) {
        const int32_t id = vocab_.find(piece);
        if (id >= 0) {
          out.push_back(id);
          return;
        }
        // As llama.cpp: fall back to single-byte tokens of the mapped text; the rest is dropped.
        for (size_t j = 0; j < piece.size(); ++j) {
          const int32_t bid = vocab_.find(piece.substr(j, 1));
          if (bid >= 0) out.push_back(bid);
        }
      });
}

}  // namespace effitune::engine::tokenizer
