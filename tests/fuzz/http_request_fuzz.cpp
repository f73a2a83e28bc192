// Fuzzes the server's request-body handling: JSON parsing, type checks and the resolution against a
// model (tokenizing, chat rendering with the max-tokens split, context and vocabulary checks).
// Whatever the bytes, the result is a request within the limits or an ApiError with an HTTP status
// the server documents — never a crash, never an out-of-range prompt.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "effitune/engine/server.h"
#include "support/fake_tokenizer.h"

using effitune::engine::ApiError;

namespace {

void check_error(const ApiError& e) {
  if (e.http_status != 400 && e.http_status != 422) std::abort();
  if (e.message.empty()) std::abort();
  if (e.to_json().empty()) std::abort();
}

void run(std::string_view body, bool chat, const effitune::engine::ModelLimits& limits) {
  auto parsed = effitune::engine::parse_api_request(body, chat);
  if (!parsed.request) return check_error(parsed.error);
  const auto& r = *parsed.request;
  if (r.max_tokens && *r.max_tokens <= 0) std::abort();
  auto prepared = effitune::engine::prepare_api_request(r, limits);
  if (!prepared.prepared) return check_error(prepared.error);
  const auto& p = *prepared.prepared;
  if (p.prompt.empty() || static_cast<int64_t>(p.prompt.size()) >= limits.context_length) std::abort();
  for (int32_t t : p.prompt)
    if (t < 0 || t >= limits.vocab_size) std::abort();
  if (p.decoding.max_new_tokens < 1 ||
      static_cast<int64_t>(p.prompt.size()) + p.decoding.max_new_tokens > limits.context_length)
    std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const effitune::testing::FakeByteTokenizer tok({"<|im_start|>", "<|im_end|>", "<s>"}, "<s>", "<|im_end|>");
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  effitune::engine::ModelLimits ids_only;
  ids_only.vocab_size = 96;
  ids_only.context_length = 64;
  run(body, false, ids_only);
  run(body, true, ids_only);
  effitune::engine::ModelLimits with_chat;
  with_chat.vocab_size = tok.vocab_size();
  with_chat.context_length = 128;
  with_chat.tokenizer = &tok;
  with_chat.chat_format = effitune::engine::ChatFormat::kChatMl;
  with_chat.history_budget = 48;
  with_chat.response_budget = 16;
  run(body, false, with_chat);
  run(body, true, with_chat);
  return 0;
}
