// Tokenizers built from GGUF tokenizer metadata: SentencePiece-style ("llama") and GPT-2 byte-level
// BPE ("gpt2"). They reproduce llama.cpp's tokenization exactly (see shared/data/tokenizers).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "effitune/common/status.h"
#include "effitune/engine/gguf.h"

namespace effitune::engine {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  // Text to ids. Control-token text is not parsed (treated as plain text); user-defined tokens are
  // matched, as llama.cpp does. BOS is prepended when add_bos is true and the vocabulary asks for it
  // (tokenizer.ggml.add_bos_token, else llama.cpp's default: yes for "llama" and llama3-style BPE,
  // no for GPT-2). Invalid UTF-8 never fails (see engine/README.md). Thread-safe (const).
  virtual std::vector<int32_t> encode(std::string_view text, bool add_bos) const = 0;
  // Ids to text; ids out of range, control and unknown tokens decode to nothing. A leading BOS is
  // skipped and, for SentencePiece, the prefix space of the first piece is dropped, so
  // decode(encode(s, b)) == s for valid UTF-8 (SentencePiece maps U+2581 to ' '). Thread-safe.
  virtual std::string decode(const std::vector<int32_t>& ids) const = 0;
  // The text of one token as it appears in output (for streaming and stop strings).
  virtual std::string token_to_piece(int32_t id) const = 0;
  virtual int32_t vocab_size() const = 0;
  virtual int32_t bos_id() const = 0;  // -1 if none
  virtual int32_t eos_id() const = 0;  // -1 if none
  // Finds a token by its exact vocabulary string (e.g. "<|im_end|>"); -1 if absent.
  virtual int32_t find_token(std::string_view text) const = 0;
};

// Builds the tokenizer described by `file`'s tokenizer.ggml.* keys. Returns kNotFound when the file
// has no tokenizer, kUnimplemented for an unknown tokenizer.ggml.model, kInvalidArgument for
// inconsistent metadata (naming the key).
Result<std::unique_ptr<Tokenizer>> make_tokenizer(const GgufFile& file);

}  // namespace effitune::engine
