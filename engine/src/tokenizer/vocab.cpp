#include "tokenizer/vocab.h"

#include <algorithm>

namespace effitune::engine::tokenizer {

VocabTokenizer::VocabTokenizer(Vocab vocab) : vocab_(std::move(vocab)) {
  for (int32_t id = 0; id < vocab_.size(); ++id) {
    if (vocab_.types[static_cast<size_t>(id)] == TokenType::kUserDefined && !vocab_.texts[static_cast<size_t>(id)].empty()) {
      user_defined_.push_back(id);
    }
  }
  std::stable_sort(user_defined_.begin(), user_defined_.end(), [&](int32_t a, int32_t b) {
    return vocab_.texts[static_cast<size_t>(a)].size() > vocab_.texts[static_cast<size_t>(b)].size();
  });
}

std::string VocabTokenizer::token_to_piece(int32_t id) const {
  if (id < 0 || id >= vocab_size()) return {};
  return pieces_[static_cast<size_t>(id)];
}

std::string VocabTokenizer::decode(const std::vector<int32_t>& ids) const {
  size_t begin = 0;
  size_t end = ids.size();
  // Like llama.cpp's detokenize(remove_special = true): drop the BOS/EOS that encode adds.
  if (vocab_.add_bos && begin < end && ids[begin] == vocab_.bos) ++begin;
  if (vocab_.add_eos && begin < end && ids[end - 1] == vocab_.eos) --end;
  std::string out;
  for (size_t i = begin; i < end; ++i) {
    if (ids[i] < 0 || ids[i] >= vocab_size()) continue;
    std::string_view piece = pieces_[static_cast<size_t>(ids[i])];
    if (i == begin && strip_prefix_space_ && !piece.empty() && piece.front() == ' ') piece.remove_prefix(1);
    out.append(piece);
  }
  return out;
}

std::vector<Fragment> VocabTokenizer::partition(std::string_view text) const {
  std::vector<Fragment> frags;
  if (text.empty()) return frags;
  frags.push_back({-1, text});
  for (int32_t id : user_defined_) {
    const std::string& needle = vocab_.texts[static_cast<size_t>(id)];
    std::vector<Fragment> next;
    next.reserve(frags.size());
    for (const Fragment& f : frags) {
      if (f.token >= 0 || f.text.size() < needle.size()) {
        next.push_back(f);
        continue;
      }
      size_t pos = 0;
      for (size_t hit = f.text.find(needle); hit != std::string_view::npos; hit = f.text.find(needle, pos)) {
        if (hit > pos) next.push_back({-1, f.text.substr(pos, hit - pos)});
        next.push_back({id, {}});
        pos = hit + needle.size();
      }
      if (pos < f.text.size()) next.push_back({-1, f.text.substr(pos)});
    }
    frags = std::move(next);
  }
  return frags;
}

}  // namespace effitune::engine::tokenizer
