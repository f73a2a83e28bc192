// Shared pieces of the ICS readers (ics.cpp, ics_csv.cpp, ics_jsonl.cpp). Private to probes.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "effitune/probes/ics.h"
#include "line_reader.h"

namespace effitune::probes::detail {

// Which scales a single rating value fits: 0/false/down only thumbs, 2-5 only stars, 1 both.
enum class RatingFit : uint8_t { kThumbs, kStars, kEither };

struct RawRating {
  std::string key;
  double value = 0.0;
  RatingFit fit = RatingFit::kEither;
  size_t line = 0;
};

struct RawRatings {
  RatingKey key_field = RatingKey::kRequestId;
  std::vector<RawRating> ratings;
};

// Interprets a textual rating ("up", "true", "4", ...), case-insensitive, surrounding spaces ignored.
Result<RawRating> rating_from_text(std::string_view text, std::string_view source, size_t line);

Status too_many(std::string_view source, size_t line, size_t max_ratings);

// Reads the rest of the input behind `reader`, which has just returned `first_line`.
Result<RawRatings> parse_csv_ratings(LineReader& reader, std::string first_line, std::string_view source,
                                     const RatingReadOptions& options);
Result<RawRatings> parse_jsonl_ratings(LineReader& reader, std::string first_line, std::string_view source,
                                       const RatingReadOptions& options);

}  // namespace effitune::probes::detail
