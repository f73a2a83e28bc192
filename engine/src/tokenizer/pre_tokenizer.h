// Regex pre-tokenization for byte-level BPE (tokenizer.ggml.pre), run with PCRE2 in UTF + UCP mode
// so \p{L}, \p{N} and \s follow Unicode properties. Internal to the engine.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "effitune/common/status.h"

namespace effitune::engine::tokenizer {

// What a tokenizer.ggml.pre name implies besides its regexes (llama.cpp's per-name flags).
struct PreTokenizerSpec {
  std::vector<std::string> regexes;  // applied in turn, each splitting the pieces of the last
  bool ignore_merges = false;        // a whole word that is a token is emitted without merging
  bool add_bos = false;              // default for add_bos_token
};

// The spec for a tokenizer.ggml.pre value ("" means missing, which llama.cpp treats as "default").
// Returns kUnimplemented for a name llama.cpp does not know or this engine does not support.
Result<PreTokenizerSpec> pre_tokenizer_spec(const std::string& name);

class PreTokenizer {
 public:
  // Compiles `regexes`. Returns kInvalidArgument with PCRE2's message if one does not compile.
  static Result<std::unique_ptr<PreTokenizer>> create(const std::vector<std::string>& regexes);
  ~PreTokenizer();
  PreTokenizer(const PreTokenizer&) = delete;
  PreTokenizer& operator=(const PreTokenizer&) = delete;

  // Splits valid UTF-8 `text` into consecutive words (views into `text`) covering all of it: each
  // regex's matches and the gaps between them become pieces, and the next regex runs inside each
  // piece alone, as llama.cpp's unicode_regex_split does. Thread-safe.
  std::vector<std::string_view> split(std::string_view text) const;

 private:
  struct Impl;
  explicit PreTokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace effitune::engine::tokenizer
