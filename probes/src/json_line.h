// Parses one JSONL line into nlohmann::json after the checks every reader wants. Private to probes.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "effitune/common/status.h"

namespace effitune::probes::detail {

// Deep nesting is never legitimate in our formats and would make the recursive value destructor a
// stack hazard, so lines nesting deeper than this are rejected before parsing.
inline constexpr int kMaxJsonDepth = 32;

// "<source>:<line>: " prefix used by every reader message.
std::string where(std::string_view source, size_t line);

// Returns kInvalidArgument naming the byte column for ill-formed UTF-8, over-deep nesting or
// malformed JSON, and when the value is not an object.
Result<nlohmann::json> parse_json_object_line(std::string_view line, std::string_view source, size_t line_no);

// True for lines that hold only ASCII whitespace.
bool is_blank(std::string_view line);

// A JSON value as a short quoted string for messages (truncated to ~40 characters).
std::string describe(const nlohmann::json& value);

}  // namespace effitune::probes::detail
