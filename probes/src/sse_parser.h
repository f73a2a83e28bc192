// Incremental parser for OpenAI-style server-sent events (text/event-stream). Private to probes.
// Only "data:" lines matter: "data: [DONE]" ends the stream; any other payload is a JSON chunk of a
// chat completion (choices[0].delta.content) or a completion (choices[0].text), possibly carrying a
// finish_reason, usage, or an error object.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "effitune/common/status.h"

namespace effitune::probes {

struct SseEvent {
  bool done = false;                        // data: [DONE]
  std::string text;                         // new text, possibly empty
  std::optional<std::string> finish_reason;
  int32_t completion_tokens = -1;           // usage, when present
  int32_t prompt_tokens = -1;
  std::optional<Status> error;              // a malformed chunk, an error object or an over-long line
};

class SseParser {
 public:
  static constexpr size_t kMaxLineBytes = size_t{1} << 20;
  // Parses every complete line of what has arrived so far; keeps a partial line for the next call.
  void feed(std::string_view data, const std::function<void(const SseEvent&)>& on_event);

 private:
  void line(std::string_view l, const std::function<void(const SseEvent&)>& on_event);
  std::string pending_;
  bool failed_ = false;
};

// Parses one data payload (exposed for tests and the fuzz target).
SseEvent parse_sse_payload(std::string_view payload);

}  // namespace effitune::probes
