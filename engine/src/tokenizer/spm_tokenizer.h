// SentencePiece-style BPE (tokenizer.ggml.model = "llama"), as llama.cpp's llm_tokenizer_spm does it:
// spaces become U+2581, a leading U+2581 is added (add_space_prefix), adjacent symbols merge by the
// highest vocabulary score, and characters no token covers fall back to <0xXX> byte tokens.
#pragma once

#include <array>

#include "tokenizer/vocab.h"

namespace effitune::engine::tokenizer {

class SpmTokenizer final : public VocabTokenizer {
 public:
  SpmTokenizer(Vocab vocab, bool add_space_prefix);

  std::vector<int32_t> encode(std::string_view text, bool add_bos) const override;

 private:
  // Appends the tokens of already-escaped text.
  void encode_escaped(std::string_view text, std::vector<int32_t>& out) const;
  // Runs the merge loop on one segment of symbols (no merge can cross a segment's ends).
  void merge_segment(std::string_view text, std::vector<int32_t>& out) const;

  bool add_space_prefix_;
  // True when no token contains U+2581 after a character other than U+2581. Then no merge can
  // join a word to the U+2581 that starts the next one, and each word can be merged on its own,
  // which gives the same result as one pass over the whole text, with small heaps.
  bool words_independent_ = false;
  std::array<int32_t, 256> byte_tokens_{};  // <0xXX> token per byte (-1 if neither it nor unk exists)
};

}  // namespace effitune::engine::tokenizer
