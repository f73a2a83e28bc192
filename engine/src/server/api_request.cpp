// Request bodies of /v1/completions and /v1/chat/completions: JSON parsing, type checks, and the
// resolution against the served model (tokenizing, chat rendering with the max-tokens split).
// Untrusted input: every failure is an ApiError, nothing throws past this file.
#include <limits>
#include <nlohmann/json.hpp>

#include "effitune/engine/server.h"

namespace effitune::engine {
namespace {

using json = nlohmann::json;

constexpr int32_t kDefaultCompletionMaxTokens = 16;  // OpenAI's default for /v1/completions
constexpr size_t kMaxStopStrings = 16;
constexpr size_t kMaxMessages = 4096;

ApiError bad(int status, std::string message, std::string param, std::string code = "") {
  ApiError e;
  e.http_status = status;
  e.message = std::move(message);
  e.param = std::move(param);
  e.code = std::move(code);
  return e;
}

ApiError type_error(const std::string& field, const char* expected) {
  return bad(400, "'" + field + "' must be " + expected, field, "invalid_type");
}

bool is_int(const json& v) { return v.is_number_integer(); }

// Reads an optional integer field into `out`; null counts as absent.
std::optional<ApiError> get_int(const json& body, const char* field, std::optional<int64_t>& out) {
  auto it = body.find(field);
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (!is_int(*it)) return type_error(field, "an integer");
  if (it->is_number_unsigned()) {
    const uint64_t u = it->get<uint64_t>();
    out = u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ? std::numeric_limits<int64_t>::max()
                                                                          : static_cast<int64_t>(u);
  } else {
    out = it->get<int64_t>();
  }
  return std::nullopt;
}

std::optional<ApiError> get_number(const json& body, const char* field, std::optional<double>& out) {
  auto it = body.find(field);
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (!it->is_number()) return type_error(field, "a number");
  out = it->get<double>();
  return std::nullopt;
}

std::optional<ApiError> get_bool(const json& body, const char* field, std::optional<bool>& out) {
  auto it = body.find(field);
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (!it->is_boolean()) return type_error(field, "a boolean");
  out = it->get<bool>();
  return std::nullopt;
}

std::optional<ApiError> parse_token_ids(const json& arr, std::vector<int32_t>& out) {
  out.reserve(arr.size());
  for (const json& v : arr) {
    if (!is_int(v)) return type_error("prompt", "a string or an array of integer token ids");
    if (v.is_number_unsigned() ? v.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int32_t>::max())
                               : (v.get<int64_t>() < std::numeric_limits<int32_t>::min() ||
                                  v.get<int64_t>() > std::numeric_limits<int32_t>::max()))
      return bad(422, "a prompt token id is outside the int32 range", "prompt", "invalid_value");
    out.push_back(static_cast<int32_t>(v.get<int64_t>()));
  }
  return std::nullopt;
}

// `prompt`: "text", [ids], ["text"] or [[ids]]. Several prompts in one request are not served.
std::optional<ApiError> parse_prompt(const json& body, ApiRequest& r) {
  auto it = body.find("prompt");
  if (it == body.end() || it->is_null()) return bad(400, "'prompt' is required", "prompt", "missing_field");
  const json& p = *it;
  if (p.is_string()) {
    r.prompt_text = p.get<std::string>();
    return std::nullopt;
  }
  if (!p.is_array()) return type_error("prompt", "a string or an array of integer token ids");
  if (p.empty()) return bad(422, "'prompt' is empty", "prompt", "invalid_value");
  if (p[0].is_string() || p[0].is_array()) {
    if (p.size() != 1)
      return bad(422, "only one prompt per request is served; send " + std::to_string(p.size()) + " requests",
                 "prompt", "unsupported_value");
    if (p[0].is_string()) {
      r.prompt_text = p[0].get<std::string>();
      return std::nullopt;
    }
    if (p[0].empty()) return bad(422, "'prompt' is empty", "prompt", "invalid_value");
    return parse_token_ids(p[0], r.prompt_ids);
  }
  return parse_token_ids(p, r.prompt_ids);
}

// A message's content: a string, or an array of {"type": "text", "text": ...} parts (joined).
std::optional<ApiError> message_text(const json& m, size_t index, std::string& out) {
  const std::string field = "messages[" + std::to_string(index) + "].content";
  auto it = m.find("content");
  if (it == m.end() || it->is_null()) return std::nullopt;  // e.g. an assistant turn without text
  if (it->is_string()) {
    out = it->get<std::string>();
    return std::nullopt;
  }
  if (!it->is_array()) return type_error(field, "a string or an array of text parts");
  for (const json& part : *it) {
    if (!part.is_object()) return type_error(field, "a string or an array of text parts");
    auto type = part.find("type");
    auto text = part.find("text");
    if (type == part.end() || !type->is_string() || *type != "text" || text == part.end() || !text->is_string())
      return bad(422, field + ": only text parts ({\"type\": \"text\", \"text\": ...}) are served", field,
                 "unsupported_value");
    out += text->get<std::string>();
  }
  return std::nullopt;
}

std::optional<ApiError> parse_messages(const json& body, ApiRequest& r) {
  auto it = body.find("messages");
  if (it == body.end() || it->is_null()) return bad(400, "'messages' is required", "messages", "missing_field");
  if (!it->is_array()) return type_error("messages", "an array of {\"role\", \"content\"} objects");
  const json& msgs = *it;
  if (msgs.empty()) return bad(422, "'messages' is empty", "messages", "invalid_value");
  if (msgs.size() > kMaxMessages)
    return bad(422, "at most " + std::to_string(kMaxMessages) + " messages are served", "messages", "invalid_value");
  for (size_t i = 0; i < msgs.size(); ++i) {
    const json& m = msgs[i];
    const std::string where = "messages[" + std::to_string(i) + "]";
    if (!m.is_object()) return type_error(where, "an object with \"role\" and \"content\"");
    auto role = m.find("role");
    if (role == m.end() || !role->is_string()) return type_error(where + ".role", "a string");
    std::string text;
    if (auto e = message_text(m, i, text)) return e;
    const std::string rs = role->get<std::string>();
    const bool last = i + 1 == msgs.size();
    if (rs == "system" || rs == "developer") {
      if (last) return bad(422, "the last message must be from the user", where + ".role", "invalid_value");
      if (!r.conversation.system.empty()) r.conversation.system += "\n";
      r.conversation.system += text;
    } else if (rs == "user") {
      if (last) r.conversation.question = std::move(text);
      else r.conversation.turns.push_back({ChatRole::kUser, std::move(text)});
    } else if (rs == "assistant") {
      if (last) return bad(422, "the last message must be from the user", where + ".role", "invalid_value");
      r.conversation.turns.push_back({ChatRole::kAssistant, std::move(text)});
    } else {
      return bad(422, where + ".role '" + rs + "' is not served (system, developer, user, assistant)",
                 where + ".role", "unsupported_value");
    }
  }
  return std::nullopt;
}

std::optional<ApiError> parse_stop(const json& body, DecodingConfig& d) {
  auto it = body.find("stop");
  if (it == body.end() || it->is_null()) return std::nullopt;
  std::vector<std::string> stops;
  if (it->is_string()) {
    stops.push_back(it->get<std::string>());
  } else if (it->is_array()) {
    for (const json& s : *it) {
      if (!s.is_string()) return type_error("stop", "a string or an array of strings");
      stops.push_back(s.get<std::string>());
    }
  } else {
    return type_error("stop", "a string or an array of strings");
  }
  if (stops.size() > kMaxStopStrings)
    return bad(422, "at most " + std::to_string(kMaxStopStrings) + " stop strings", "stop", "invalid_value");
  for (const auto& s : stops)
    if (s.empty()) return bad(422, "a stop string is empty", "stop", "invalid_value");
  d.stop_strings = std::move(stops);
  return std::nullopt;
}

std::optional<ApiError> parse_sampling(const json& body, ApiRequest& r) {
  std::optional<double> temperature, top_p;
  std::optional<int64_t> top_k, seed, max_tokens, max_completion_tokens, n, priority;
  std::optional<bool> stream, ignore_eos;
  for (auto e : {get_number(body, "temperature", temperature), get_number(body, "top_p", top_p),
                 get_int(body, "top_k", top_k), get_int(body, "seed", seed), get_int(body, "max_tokens", max_tokens),
                 get_int(body, "max_completion_tokens", max_completion_tokens), get_int(body, "n", n),
                 get_int(body, "priority", priority), get_bool(body, "stream", stream),
                 get_bool(body, "ignore_eos", ignore_eos)})
    if (e) return e;

  DecodingConfig& d = r.decoding;
  const double t = temperature.value_or(1.0);
  if (!(t >= 0 && t <= 2)) return bad(422, "'temperature' must be in [0, 2]", "temperature", "invalid_value");
  const double p = top_p.value_or(1.0);
  if (!(p > 0 && p <= 1)) return bad(422, "'top_p' must be in (0, 1]", "top_p", "invalid_value");
  const int64_t k = top_k.value_or(0);
  if (k < -1 || k > std::numeric_limits<int32_t>::max())
    return bad(422, "'top_k' must be >= 0 (or -1 for all)", "top_k", "invalid_value");
  if (t == 0) {
    d.strategy = DecodingStrategy::kGreedy;
  } else {
    d.strategy = DecodingStrategy::kSample;
    d.temperature = static_cast<float>(t);
    d.top_p = static_cast<float>(p);
    d.top_k = static_cast<int32_t>(k < 0 ? 0 : k);
  }
  if (seed) {
    d.seed = static_cast<uint64_t>(*seed);
    r.has_seed = true;
  }
  const std::optional<int64_t> mt = max_completion_tokens ? max_completion_tokens : max_tokens;
  const char* mt_field = max_completion_tokens ? "max_completion_tokens" : "max_tokens";
  if (mt) {
    if (*mt <= 0) return bad(422, std::string("'") + mt_field + "' must be > 0", mt_field, "invalid_value");
    r.max_tokens = static_cast<int32_t>(std::min<int64_t>(*mt, std::numeric_limits<int32_t>::max()));
  }
  if (n && *n != 1) return bad(422, "only n = 1 is served", "n", "unsupported_value");
  if (priority) {
    if (*priority < -1000000 || *priority > 1000000)
      return bad(422, "'priority' must be in [-1000000, 1000000]", "priority", "invalid_value");
    r.priority = static_cast<int32_t>(*priority);
  }
  r.stream = stream.value_or(false);
  d.stop_at_eos = !ignore_eos.value_or(false);
  return parse_stop(body, d);
}

std::optional<ApiError> parse_unsupported(const json& body) {
  if (auto it = body.find("echo"); it != body.end() && it->is_boolean() && it->get<bool>())
    return bad(422, "'echo' is not served", "echo", "unsupported_value");
  if (auto it = body.find("best_of"); it != body.end() && is_int(*it) && it->get<int64_t>() != 1)
    return bad(422, "only best_of = 1 is served", "best_of", "unsupported_value");
  if (auto it = body.find("logprobs"); it != body.end() && !it->is_null() && !(it->is_boolean() && !it->get<bool>()))
    return bad(422, "'logprobs' is not served", "logprobs", "unsupported_value");
  if (auto it = body.find("stream_options"); it != body.end() && !it->is_null()) {
    if (!it->is_object()) return type_error("stream_options", "an object");
    auto u = it->find("include_usage");
    if (u != it->end() && !u->is_null() && !u->is_boolean()) return type_error("stream_options.include_usage", "a boolean");
  }
  return std::nullopt;
}

}  // namespace

std::string ApiError::to_json() const {
  json e = {{"message", message},
            {"type", type},
            {"param", param.empty() ? json(nullptr) : json(param)},
            {"code", code.empty() ? json(nullptr) : json(code)}};
  return json{{"error", e}}.dump(-1, ' ', false, json::error_handler_t::replace);
}

ParsedRequest parse_api_request(std::string_view body, bool chat) {
  ParsedRequest out;
  json j = json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    out.error = bad(400, "the request body is not valid JSON", "", "invalid_json");
    return out;
  }
  if (!j.is_object()) {
    out.error = bad(400, "the request body must be a JSON object", "", "invalid_json");
    return out;
  }
  ApiRequest r;
  r.chat = chat;
  if (auto it = j.find("model"); it != j.end() && !it->is_null()) {
    if (!it->is_string()) {
      out.error = type_error("model", "a string");
      return out;
    }
    r.model = it->get<std::string>();
  }
  std::optional<ApiError> e = chat ? parse_messages(j, r) : parse_prompt(j, r);
  if (!e) e = parse_sampling(j, r);
  if (!e) e = parse_unsupported(j);
  if (e) {
    out.error = std::move(*e);
    return out;
  }
  if (auto it = j.find("stream_options"); it != j.end() && it->is_object())
    if (auto u = it->find("include_usage"); u != it->end() && u->is_boolean()) r.include_usage = u->get<bool>();
  out.request = std::move(r);
  return out;
}

PrepareResult prepare_api_request(const ApiRequest& r, const ModelLimits& limits) {
  PrepareResult out;
  PreparedRequest p;
  p.decoding = r.decoding;
  const int32_t ctx = limits.context_length;
  std::optional<int32_t> response = r.max_tokens;
  if (limits.response_budget > 0) response = std::min(response.value_or(limits.response_budget), limits.response_budget);

  if (r.chat) {
    if (!limits.tokenizer || !limits.chat_format) {
      out.error = bad(422, "the served model has no tokenizer or chat format; use /v1/completions with token ids",
                      "messages", "chat_unavailable");
      return out;
    }
    TokenBudget budget;
    budget.response_tokens = response.value_or(0);
    budget.history_tokens = limits.history_budget > 0 ? limits.history_budget
                                                      : std::max(1, ctx - std::max(1, response.value_or(1)));
    auto rendered = render_with_budget(*limits.chat_format, *limits.tokenizer, r.conversation, budget);
    if (!rendered.ok()) {
      const bool too_long = rendered.status().code() == StatusCode::kOutOfRange;
      out.error = bad(422, rendered.status().message(), "messages", too_long ? "context_length_exceeded" : "invalid_value");
      return out;
    }
    p.prompt = std::move(rendered->tokens);
    p.stop_token_ids = std::move(rendered->stop_token_ids);
    p.history_tokens_dropped = rendered->history_tokens_dropped;
  } else if (r.prompt_text) {
    if (!limits.tokenizer) {
      out.error = bad(422, "the served model has no tokenizer; send 'prompt' as an array of token ids", "prompt",
                      "tokenizer_unavailable");
      return out;
    }
    p.prompt = limits.tokenizer->encode(*r.prompt_text, /*add_bos=*/true);
    if (!response) response = kDefaultCompletionMaxTokens;
  } else {
    p.prompt = r.prompt_ids;
    for (size_t i = 0; i < p.prompt.size(); ++i) {
      if (p.prompt[i] < 0 || p.prompt[i] >= limits.vocab_size) {
        out.error = bad(422, "prompt token " + std::to_string(i) + " = " + std::to_string(p.prompt[i]) +
                                 " is outside the vocabulary [0, " + std::to_string(limits.vocab_size) + ")",
                        "prompt", "invalid_value");
        return out;
      }
    }
    if (!response) response = kDefaultCompletionMaxTokens;
  }
  if (p.prompt.empty()) {
    out.error = bad(422, "the prompt is empty after tokenization", r.chat ? "messages" : "prompt", "invalid_value");
    return out;
  }
  const int64_t n = static_cast<int64_t>(p.prompt.size());
  if (n >= ctx) {
    out.error = bad(422, "the prompt has " + std::to_string(n) + " tokens; the context holds " + std::to_string(ctx) +
                             " (leave room for at least one generated token)",
                    r.chat ? "messages" : "prompt", "context_length_exceeded");
    return out;
  }
  // A response longer than what the context leaves is cut there, with finish_reason "length".
  p.decoding.max_new_tokens = static_cast<int32_t>(std::min<int64_t>(response.value_or(ctx - n), ctx - n));
  if (Status s = validate(p.decoding); !s.ok()) {
    out.error = bad(422, s.message(), "", "invalid_value");
    return out;
  }
  out.prepared = std::move(p);
  return out;
}

}  // namespace effitune::engine
