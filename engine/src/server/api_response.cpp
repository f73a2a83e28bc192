#include "server/api_response.h"

#include <nlohmann/json.hpp>

namespace effitune::engine::server {
namespace {

using json = nlohmann::json;

// Generated text may hold invalid UTF-8 (a byte-level model can emit any byte): replace, never throw.
std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

json usage_json(const Usage& u, bool chat) {
  json j = {{"prompt_tokens", u.prompt_tokens},
            {"completion_tokens", u.completion_tokens},
            {"total_tokens", u.prompt_tokens + u.completion_tokens}};
  if (chat) j["history_tokens_dropped"] = u.history_tokens_dropped;
  return j;
}

json head(const ResponseMeta& m, const char* object) {
  return {{"id", m.id}, {"object", object}, {"created", m.created}, {"model", m.model}};
}

json finish_value(const std::string& reason) { return reason.empty() ? json(nullptr) : json(reason); }

}  // namespace

std::string completion_body(const ResponseMeta& m, const std::string& text, const std::vector<int32_t>& token_ids,
                            const std::string& finish_reason, const Usage& usage) {
  json j = head(m, m.chat ? "chat.completion" : "text_completion");
  json choice = {{"index", 0}, {"finish_reason", finish_value(finish_reason)}, {"logprobs", nullptr},
                 {"token_ids", token_ids}};
  if (m.chat) choice["message"] = {{"role", "assistant"}, {"content", text}};
  else choice["text"] = text;
  j["choices"] = json::array({choice});
  j["usage"] = usage_json(usage, m.chat);
  return dump(j);
}

std::string chunk_body(const ResponseMeta& m, const std::string& delta, const std::vector<int32_t>& token_ids,
                       const std::string& finish_reason, bool first) {
  json j = head(m, m.chat ? "chat.completion.chunk" : "text_completion");
  json choice = {{"index", 0}, {"finish_reason", finish_value(finish_reason)}, {"logprobs", nullptr},
                 {"token_ids", token_ids}};
  if (m.chat) {
    json d = json::object();
    if (first) d["role"] = "assistant";
    if (!delta.empty() || first) d["content"] = delta;
    choice["delta"] = d;
  } else {
    choice["text"] = delta;
  }
  j["choices"] = json::array({choice});
  return dump(j);
}

std::string usage_chunk_body(const ResponseMeta& m, const Usage& usage) {
  json j = head(m, m.chat ? "chat.completion.chunk" : "text_completion");
  j["choices"] = json::array();
  j["usage"] = usage_json(usage, m.chat);
  return dump(j);
}

std::string models_body(const std::string& model, int64_t created, int32_t context_length) {
  json j = {{"object", "list"},
            {"data", json::array({{{"id", model},
                                   {"object", "model"},
                                   {"created", created},
                                   {"owned_by", "effitune"},
                                   {"max_model_len", context_length}}})}};
  return dump(j);
}

}  // namespace effitune::engine::server
