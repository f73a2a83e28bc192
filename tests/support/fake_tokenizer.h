// A byte-level fake Tokenizer for tests: each byte of the text is one token (id = byte value), and
// the special tokens given at construction get ids 256, 257, ... So a text piece costs exactly
// its length in bytes, which lets tests work out token counts by hand.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "effitune/engine/tokenizer.h"

namespace effitune::testing {

class FakeByteTokenizer : public engine::Tokenizer {
 public:
  static constexpr int32_t kFirstSpecial = 256;

  // `bos` / `eos` name entries of `specials`, or are empty for none.
  FakeByteTokenizer(std::vector<std::string> specials, std::string_view bos, std::string_view eos)
      : specials_(std::move(specials)), bos_id_(find_token(bos)), eos_id_(find_token(eos)) {}

  std::vector<int32_t> encode(std::string_view text, bool add_bos) const override {
    std::vector<int32_t> ids;
    if (add_bos && bos_id_ >= 0) ids.push_back(bos_id_);
    for (unsigned char c : text) ids.push_back(c);
    return ids;
  }
  std::string decode(const std::vector<int32_t>& ids) const override {
    std::string s;
    for (int32_t id : ids) s += token_to_piece(id);
    return s;
  }
  std::string token_to_piece(int32_t id) const override {
    if (id >= 0 && id < kFirstSpecial) return std::string(1, static_cast<char>(id));
    if (id >= kFirstSpecial && id < vocab_size()) return specials_[static_cast<size_t>(id - kFirstSpecial)];
    return "";
  }
  int32_t vocab_size() const override { return kFirstSpecial + static_cast<int32_t>(specials_.size()); }
  int32_t bos_id() const override { return bos_id_; }
  int32_t eos_id() const override { return eos_id_; }
  int32_t find_token(std::string_view text) const override {
    for (size_t i = 0; i < specials_.size(); ++i) {
      if (specials_[i] == text) return kFirstSpecial + static_cast<int32_t>(i);
    }
    return -1;
  }

 private:
  std::vector<std::string> specials_;
  int32_t bos_id_;
  int32_t eos_id_;
};

}  // namespace effitune::testing
