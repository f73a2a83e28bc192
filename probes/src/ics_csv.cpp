// CSV ratings: header row, RFC 4180 quoting within one line.
#include <algorithm>

#include "ics_internal.h"
#include "json_line.h"
#include "utf8.h"

namespace effitune::probes::detail {
namespace {

std::string trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && (s[b] == ' ' || s[b] == '\t')) ++b;
  while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t')) --e;
  return std::string(s.substr(b, e - b));
}

Result<std::vector<std::string>> split_csv(std::string_view line, std::string_view source, size_t line_no) {
  std::vector<std::string> fields;
  size_t i = 0;
  for (;;) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    std::string field;
    if (i < line.size() && line[i] == '"') {
      ++i;
      bool closed = false;
      while (i < line.size()) {
        if (line[i] == '"') {
          if (i + 1 < line.size() && line[i + 1] == '"') {
            field.push_back('"');
            i += 2;
            continue;
          }
          ++i;
          closed = true;
          break;
        }
        field.push_back(line[i++]);
      }
      if (!closed) {
        return invalid_argument(where(source, line_no) + "field " + std::to_string(fields.size() + 1) +
                                ": unterminated quote; close it with \" (line breaks inside fields are not supported)");
      }
      while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
      if (i < line.size() && line[i] != ',') {
        return invalid_argument(where(source, line_no) + "field " + std::to_string(fields.size() + 1) +
                                ": unexpected text after a closing quote; write \"\" for a quote inside a field");
      }
    } else {
      const size_t end = std::min(line.find(',', i), line.size());
      field = trim(line.substr(i, end - i));
      i = end;
    }
    fields.push_back(std::move(field));
    if (i >= line.size()) break;
    ++i;  // the comma
  }
  return fields;
}

}  // namespace

Result<RawRatings> parse_csv_ratings(LineReader& reader, std::string first_line, std::string_view source,
                                     const RatingReadOptions& options) {
  size_t line_no = reader.line_number();
  if (first_line.rfind("\xEF\xBB\xBF", 0) == 0) first_line.erase(0, 3);  // UTF-8 byte order mark
  if (const size_t bad = find_invalid_utf8(first_line); bad != kValidUtf8) {
    return invalid_argument(where(source, line_no) + "invalid UTF-8 at byte " + std::to_string(bad + 1));
  }
  EFFITUNE_ASSIGN_OR_RETURN(auto header, split_csv(first_line, source, line_no));
  int key_col = -1, config_col = -1, request_col = -1, rating_col = -1;
  for (size_t c = 0; c < header.size(); ++c) {
    const std::string name = to_lower_utf8(header[c]);
    if (name == "configuration") config_col = static_cast<int>(c);
    if (name == "request_id") request_col = static_cast<int>(c);
    if (name == "rating") rating_col = static_cast<int>(c);
  }
  RawRatings out;
  if (config_col >= 0) {
    key_col = config_col;
    out.key_field = RatingKey::kConfiguration;
  } else {
    key_col = request_col;
    out.key_field = RatingKey::kRequestId;
  }
  if (key_col < 0 || rating_col < 0) {
    return invalid_argument(where(source, line_no) +
                            "header must name a 'rating' column and a 'request_id' or 'configuration' column");
  }
  const std::string key_name = rating_key_name(out.key_field);
  std::string line;
  for (;;) {
    const auto next = reader.next(line);
    if (next == LineReader::Next::kEof) break;
    line_no = reader.line_number();
    if (next == LineReader::Next::kTooLong) {
      return invalid_argument(where(source, line_no) + "line is longer than " + std::to_string(options.max_line_bytes) + " bytes");
    }
    if (is_blank(line)) continue;
    if (const size_t bad = find_invalid_utf8(line); bad != kValidUtf8) {
      return invalid_argument(where(source, line_no) + "invalid UTF-8 at byte " + std::to_string(bad + 1));
    }
    if (out.ratings.size() >= options.max_ratings) return too_many(source, line_no, options.max_ratings);
    EFFITUNE_ASSIGN_OR_RETURN(auto fields, split_csv(line, source, line_no));
    if (fields.size() != header.size()) {
      return invalid_argument(where(source, line_no) + "expected " + std::to_string(header.size()) +
                              " fields as in the header, got " + std::to_string(fields.size()));
    }
    const std::string& key = fields[static_cast<size_t>(key_col)];
    if (key.empty()) return invalid_argument(where(source, line_no) + "field '" + key_name + "': empty; expected an id");
    EFFITUNE_ASSIGN_OR_RETURN(RawRating r, rating_from_text(fields[static_cast<size_t>(rating_col)], source, line_no));
    r.key = key;
    out.ratings.push_back(std::move(r));
  }
  return out;
}

}  // namespace effitune::probes::detail
