// GPT-2 byte-level BPE (tokenizer.ggml.model = "gpt2"), as llama.cpp's llm_tokenizer_bpe does it:
// regex pre-tokenization (tokenizer.ggml.pre), each word's bytes mapped to GPT-2's printable
// alphabet, then merges applied lowest rank (earliest in tokenizer.ggml.merges) first.
#pragma once

#include <memory>

#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/vocab.h"

namespace effitune::engine::tokenizer {

class BpeTokenizer final : public VocabTokenizer {
 public:
  // `merges` are "left right" lines in rank order.
  BpeTokenizer(Vocab vocab, const std::vector<std::string>& merges, std::unique_ptr<PreTokenizer> pre,
               bool ignore_merges);

  // Invalid UTF-8 bytes become U+FFFD before pre-tokenization (llama.cpp does the same), so only
  // valid UTF-8 round-trips through encode/decode.
  std::vector<int32_t> encode(std::string_view text, bool add_bos) const override;

 private:
  // Appends the tokens of one pre-tokenized word (raw bytes). `key` is scratch space.
  void encode_word(std::string_view word, std::string& mapped, std::string& key, std::vector<int32_t>& out) const;
  int rank(std::string_view left, std::string_view right, std::string& key) const;

  TokenIndex ranks_;  // "left right" -> rank; the first occurrence of a duplicated merge wins
  std::unique_ptr<PreTokenizer> pre_;
  bool ignore_merges_;
};

}  // namespace effitune::engine::tokenizer
