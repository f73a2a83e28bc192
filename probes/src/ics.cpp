// ICS: format dispatch, rating values, scale resolution and aggregation.
#include "effitune/probes/ics.h"

#include <fstream>
#include <map>

#include "ics_internal.h"
#include "json_line.h"
#include "utf8.h"

namespace effitune::probes {
namespace detail {

Status too_many(std::string_view source, size_t line, size_t max_ratings) {
  return invalid_argument(where(source, line) + "more than " + std::to_string(max_ratings) + " ratings; split the file");
}

Result<RawRating> rating_from_text(std::string_view text, std::string_view source, size_t line) {
  std::string_view t = text;
  while (!t.empty() && (t.front() == ' ' || t.front() == '\t')) t.remove_prefix(1);
  while (!t.empty() && (t.back() == ' ' || t.back() == '\t')) t.remove_suffix(1);
  const std::string s = to_lower_utf8(t);
  RawRating r;
  r.line = line;
  if (s == "up" || s == "true") {
    r.value = 1;
    r.fit = RatingFit::kThumbs;
  } else if (s == "down" || s == "false" || s == "0") {
    r.value = 0;
    r.fit = RatingFit::kThumbs;
  } else if (s == "1") {
    r.value = 1;
    r.fit = RatingFit::kEither;
  } else if (s.size() == 1 && s[0] >= '2' && s[0] <= '5') {
    r.value = s[0] - '0';
    r.fit = RatingFit::kStars;
  } else {
    std::string shown(text.substr(0, 40));
    if (find_invalid_utf8(shown) != kValidUtf8) shown = "<non-UTF-8 text>";
    return invalid_argument(where(source, line) + "field 'rating': expected 1/0, true/false, up/down or 1-5 stars, got \"" +
                            shown + "\"");
  }
  return r;
}

}  // namespace detail

namespace {

Result<RatingSet> resolve_scale(detail::RawRatings raw, RatingScale requested, std::string_view source) {
  using detail::RatingFit;
  const detail::RawRating* first_thumbs = nullptr;
  const detail::RawRating* first_stars = nullptr;
  for (const auto& r : raw.ratings) {
    if (r.fit == RatingFit::kThumbs && first_thumbs == nullptr) first_thumbs = &r;
    if (r.fit == RatingFit::kStars && first_stars == nullptr) first_stars = &r;
  }
  const auto describe = [](const detail::RawRating& r) {
    return (r.fit == RatingFit::kStars ? std::to_string(static_cast<int>(r.value)) + " stars"
                                       : std::string(r.value > 0 ? "thumbs up" : "thumbs down"));
  };
  if (requested == RatingScale::kThumbs && first_stars != nullptr) {
    return invalid_argument(detail::where(source, first_stars->line) + "field 'rating': " + describe(*first_stars) +
                            " on a thumbs scale; expected 1/0, true/false or up/down");
  }
  if (requested == RatingScale::kStars && first_thumbs != nullptr) {
    return invalid_argument(detail::where(source, first_thumbs->line) + "field 'rating': " + describe(*first_thumbs) +
                            " on a 1-5 star scale; expected an integer from 1 to 5");
  }
  if (first_thumbs != nullptr && first_stars != nullptr) {
    const auto* later = first_thumbs->line > first_stars->line ? first_thumbs : first_stars;
    const auto* earlier = later == first_thumbs ? first_stars : first_thumbs;
    return invalid_argument(detail::where(source, later->line) + "field 'rating': " + describe(*later) + ", but line " +
                            std::to_string(earlier->line) + " has " + describe(*earlier) + "; use one scale per file");
  }
  RatingSet set;
  set.key_field = raw.key_field;
  set.scale = requested != RatingScale::kAuto ? requested
              : first_stars != nullptr        ? RatingScale::kStars
                                              : RatingScale::kThumbs;
  set.ratings.reserve(raw.ratings.size());
  for (auto& r : raw.ratings) set.ratings.push_back({std::move(r.key), r.value, r.line});
  return set;
}

}  // namespace

const char* rating_key_name(RatingKey key) { return key == RatingKey::kConfiguration ? "configuration" : "request_id"; }

Result<RatingSet> parse_ratings(std::istream& in, std::string_view source, const RatingReadOptions& options) {
  detail::LineReader reader(in, options.max_line_bytes);
  std::string line;
  for (;;) {  // the first non-blank line decides the format (kAuto) and holds the CSV header
    const auto next = reader.next(line);
    if (next == detail::LineReader::Next::kEof) {
      RatingSet empty;
      empty.scale = options.scale == RatingScale::kStars ? RatingScale::kStars : RatingScale::kThumbs;
      return empty;
    }
    if (next == detail::LineReader::Next::kTooLong) {
      return invalid_argument(detail::where(source, reader.line_number()) + "line is longer than " +
                              std::to_string(options.max_line_bytes) + " bytes");
    }
    if (!detail::is_blank(line)) break;
  }
  RatingFormat format = options.format;
  if (format == RatingFormat::kAuto) {
    const size_t first = line.find_first_not_of(" \t");
    format = line[first] == '{' ? RatingFormat::kJsonl : RatingFormat::kCsv;
  }
  auto raw = format == RatingFormat::kJsonl ? detail::parse_jsonl_ratings(reader, std::move(line), source, options)
                                            : detail::parse_csv_ratings(reader, std::move(line), source, options);
  if (!raw.ok()) return raw.status();
  if (in.bad()) return data_loss(std::string(source) + ": read error");
  return resolve_scale(std::move(raw).value(), options.scale, source);
}

Result<RatingSet> read_ratings(const std::string& path, RatingReadOptions options) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return not_found(path + ": cannot open the ratings file; check the path");
  if (options.format == RatingFormat::kAuto) {
    const auto ends_with = [&](std::string_view ext) {
      return path.size() >= ext.size() && detail::to_lower_utf8(path.substr(path.size() - ext.size())) == ext;
    };
    if (ends_with(".csv")) options.format = RatingFormat::kCsv;
    if (ends_with(".jsonl")) options.format = RatingFormat::kJsonl;
  }
  return parse_ratings(in, path, options);
}

Result<std::vector<RatingAggregate>> aggregate_ratings(const RatingSet& set, const BootstrapOptions& bootstrap) {
  std::map<std::string, std::vector<double>> by_key;
  for (const auto& r : set.ratings) by_key[r.key].push_back(r.value);
  std::vector<RatingAggregate> out;
  for (const auto& [key, values] : by_key) {
    RatingAggregate agg;
    agg.key = key;
    agg.scale = set.scale;
    if (set.scale == RatingScale::kStars) {
      EFFITUNE_ASSIGN_OR_RETURN(agg.rating, bootstrap_mean(values, bootstrap));
      agg.normalized = agg.rating;
      for (double* x : {&agg.normalized.value, &agg.normalized.ci_low, &agg.normalized.ci_high}) *x = (*x - 1.0) / 4.0;
    } else {
      size_t up = 0;
      for (double v : values) up += v > 0 ? 1 : 0;
      agg.rating = wilson_interval(up, values.size());
      agg.normalized = agg.rating;
    }
    out.push_back(std::move(agg));
  }
  return out;
}

}  // namespace effitune::probes
