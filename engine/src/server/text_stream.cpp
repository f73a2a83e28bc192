#include "server/text_stream.h"

#include <algorithm>

namespace effitune::engine::server {

size_t incomplete_utf8_tail(const std::string& s) {
  // Look back at most 3 bytes for the lead byte of the last sequence.
  for (size_t back = 1; back <= std::min<size_t>(3, s.size()); ++back) {
    const auto c = static_cast<unsigned char>(s[s.size() - back]);
    if ((c & 0xC0) == 0x80) continue;  // a continuation byte: keep looking for the lead
    size_t need = 1;
    if ((c & 0xE0) == 0xC0) need = 2;
    else if ((c & 0xF0) == 0xE0) need = 3;
    else if ((c & 0xF8) == 0xF0) need = 4;
    return need > back ? back : 0;
  }
  return 0;
}

std::string TextStream::push(int32_t token) {
  if (!tokenizer_) return {};
  ids_.push_back(token);
  const std::string text = tokenizer_->decode(ids_);
  size_t limit = text.size();
  for (const auto& s : stops_) limit = std::min(limit, text.find(s));
  if (limit == text.size()) {
    // Hold back the longest tail that a stop string could still begin with.
    size_t hold = 0;
    for (const auto& s : stops_)
      for (size_t k = std::min(s.size() - 1, text.size()); k > hold; --k)
        if (text.compare(text.size() - k, k, s, 0, k) == 0) {
          hold = k;
          break;
        }
    limit = text.size() - hold;
    limit -= incomplete_utf8_tail(text.substr(0, limit));
  }
  if (limit <= sent_) return {};
  std::string delta = text.substr(sent_, limit - sent_);
  sent_ = limit;
  return delta;
}

std::string TextStream::finish(const std::string& final_text) {
  if (final_text.size() <= sent_) return {};
  std::string rest = final_text.substr(sent_);
  sent_ = final_text.size();
  return rest;
}

}  // namespace effitune::engine::server
