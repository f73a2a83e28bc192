#include "effitune/search/space.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>

namespace effitune::search {
namespace {

Space decoding_space() {
  Space s;
  EXPECT_TRUE(s.add_categorical("decoding", {"greedy", "sample", "beam"}).ok());
  EXPECT_TRUE(s.add_integer("beam_width", 2, 8, 2, false, Condition{"decoding", {"beam"}}).ok());
  EXPECT_TRUE(s.add_float("temperature", 0.1, 2.0, true, Condition{"decoding", {"sample"}}).ok());
  EXPECT_TRUE(s.add_integer("batch", 1, 64, 1, true).ok());
  return s;
}

Configuration config(std::map<std::string, Value> v) { return Configuration{std::move(v)}; }

TEST(SpaceTest, RejectsBadDimensionsWithTheirName) {
  Space s;
  EXPECT_TRUE(s.add_integer("n", 1, 10).ok());
  EXPECT_NE(s.add_integer("n", 1, 2).message().find("'n' is defined twice"), std::string::npos);
  EXPECT_NE(s.add_integer("m", 5, 1).message().find("'m'"), std::string::npos);
  EXPECT_FALSE(s.add_integer("m", 1, 10, 4).ok());  // 9 is not a multiple of 4
  EXPECT_FALSE(s.add_integer("m", 0, 10, 1, true).ok());
  EXPECT_FALSE(s.add_float("f", 0, 1, true).ok());
  EXPECT_FALSE(s.add_float("f", 0, INFINITY).ok());
  EXPECT_FALSE(s.add_categorical("c", {}).ok());
  EXPECT_FALSE(s.add_categorical("c", {"a", "a"}).ok());
  EXPECT_FALSE(s.add_categorical("bad name", {"a"}).ok());
  EXPECT_FALSE(s.add_float("w", 0, 1, false, Condition{"n", {"x"}}).ok());        // parent not categorical
  EXPECT_FALSE(s.add_float("w", 0, 1, false, Condition{"later", {"x"}}).ok());    // parent undefined
  EXPECT_TRUE(s.add_categorical("mode", {"x", "y"}).ok());
  Status missing = s.add_float("w", 0, 1, false, Condition{"mode", {"z"}});
  EXPECT_NE(missing.message().find("no choice 'z'"), std::string::npos) << missing.message();
  EXPECT_EQ(s.size(), 2u);
}

TEST(SpaceTest, ValidateNamesTheOffendingDimension) {
  const Space s = decoding_space();
  EXPECT_TRUE(s.validate(config({{"decoding", "beam"}, {"beam_width", int64_t{4}}, {"batch", int64_t{8}}})).ok());
  EXPECT_TRUE(s.validate(config({{"decoding", "sample"}, {"temperature", 0.7}, {"batch", int64_t{1}}})).ok());

  auto msg = [&](std::map<std::string, Value> v) { return s.validate(config(std::move(v))).message(); };
  // Inactive dimension given a value.
  EXPECT_NE(msg({{"decoding", "greedy"}, {"beam_width", int64_t{4}}, {"batch", int64_t{8}}}).find("'beam_width' is inactive"),
            std::string::npos);
  // Active dimension missing.
  EXPECT_NE(msg({{"decoding", "beam"}, {"batch", int64_t{8}}}).find("'beam_width' is active but has no value"),
            std::string::npos);
  // Off the step grid, out of range, wrong type, unknown choice, unknown dimension.
  EXPECT_NE(msg({{"decoding", "beam"}, {"beam_width", int64_t{3}}, {"batch", int64_t{8}}}).find("beam_width"),
            std::string::npos);
  EXPECT_NE(msg({{"decoding", "greedy"}, {"batch", int64_t{65}}}).find("batch"), std::string::npos);
  EXPECT_NE(msg({{"decoding", "greedy"}, {"batch", 8.0}}).find("expected an integer"), std::string::npos);
  EXPECT_NE(msg({{"decoding", "topk"}, {"batch", int64_t{8}}}).find("'topk' is not one of"), std::string::npos);
  EXPECT_NE(msg({{"decoding", "greedy"}, {"batch", int64_t{8}}, {"lr", 0.1}}).find("unknown dimension 'lr'"),
            std::string::npos);
}

TEST(SpaceTest, CanonicalizeWidensIntegersForFloatDimensions) {
  const Space s = decoding_space();
  auto c = s.canonicalize(config({{"decoding", "sample"}, {"temperature", int64_t{1}}, {"batch", int64_t{2}}}));
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  EXPECT_EQ(c->get_double("temperature"), 1.0);
  EXPECT_TRUE(std::holds_alternative<double>(c->values.at("temperature")));
}

TEST(SpaceTest, KeysAreCanonicalAndDistinguishTypes) {
  EXPECT_EQ(config({{"b", 0.5}, {"a", int64_t{3}}, {"c", "beam"}}).key(), "a=3,b=0.5,c=\"beam\"");
  EXPECT_NE(config({{"a", int64_t{1}}}).key(), config({{"a", 1.0}}).key());
  EXPECT_NE(config({{"a", "x,b=1"}}).key(), config({{"a", "x"}, {"b", int64_t{1}}}).key());
  EXPECT_EQ(value_to_string(Value{0.1}), "0.1");
}

TEST(SpaceTest, EncodeDecodeRoundTripsAndMarksInactiveAsNan) {
  const Space s = decoding_space();
  const Configuration c = config({{"decoding", "beam"}, {"beam_width", int64_t{6}}, {"batch", int64_t{16}}});
  const std::vector<double> u = s.encode(c);
  ASSERT_EQ(u.size(), 4u);
  EXPECT_DOUBLE_EQ(u[0], 2.5 / 3);        // third of three choices: centre of its cell
  EXPECT_DOUBLE_EQ(u[1], 2.5 / 4);        // 2,4,6,8: 6 is the third cell
  EXPECT_TRUE(std::isnan(u[2]));          // temperature inactive
  // Log integer with Optuna's 0.5 padding: (log 16 - log 0.5) / (log 64.5 - log 0.5).
  EXPECT_NEAR(u[3], (std::log(16.0) - std::log(0.5)) / (std::log(64.5) - std::log(0.5)), 1e-12);
  EXPECT_EQ(s.decode(u), c);
  // Every integer and choice survives the round trip.
  for (int64_t b = 1; b <= 64; ++b) {
    const Configuration d = config({{"decoding", "greedy"}, {"batch", b}});
    EXPECT_EQ(s.decode(s.encode(d)), d) << b;
  }
  const Configuration t = config({{"decoding", "sample"}, {"temperature", 0.3}, {"batch", int64_t{1}}});
  EXPECT_NEAR(*s.decode(s.encode(t)).get_double("temperature"), 0.3, 1e-12);
}

TEST(SpaceTest, UniformUnitPointsGiveUniformAndLogUniformValues) {
  Space s;
  ASSERT_TRUE(s.add_integer("n", 0, 9).ok());
  ASSERT_TRUE(s.add_float("f", 1, 100, true).ok());
  std::vector<int> counts(10, 0);
  int below_10 = 0;
  const int kN = 10000;
  for (int i = 0; i < kN; ++i) {
    const double u0 = (i + 0.5) / kN;  // a stratified uniform sample
    const double u1 = (static_cast<double>((i * 7919) % kN) + 0.5) / kN;
    const std::vector<double> u = {u0, u1};
    const Configuration c = s.decode(u);
    ++counts[*c.get_int("n")];
    if (*c.get_double("f") < 10) ++below_10;
  }
  for (int k = 0; k < 10; ++k) EXPECT_EQ(counts[k], kN / 10);
  EXPECT_EQ(below_10, kN / 2);  // log-uniform on [1, 100]: half below 10
}

TEST(SpaceTest, DecodeSkipsInactiveAndCompleteFillsNewlyActiveChildren) {
  const Space s = decoding_space();
  const std::vector<double> u = {0.1, 0.9, 0.5, 0.0};  // greedy
  const Configuration c = s.decode(u);
  EXPECT_EQ(c, config({{"decoding", "greedy"}, {"batch", int64_t{1}}}));
  Configuration switched = c;
  switched.values["decoding"] = "beam";
  const Configuration done = s.complete(switched, u);
  EXPECT_EQ(done, config({{"decoding", "beam"}, {"beam_width", int64_t{8}}, {"batch", int64_t{1}}}));
  EXPECT_TRUE(s.validate(done).ok());
}

TEST(SpaceTest, CardinalityCountsConditionalBranches) {
  const Space s = decoding_space();
  EXPECT_FALSE(s.cardinality().has_value());  // temperature is continuous
  Space d;
  ASSERT_TRUE(d.add_categorical("decoding", {"greedy", "beam"}).ok());
  ASSERT_TRUE(d.add_integer("beam_width", 2, 8, 2, false, Condition{"decoding", {"beam"}}).ok());
  ASSERT_TRUE(d.add_integer("batch", 1, 3).ok());
  // greedy: 3 batches; beam: 4 widths x 3 batches.
  EXPECT_EQ(d.cardinality(), 3u + 12u);
}

}  // namespace
}  // namespace effitune::search
