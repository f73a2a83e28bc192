#include "tokenizer/bpe_tokenizer.h"

#include <algorithm>
#include <queue>

#include "tokenizer/unicode_util.h"

namespace effitune::engine::tokenizer {

namespace {

struct Symbol {
  int prev;
  int next;
  size_t start;
  size_t n;  // 0 once merged into its left neighbour
};

struct Bigram {
  int left;
  int right;
  int rank;
  size_t size;
};

// Lowest rank first; among equal ranks the leftmost pair.
struct BigramOrder {
  bool operator()(const Bigram& a, const Bigram& b) const {
    return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
  }
};

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

  std::vector<Symbol> symbols;
  symbols.reserve(word.size());
  for (size_t off = 0; off < text.size();) {
    const size_t n = std::min(utf8_seq_len(static_cast<uint8_t>(text[off])), text.size() - off);
    const int index = static_cast<int>(symbols.size());
    symbols.push_back({index - 1, off + n == text.size() ? -1 : index + 1, off, n});
    off += n;
  }

  std::priority_queue<Bigram, std::vector<Bigram>, BigramOrder> queue;
  auto try_add = [&](int left, int right) {
    if (left < 0 || right < 0) return;
    const Symbol& l = symbols[static_cast<size_t>(left)];
    const Symbol& r = symbols[static_cast<size_t>(right)];
    const int rk = rank(text.substr(l.start, l.n), text.substr(r.start, r.n), key);
    if (rk < 0) return;
    queue.push({left, right, rk, l.n + r.n});
  };
  for (int i = 1; i < static_cast<int>(symbols.size()); ++i) try_add(i - 1, i);

  while (!queue.empty()) {
    const Bigram b = queue.top();
    queue.pop();
    Symbol& left = symbols[static_cast<size_t>(b.left)];
    Symbol& right = symbols[static_cast<size_t>(b.right)];
    // Stale: a side merged elsewhere since the pair was queued (the left only grows by absorbing
    // its right neighbour, so equal total size means the same two strings).
    if (left.n == 0 || right.n == 0 || left.n + right.n != b.size) continue;
    left.n += right.n;
    right.n = 0;
    left.next = right.next;
    if (right.next >= 0) symbols[static_cast<size_t>(right.next)].prev = b.left;
    try_add(left.prev, b.left);
    try_add(b.left, left.next);
  }

  for (int i = symbols.empty() ? -1 : 0; i != -1; i = symbols[static_cast<size_t>(i)].next) {
    const Symbol& s = symbols[static_cast<size_t>(i)];
    const std::string_view piece = text.substr(s.start, s.n);
    const int32_t id = vocab_.find(piece);
    if (id >= 0) {
      out.push_back(id);
      continue;
    }
    // As llama.cpp: fall back to single-byte tokens of the mapped text; the rest is dropped.
    for (size_t j = 0; j < piece.size(); ++j) {
      const int32_t bid = vocab_.find(piece.substr(j, 1));
      if (bid >= 0) out.push_back(bid);
    }
  }
}

}  // namespace effitune::engine::tokenizer
