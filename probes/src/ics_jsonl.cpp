// JSONL ratings: {"request_id" | "configuration": str | int, "rating": bool | int | str}.
#include <cmath>

#include "ics_internal.h"
#include "json_line.h"

namespace effitune::probes::detail {
namespace {

using nlohmann::json;

Status field_error(std::string_view source, size_t line, const std::string& field, const std::string& what) {
  return invalid_argument(where(source, line) + "field '" + field + "': " + what);
}

Result<std::string> key_from_json(const json& obj, RatingKey key_field, std::string_view source, size_t line) {
  const std::string name = rating_key_name(key_field);
  const auto it = obj.find(name);
  if (it == obj.end()) {
    return field_error(source, line, name, "missing; the first record is keyed by '" + name + "', so every record must be");
  }
  std::string key;
  if (it->is_string()) {
    key = it->get<std::string>();
  } else if (it->is_number_integer()) {
    key = it->dump();
  } else {
    return field_error(source, line, name, "expected a string or integer, got " + describe(*it));
  }
  if (key.empty()) return field_error(source, line, name, "empty; expected an id");
  return key;
}

Result<RawRating> rating_from_json(const json& obj, std::string_view source, size_t line) {
  const auto it = obj.find("rating");
  if (it == obj.end()) return field_error(source, line, "rating", "missing; expected thumbs (1/0, true/false, up/down) or 1-5 stars");
  if (it->is_boolean()) {
    RawRating r;
    r.value = it->get<bool>() ? 1.0 : 0.0;
    r.fit = RatingFit::kThumbs;
    r.line = line;
    return r;
  }
  if (it->is_string()) return rating_from_text(it->get<std::string>(), source, line);
  if (it->is_number()) {
    const double v = it->get<double>();
    if (v == std::floor(v) && v >= 0 && v <= 5) return rating_from_text(std::to_string(static_cast<int>(v)), source, line);
  }
  return field_error(source, line, "rating", "expected 1/0, true/false, up/down or 1-5 stars, got " + describe(*it));
}

}  // namespace

Result<RawRatings> parse_jsonl_ratings(LineReader& reader, std::string first_line, std::string_view source,
                                       const RatingReadOptions& options) {
  RawRatings out;
  bool have_key_field = false;
  std::string line = std::move(first_line);
  size_t line_no = reader.line_number();
  for (;;) {
    if (!is_blank(line)) {
      if (out.ratings.size() >= options.max_ratings) return too_many(source, line_no, options.max_ratings);
      EFFITUNE_ASSIGN_OR_RETURN(json obj, parse_json_object_line(line, source, line_no));
      if (!have_key_field) {
        if (obj.contains("configuration")) {
          out.key_field = RatingKey::kConfiguration;
        } else if (obj.contains("request_id")) {
          out.key_field = RatingKey::kRequestId;
        } else {
          return invalid_argument(where(source, line_no) + "record has neither 'request_id' nor 'configuration'");
        }
        have_key_field = true;
      }
      EFFITUNE_ASSIGN_OR_RETURN(std::string key, key_from_json(obj, out.key_field, source, line_no));
      EFFITUNE_ASSIGN_OR_RETURN(RawRating r, rating_from_json(obj, source, line_no));
      r.key = std::move(key);
      out.ratings.push_back(std::move(r));
    }
    const auto next = reader.next(line);
    if (next == LineReader::Next::kEof) break;
    line_no = reader.line_number();
    if (next == LineReader::Next::kTooLong) {
      return invalid_argument(where(source, line_no) + "line is longer than " + std::to_string(options.max_line_bytes) + " bytes");
    }
  }
  return out;
}

}  // namespace effitune::probes::detail
