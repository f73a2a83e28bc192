// SSE parsing for the HTTP target.
#include "sse_parser.h"

#include <nlohmann/json.hpp>

namespace effitune::probes {
namespace {

using nlohmann::json;

int32_t small_int(const json& obj, const char* name) {
  const auto it = obj.find(name);
  if (it == obj.end() || !it->is_number_integer()) return -1;
  const int64_t v = it->get<int64_t>();
  return v >= 0 && v <= (int64_t{1} << 30) ? static_cast<int32_t>(v) : -1;
}

}  // namespace

SseEvent parse_sse_payload(std::string_view payload) {
  SseEvent e;
  if (payload == "[DONE]") {
    e.done = true;
    return e;
  }
  json j;
  try {
    j = json::parse(payload.begin(), payload.end());
  } catch (const json::exception&) {
    e.error = data_loss("the server sent a stream chunk that is not JSON: '" + std::string(payload.substr(0, 60)) + "'");
    return e;
  }
  if (!j.is_object()) {
    e.error = data_loss("the server sent a stream chunk that is not a JSON object");
    return e;
  }
  if (const auto err = j.find("error"); err != j.end()) {
    std::string m = err->is_object() && err->contains("message") && (*err)["message"].is_string()
                        ? (*err)["message"].get<std::string>()
                        : err->dump(-1, ' ', false, json::error_handler_t::replace).substr(0, 200);
    e.error = internal_error("the server reported an error mid-stream: " + m);
    return e;
  }
  if (const auto choices = j.find("choices"); choices != j.end() && choices->is_array() && !choices->empty()) {
    const json& c = (*choices)[0];
    if (c.is_object()) {
      if (const auto d = c.find("delta"); d != c.end() && d->is_object()) {
        if (const auto t = d->find("content"); t != d->end() && t->is_string()) e.text = t->get<std::string>();
      }
      if (const auto t = c.find("text"); t != c.end() && t->is_string()) e.text += t->get<std::string>();
      if (const auto f = c.find("finish_reason"); f != c.end() && f->is_string()) e.finish_reason = f->get<std::string>();
    }
  }
  if (const auto u = j.find("usage"); u != j.end() && u->is_object()) {
    e.completion_tokens = small_int(*u, "completion_tokens");
    e.prompt_tokens = small_int(*u, "prompt_tokens");
  }
  return e;
}

void SseParser::line(std::string_view l, const std::function<void(const SseEvent&)>& on_event) {
  if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
  if (l.substr(0, 5) != "data:") return;  // comments, event:, id:, retry: and blank separators
  l.remove_prefix(5);
  if (!l.empty() && l.front() == ' ') l.remove_prefix(1);
  on_event(parse_sse_payload(l));
}

void SseParser::feed(std::string_view data, const std::function<void(const SseEvent&)>& on_event) {
  if (failed_) return;
  size_t start = 0;
  while (start < data.size()) {
    const size_t nl = data.find('\n', start);
    if (nl == std::string_view::npos) {
      pending_.append(data.substr(start));
      break;
    }
    if (pending_.empty()) {
      line(data.substr(start, nl - start), on_event);
    } else {
      pending_.append(data.substr(start, nl - start));
      const std::string l = std::move(pending_);
      pending_.clear();
      line(l, on_event);
    }
    start = nl + 1;
  }
  if (pending_.size() > kMaxLineBytes) {
    failed_ = true;
    SseEvent e;
    e.error = data_loss("a stream line is longer than " + std::to_string(kMaxLineBytes) + " bytes");
    on_event(e);
  }
}

}  // namespace effitune::probes
