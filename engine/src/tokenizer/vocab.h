// The vocabulary both tokenizer kinds share, and a Tokenizer base that implements everything but
// encoding and the text of one token. Internal to the engine.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "effitune/engine/tokenizer.h"

namespace effitune::engine::tokenizer {

// tokenizer.ggml.token_type values (llama.cpp's llama_token_type).
enum class TokenType : int32_t {
  kUndefined = 0, kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6,
};

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using TokenIndex = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;

struct Vocab {
  std::vector<std::string> texts;
  std::vector<float> scores;      // empty when the file has none (all 0)
  std::vector<TokenType> types;   // one per token (kNormal when the file has none)
  TokenIndex index;               // text -> id; a duplicated text maps to its last id, as in llama.cpp
  int32_t bos = -1;
  int32_t eos = -1;
  int32_t unk = -1;
  bool add_bos = false;  // tokenizer.ggml.add_bos_token, or llama.cpp's default for the model
  bool add_eos = false;  // tokenizer.ggml.add_eos_token

  int32_t size() const { return static_cast<int32_t>(texts.size()); }
  int32_t find(std::string_view text) const {
    auto it = index.find(text);
    return it == index.end() ? -1 : it->second;
  }
  float score(int32_t id) const { return scores.empty() ? 0.0f : scores[static_cast<size_t>(id)]; }
};

// One piece of input after user-defined tokens are split out: either a token or a run of raw text.
struct Fragment {
  int32_t token = -1;  // >= 0: a user-defined token
  std::string_view text;
};

// Implements decode, lookup and the partition on user-defined tokens; subclasses fill pieces_
// (the output text of each token) and implement encode.
class VocabTokenizer : public Tokenizer {
 public:
  explicit VocabTokenizer(Vocab vocab);

  std::string decode(const std::vector<int32_t>& ids) const override;
  std::string token_to_piece(int32_t id) const override;
  int32_t vocab_size() const override { return vocab_.size(); }
  int32_t bos_id() const override { return vocab_.bos; }
  int32_t eos_id() const override { return vocab_.eos; }
  int32_t find_token(std::string_view text) const override { return vocab_.find(text); }

 protected:
  // Splits `text` on occurrences of user-defined tokens, which llama.cpp matches even when special
  // tokens are not parsed (longest token text first). Control and unknown tokens stay plain text.
  std::vector<Fragment> partition(std::string_view text) const;
  // True when encode should start with BOS.
  bool wants_bos(bool add_bos) const { return add_bos && vocab_.add_bos && vocab_.bos >= 0; }

  Vocab vocab_;
  std::vector<std::string> pieces_;
  // Whether decode drops one leading space of the first piece (SentencePiece's prefix space).
  bool strip_prefix_space_ = false;

 private:
  std::vector<int32_t> user_defined_;  // ids of user-defined tokens, longest text first
};

}  // namespace effitune::engine::tokenizer
