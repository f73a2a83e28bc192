// SLO strings: the grammar and its error messages.
#include <gtest/gtest.h>

#include "effitune/probes/slo.h"

namespace effitune::probes {
namespace {

TEST(SloParse, ParsesTheBriefExample) {
  auto s = parse_slos("ttft_p95_ms=500,tpot_p95_ms=50,e2e_p99_ms=3000");
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  ASSERT_EQ(s->size(), 3u);
  EXPECT_EQ((*s)[0].metric, SloMetric::kTtft);
  EXPECT_EQ((*s)[0].percentile, 95);
  EXPECT_EQ((*s)[0].threshold_ms, 500);
  EXPECT_EQ((*s)[1].metric, SloMetric::kTpot);
  EXPECT_EQ((*s)[2].metric, SloMetric::kE2e);
  EXPECT_EQ((*s)[2].percentile, 99);
  EXPECT_EQ(format_slos(*s), "ttft_p95_ms=500,tpot_p95_ms=50,e2e_p99_ms=3000");
}

TEST(SloParse, AcceptsFractionsSpacesAndItl) {
  auto s = parse_slos(" itl_p99.9_ms = 12.5 , e2e_p50_ms=100");
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  EXPECT_EQ((*s)[0].metric, SloMetric::kItl);
  EXPECT_DOUBLE_EQ((*s)[0].percentile, 99.9);
  EXPECT_DOUBLE_EQ((*s)[0].threshold_ms, 12.5);
  auto again = parse_slos(format_slos(*s));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->size(), 2u);
}

void expect_error(const char* text, const char* fragment) {
  auto s = parse_slos(text);
  ASSERT_FALSE(s.ok()) << text;
  EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.status().message().find(fragment), std::string::npos) << s.status().message();
}

TEST(SloParse, ClearErrors) {
  expect_error("", "empty SLO list");
  expect_error("ttft_p95_ms", "expected key=value");
  expect_error("latency_p95_ms=5", "unknown metric 'latency'");
  expect_error("ttft_95_ms=5", "<metric>_p<percentile>_ms");
  expect_error("ttft_p95=5", "<metric>_p<percentile>_ms");
  expect_error("ttft_p0_ms=5", "percentile '0'");
  expect_error("ttft_p101_ms=5", "(0, 100]");
  expect_error("ttft_p95_ms=abc", "value 'abc'");
  expect_error("ttft_p95_ms=-5", "positive number");
  expect_error("ttft_p95_ms=0", "positive number");
  expect_error("ttft_p95_ms=1e3", "positive number");
  expect_error("ttft_p95_ms=5,ttft_p95_ms=6", "given twice");
  expect_error("ttft_p95_ms=5,", "empty item");
  // Every message teaches the format.
  expect_error("x=1", "ttft_p95_ms=500");
}

}  // namespace
}  // namespace effitune::probes
