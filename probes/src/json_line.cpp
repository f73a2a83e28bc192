#include "json_line.h"

#include "utf8.h"

namespace effitune::probes::detail {

std::string where(std::string_view source, size_t line) {
  return std::string(source) + ":" + std::to_string(line) + ": ";
}

bool is_blank(std::string_view line) {
  for (char c : line)
    if (c != ' ' && c != '\t' && c != '\r' && c != '\n' && c != '\f' && c != '\v') return false;
  return true;
}

std::string describe(const nlohmann::json& value) {
  std::string s = value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (s.size() > 40) s = s.substr(0, 37) + "...";
  return s;
}

Result<nlohmann::json> parse_json_object_line(std::string_view line, std::string_view source, size_t line_no) {
  const size_t bad = find_invalid_utf8(line);
  if (bad != kValidUtf8) {
    return invalid_argument(where(source, line_no) + "invalid UTF-8 at byte " + std::to_string(bad + 1) +
                            " of the line; save the file as UTF-8");
  }
  int depth = 0;
  bool in_string = false, escaped = false;
  for (char c : line) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') in_string = true;
    if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth) {
        return invalid_argument(where(source, line_no) + "JSON nests deeper than " + std::to_string(kMaxJsonDepth) +
                                " levels; each line must be one flat record");
      }
    }
    if (c == ']' || c == '}') --depth;
  }
  nlohmann::json value;
  try {
    value = nlohmann::json::parse(line.begin(), line.end());
  } catch (const nlohmann::json::exception& e) {
    return invalid_argument(where(source, line_no) + "not valid JSON (" + e.what() +
                            "); each line must hold one JSON object");
  }
  if (!value.is_object()) {
    return invalid_argument(where(source, line_no) + "expected a JSON object, got " + std::string(value.type_name()));
  }
  return value;
}

}  // namespace effitune::probes::detail
