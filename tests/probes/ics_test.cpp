// ICS import and aggregation: CSV and JSONL, thumbs and stars, and line-numbered errors.
#include "effitune/probes/ics.h"

#include <sstream>

#include <gtest/gtest.h>

namespace effitune::probes {
namespace {

Result<RatingSet> parse(const std::string& text, RatingReadOptions options = {}) {
  std::istringstream in(text);
  return parse_ratings(in, "ratings", options);
}

void expect_error(const std::string& text, const std::vector<std::string>& fragments, RatingReadOptions options = {}) {
  const auto r = parse(text, options);
  ASSERT_FALSE(r.ok()) << text;
  for (const auto& f : fragments) EXPECT_NE(r.status().message().find(f), std::string::npos) << r.status().message();
}

TEST(Ics, CsvThumbsPerConfiguration) {
  const std::string csv =
      "\xEF\xBB\xBF" "Request_ID, Configuration ,rating,comment\n"
      "r1,q4,up,\"fast, but \"\"wrong\"\" city\"\n"
      "r2,q4,0,\n"
      "r3,q4,TRUE,\r\n"
      "\n"
      "r4,f16,down,ok\n"
      "r5,q4,1,\n";
  const auto set = parse(csv);
  ASSERT_TRUE(set.ok()) << set.status().to_string();
  EXPECT_EQ(set->key_field, RatingKey::kConfiguration);  // configuration wins over request_id
  EXPECT_EQ(set->scale, RatingScale::kThumbs);
  ASSERT_EQ(set->ratings.size(), 5u);
  EXPECT_EQ(set->ratings[4].line, 7u);
  const auto agg = aggregate_ratings(*set);
  ASSERT_TRUE(agg.ok());
  ASSERT_EQ(agg->size(), 2u);
  // Sorted by key: f16 (0 of 1 up), q4 (3 of 4 up -> Wilson(3, 4)).
  EXPECT_EQ((*agg)[0].key, "f16");
  EXPECT_EQ((*agg)[0].rating.value, 0.0);
  EXPECT_EQ((*agg)[1].key, "q4");
  EXPECT_DOUBLE_EQ((*agg)[1].rating.value, 0.75);
  const auto w = wilson_interval(3, 4);
  EXPECT_EQ((*agg)[1].rating.ci_low, w.ci_low);
  EXPECT_EQ((*agg)[1].normalized.ci_high, w.ci_high);
}

TEST(Ics, JsonlStarsPerRequest) {
  const std::string jsonl =
      "{\"request_id\": 17, \"rating\": 4}\n"
      "{\"request_id\": \"17\", \"rating\": \"5\"}\n"
      "{\"request_id\": \"18\", \"rating\": 1.0, \"note\": \"x\"}\n";
  const auto set = parse(jsonl);
  ASSERT_TRUE(set.ok()) << set.status().to_string();
  EXPECT_EQ(set->key_field, RatingKey::kRequestId);
  EXPECT_EQ(set->scale, RatingScale::kStars);  // a 4 appears, so 1 reads as one star
  const auto agg = aggregate_ratings(*set);
  ASSERT_TRUE(agg.ok());
  ASSERT_EQ(agg->size(), 2u);
  // "17": stars {4, 5}, mean 4.5; every resample mean is 4, 4.5 or 5 (p = 1/4, 1/2, 1/4), so the
  // 95% percentile interval is [4, 5]; normalized (s - 1) / 4 -> 0.875 in [0.75, 1].
  EXPECT_EQ((*agg)[0].key, "17");
  EXPECT_DOUBLE_EQ((*agg)[0].rating.value, 4.5);
  EXPECT_DOUBLE_EQ((*agg)[0].rating.ci_low, 4.0);
  EXPECT_DOUBLE_EQ((*agg)[0].rating.ci_high, 5.0);
  EXPECT_DOUBLE_EQ((*agg)[0].normalized.value, 0.875);
  EXPECT_DOUBLE_EQ((*agg)[0].normalized.ci_low, 0.75);
  EXPECT_DOUBLE_EQ((*agg)[1].rating.value, 1.0);
  EXPECT_DOUBLE_EQ((*agg)[1].normalized.value, 0.0);
}

TEST(Ics, OnlyOnesReadAsThumbsUnlessStarsRequested) {
  EXPECT_EQ(parse("configuration,rating\na,1\n")->scale, RatingScale::kThumbs);
  RatingReadOptions stars;
  stars.scale = RatingScale::kStars;
  EXPECT_EQ(parse("configuration,rating\na,1\n", stars)->scale, RatingScale::kStars);
}

TEST(Ics, ErrorsNameLineAndField) {
  expect_error("configuration,rating\na,up\nb,meh\n", {"ratings:3:", "field 'rating'", "\"meh\""});
  expect_error("configuration,score\na,up\n", {"ratings:1:", "'rating' column"});
  expect_error("configuration,rating\na,up\nb,4\n", {"ratings:3:", "4 stars", "line 2", "thumbs up", "one scale"});
  expect_error("configuration,rating\na,up,extra\n", {"ratings:2:", "expected 2 fields", "got 3"});
  expect_error("configuration,rating\n\"a,up\n", {"ratings:2:", "unterminated quote"});
  expect_error("configuration,rating\n,up\n", {"ratings:2:", "field 'configuration'", "empty"});
  expect_error("{\"configuration\": \"a\", \"rating\": 1}\n{\"request_id\": \"r\", \"rating\": 1}\n",
               {"ratings:2:", "field 'configuration'", "missing"});
  expect_error("{\"request_id\": \"a\", \"rating\": 6}\n", {"ratings:1:", "field 'rating'", "6"});
  expect_error("{\"request_id\": \"a\"}\n", {"ratings:1:", "field 'rating'", "missing"});
  expect_error("{\"request_id\": [1], \"rating\": 1}\n", {"ratings:1:", "string or integer"});
  expect_error("{\"rating\": 1}\n", {"ratings:1:", "neither 'request_id' nor 'configuration'"});
  expect_error("{\"request_id\": \"a\", \"rating\": 1}\n{oops\n", {"ratings:2:", "not valid JSON"});
  RatingReadOptions thumbs;
  thumbs.scale = RatingScale::kThumbs;
  expect_error("configuration,rating\na,5\n", {"ratings:2:", "5 stars on a thumbs scale"}, thumbs);
  RatingReadOptions small;
  small.max_line_bytes = 64;
  expect_error("configuration,rating\na," + std::string(200, 'x') + "\n", {"ratings:2:", "longer than 64"}, small);
  expect_error("configuration,rating\na\xFF,1\n", {"ratings:2:", "invalid UTF-8"});
}

TEST(Ics, EmptyInputAndMissingFile) {
  const auto empty = parse("\n\n");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->ratings.empty());
  EXPECT_TRUE(aggregate_ratings(*empty)->empty());
  EXPECT_EQ(read_ratings("/nonexistent/r.csv").status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace effitune::probes
