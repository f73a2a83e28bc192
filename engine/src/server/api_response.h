// OpenAI-compatible response bodies: completions, chat completions and their SSE chunks.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace effitune::engine::server {

struct ResponseMeta {
  std::string id;     // "cmpl-N" / "chatcmpl-N"
  std::string model;
  int64_t created = 0;  // unix seconds
  bool chat = false;
};

struct Usage {
  int32_t prompt_tokens = 0;
  int32_t completion_tokens = 0;
  int32_t history_tokens_dropped = 0;  // chat only: prompt tokens the history budget dropped
};

// The whole (non-streamed) response. `token_ids` is an extension: the generated ids.
std::string completion_body(const ResponseMeta& m, const std::string& text, const std::vector<int32_t>& token_ids,
                            const std::string& finish_reason, const Usage& usage);
// One SSE chunk's JSON. finish_reason "" = null. For chat, `first` adds the assistant role.
std::string chunk_body(const ResponseMeta& m, const std::string& delta, const std::vector<int32_t>& token_ids,
                       const std::string& finish_reason, bool first = false);
// The closing usage chunk of stream_options.include_usage: empty choices, usage set.
std::string usage_chunk_body(const ResponseMeta& m, const Usage& usage);
std::string models_body(const std::string& model, int64_t created, int32_t context_length);

}  // namespace effitune::engine::server
