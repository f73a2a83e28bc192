// ICS: end-user ratings imported from CSV or JSONL and aggregated per request id or configuration.
//
// CSV: a header row naming the columns (case-insensitive, any order, extra columns ignored), then one
// rating per row; RFC 4180 quoting within a line ("a ""quoted"" field"), no line breaks inside fields.
//   configuration,rating            or            request_id,rating,comment
//   q4_0-greedy,up                                 req-17,4,"fast, but wrong city"
// JSONL: one object per line, e.g. {"request_id": "req-17", "rating": 4} or
//   {"configuration": "q4_0-greedy", "rating": true}. Keys may be strings or integers.
// Key: "configuration" when the header / first record has it, else "request_id"; every later record
// must carry the same key field.
// Rating: thumbs (1/0, true/false, "up"/"down") or stars (integers 1-5; strings "1".."5" too). A
// file holds one scale. With RatingScale::kAuto the scale is stars if any value is 2-5, else thumbs
// (so a file of only 1s reads as thumbs up); mixing "down"/0/false with 2-5 is an error.
// Errors name the source, the line and the field, e.g.
//   "ratings.csv:7: field 'rating': expected 1/0, true/false, up/down or 1-5 stars, got \"meh\"".
#pragma once

#include <cstddef>
#include <cstdint>
#include <istream>
#include <string>
#include <string_view>
#include <vector>

#include "effitune/common/status.h"
#include "effitune/probes/stats.h"

namespace effitune::probes {

enum class RatingScale : uint8_t { kAuto, kThumbs, kStars };
enum class RatingFormat : uint8_t { kAuto, kCsv, kJsonl };
enum class RatingKey : uint8_t { kRequestId, kConfiguration };

struct Rating {
  std::string key;
  double value = 0.0;  // thumbs: 0 or 1; stars: 1..5
  size_t line = 0;
};

struct RatingSet {
  RatingKey key_field = RatingKey::kRequestId;
  RatingScale scale = RatingScale::kThumbs;  // resolved: never kAuto
  std::vector<Rating> ratings;
};

struct RatingReadOptions {
  RatingFormat format = RatingFormat::kAuto;  // kAuto: JSONL if the first non-blank line starts with '{'
  RatingScale scale = RatingScale::kAuto;
  size_t max_line_bytes = size_t{1} << 20;
  size_t max_ratings = 10'000'000;
};

// Parses ratings from `in`; `source` names it in messages. Returns kInvalidArgument on the first bad
// line (bad UTF-8, bad JSON or CSV, missing key or rating, a value outside the scale, mixed scales or
// key fields, an over-long line, too many ratings). A source with no ratings is valid.
Result<RatingSet> parse_ratings(std::istream& in, std::string_view source, const RatingReadOptions& options = {});
// Opens `path` (kNotFound if it cannot) and parses it; with format kAuto a .csv / .jsonl extension
// decides, else the content does.
Result<RatingSet> read_ratings(const std::string& path, RatingReadOptions options = {});

struct RatingAggregate {
  std::string key;
  RatingScale scale = RatingScale::kThumbs;
  Estimate rating;      // thumbs: share of thumbs up, Wilson; stars: mean stars, percentile bootstrap
  Estimate normalized;  // the same mapped to [0, 1]: thumbs unchanged, stars (s - 1) / 4
};
// One aggregate per key, sorted by key. Returns kInvalidArgument only for bad bootstrap options.
Result<std::vector<RatingAggregate>> aggregate_ratings(const RatingSet& set, const BootstrapOptions& bootstrap = {});

const char* rating_key_name(RatingKey key);

}  // namespace effitune::probes
