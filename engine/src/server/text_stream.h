// Incremental detokenization for SSE: hands out only text that can no longer change — never half a
// UTF-8 character, never the start of what may become a stop string.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "effitune/engine/tokenizer.h"

namespace effitune::engine::server {

class TextStream {
 public:
  // `tokenizer` may be null (token-id models): then every delta is empty.
  TextStream(const Tokenizer* tokenizer, std::vector<std::string> stops)
      : tokenizer_(tokenizer), stops_(std::move(stops)) {}

  // Adds a generated token; returns the newly safe text (possibly empty).
  std::string push(int32_t token);
  // The rest of `final_text` (the whole answer, already cut at a stop string) not yet handed out.
  std::string finish(const std::string& final_text);

 private:
  const Tokenizer* tokenizer_;
  std::vector<std::string> stops_;
  std::vector<int32_t> ids_;
  size_t sent_ = 0;  // bytes of the decoded text already handed out
};

// Bytes at the end of `s` that start a UTF-8 sequence longer than what follows them (0..3).
size_t incomplete_utf8_tail(const std::string& s);

}  // namespace effitune::engine::server
