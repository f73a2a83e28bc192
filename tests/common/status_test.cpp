#include "effitune/common/status.h"

#include <gtest/gtest.h>

namespace effitune {
namespace {

Result<int> half(int x) {
  if (x % 2) return invalid_argument("odd: " + std::to_string(x));
  return x / 2;
}

Result<int> quarter(int x) {
  EFFITUNE_ASSIGN_OR_RETURN(int h, half(x));
  EFFITUNE_ASSIGN_OR_RETURN(int q, half(h));
  return q;
}

TEST(StatusTest, OkAndErrorsCarryCodeAndMessage) {
  EXPECT_TRUE(Status().ok());
  Status s = data_loss("truncated");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kDataLoss);
  EXPECT_EQ(s.to_string(), "DATA_LOSS: truncated");
  EXPECT_EQ(s.with_context("model.gguf").message(), "model.gguf: truncated");
}

TEST(StatusTest, AssignOrReturnPropagatesTheFirstError) {
  EXPECT_EQ(quarter(8).value(), 2);
  Result<int> r = quarter(6);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "odd: 3");
}

TEST(StatusDeathTest, ValueOfAnErrorAborts) {
  Result<int> r = half(3);
  EXPECT_DEATH((void)r.value(), "Result::value\\(\\) on error");
}

}  // namespace
}  // namespace effitune
