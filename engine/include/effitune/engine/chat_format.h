// Conversation formatting: renders a conversation into prompt token ids for one of a fixed set of
// chat formats, and applies the max-tokens split (history budget + response budget).
//
// The formats are code here, never a template read from a model file: tokenizer.chat_template is
// not executed. Special tokens (<|im_start|>, <|eot_id|>, ...) are inserted as ids found with
// Tokenizer::find_token, so text in a message can never forge one.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "effitune/common/status.h"
#include "effitune/engine/gguf.h"
#include "effitune/engine/tokenizer.h"

namespace effitune::engine {

enum class ChatFormat {
  kSupportDesk,  // the support-desk task model's own (experiments/support-desk/README.md)
  kChatMl,       // <|im_start|>role\n ... <|im_end|>\n
  kLlama2,       // <s>[INST] <<SYS>>\n...\n<</SYS>>\n\n user [/INST] assistant </s>
  kLlama3,       // <|start_header_id|>role<|end_header_id|>\n\n ... <|eot_id|>
};

// "support-desk", "chatml", "llama2", "llama3".
const char* chat_format_name(ChatFormat format);
// Inverse of chat_format_name (case-sensitive); kInvalidArgument listing the known names.
Result<ChatFormat> parse_chat_format(std::string_view name);

// The metadata key that names a model's format explicitly.
inline constexpr std::string_view kChatFormatKey = "effitune.chat_format";

// Chooses the format of a model file: the effitune.chat_format string when present (kInvalidArgument
// if it names no known format); otherwise inferred from the vocabulary in tokenizer.ggml.tokens:
// <|start_header_id|> -> Llama3, <|im_start|> -> ChatML, <|assistant|> with <|end|> -> SupportDesk,
// a SentencePiece ("llama") vocabulary -> Llama2. kNotFound when nothing matches (pass a format by
// name instead).
Result<ChatFormat> detect_chat_format(const GgufFile& file);

enum class ChatRole { kUser, kAssistant };

struct ChatTurn {
  ChatRole role = ChatRole::kUser;
  std::string content;
};

// A conversation to answer: the system prompt, the history (oldest first) and the final question.
struct Conversation {
  std::string system;  // empty = no system block
  std::vector<ChatTurn> turns;
  std::string question;
};

// The max-tokens split, in tokens. The prompt (system + kept history + question, with the format's
// tokens) must fit history_tokens; the response is capped at response_tokens.
struct TokenBudget {
  int32_t history_tokens = 0;
  int32_t response_tokens = 0;
  int64_t hard_limit() const { return int64_t{history_tokens} + response_tokens; }
};

struct RenderedPrompt {
  std::vector<int32_t> tokens;          // the prompt, ending where the assistant's answer starts
  int32_t max_new_tokens = 0;           // the response budget, to pass as DecodingConfig::max_new_tokens
  int32_t history_tokens_dropped = 0;   // full prompt length minus the kept prompt length
  int32_t turns_dropped = 0;            // oldest turns removed, whole
  std::vector<int32_t> stop_token_ids;  // tokens that end the assistant's turn (besides EOS)
};

// Renders `conv` in `format` with no budget. kInvalidArgument when the tokenizer lacks a token the
// format needs (naming it). Thread-safe if the tokenizer is (Tokenizer is const-thread-safe).
Result<std::vector<int32_t>> render_conversation(ChatFormat format, const Tokenizer& tokenizer,
                                                 const Conversation& conv);

// Renders `conv` within `budget`: drops the oldest turns whole until the prompt fits
// budget.history_tokens, always keeping the system prompt and the question. kInvalidArgument for a
// negative budget or a missing special token; kOutOfRange when the system prompt and the question
// alone exceed the history budget (the message gives both numbers).
Result<RenderedPrompt> render_with_budget(ChatFormat format, const Tokenizer& tokenizer,
                                          const Conversation& conv, const TokenBudget& budget);

}  // namespace effitune::engine
