// The merge loop the BPE and SentencePiece tokenizers share (as llama.cpp's tokenizer sessions do):
// a word split into UTF-8 characters held as a linked list of symbols, every adjacent pair that may
// merge queued by a priority the tokenizer gives, then merged best pair first until none is left.
// The tokenizers differ only in that priority (BPE: the merge's rank; SentencePiece: the merged
// token's score) and in what they emit for each final piece.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <queue>
#include <string_view>
#include <vector>

#include "tokenizer/unicode_util.h"

namespace effitune::engine::tokenizer {

// Merges the characters of `text` pairwise. priority(left, right) -> std::optional<double>: nullopt
// when the two adjacent pieces do not merge, else the pair's priority, lower first (ties: the
// leftmost pair first); the pieces are adjacent in `text`, so std::string_view(left.data(),
// left.size() + right.size()) is the merged text. Then calls emit(piece) for every final piece in
// order.
template <typename Priority, typename Emit>
void merge_symbols(std::string_view text, Priority&& priority, Emit&& emit) {
  struct Symbol {
    int prev;
    int next;
    size_t start;
    size_t n;  // 0 once merged into its left neighbour
  };
  struct Bigram {
    int left;
    int right;
    double priority;
    size_t size;
  };
  struct Later {  // std::priority_queue pops the greatest: the lowest priority, then the leftmost
    bool operator()(const Bigram& a, const Bigram& b) const {
      return a.priority > b.priority || (a.priority == b.priority && a.left > b.left);
    }
  };

  std::vector<Symbol> symbols;
  symbols.reserve(text.size());
  for (size_t off = 0; off < text.size();) {
    const size_t n = std::min(utf8_seq_len(static_cast<uint8_t>(text[off])), text.size() - off);
    const int index = static_cast<int>(symbols.size());
    symbols.push_back({index - 1, off + n == text.size() ? -1 : index + 1, off, n});
    off += n;
  }

  std::priority_queue<Bigram, std::vector<Bigram>, Later> queue;
  auto try_add = [&](int left, int right) {
    if (left < 0 || right < 0) return;
    const Symbol& l = symbols[static_cast<size_t>(left)];
    const Symbol& r = symbols[static_cast<size_t>(right)];
    const std::optional<double> p = priority(text.substr(l.start, l.n), text.substr(r.start, r.n));
    if (p) queue.push({left, right, *p, l.n + r.n});
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
    emit(text.substr(s.start, s.n));
  }
}

}  // namespace effitune::engine::tokenizer
