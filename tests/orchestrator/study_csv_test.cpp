// The CSV export (`effitune export --format csv`): one header line and one line per trial, RFC 4180
// quoting, a column per configuration dimension and per constraint (the union over the trials).
// Read back here with an RFC 4180 reader written for the test, not with the exporter's code.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "effitune/orchestrator/study_json.h"
#include "effitune/orchestrator/trial_record.h"

namespace effitune::orchestrator {
namespace {

// RFC 4180: fields separated by commas, records by CRLF or LF; a quoted field may hold commas,
// line breaks and doubled quotes.
std::vector<std::vector<std::string>> read_csv(const std::string& text) {
  std::vector<std::vector<std::string>> rows(1);
  std::string field;
  bool quoted = false, was_quoted = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') field += '"', ++i;
      else if (c == '"') quoted = false;
      else field += c;
    } else if (c == '"') {
      quoted = was_quoted = true;
    } else if (c == ',') {
      rows.back().push_back(field), field.clear(), was_quoted = false;
    } else if (c == '\n') {
      rows.back().push_back(field), field.clear(), was_quoted = false;
      rows.emplace_back();
    } else if (c != '\r') {
      field += c;
    }
  }
  if (!field.empty() || was_quoted || !rows.back().empty()) rows.back().push_back(field);
  if (rows.back().empty()) rows.pop_back();
  return rows;
}

TrialRecord complete(int64_t id, const std::string& config, double e, bool feasible, std::map<std::string, double> c) {
  TrialRecord r;
  r.id = id;
  r.experiment = "csv";
  r.state = TrialState::kComplete;
  r.configuration_json = config;
  r.efficiency = e;
  r.efficiency_interval = {e, e * 0.9, e * 1.1, 10};
  r.feasible = feasible;
  r.constraints = std::move(c);
  r.cost.usd_per_hour = 0.25;
  r.cost.replicas = 2;
  return r;
}

TEST(StudyCsv, OneColumnPerDimensionAndConstraintWithRfc4180Quoting) {
  std::vector<TrialRecord> records = {
      complete(0, R"({"quant":"q8_0","response_budget":72})", 4.0, true, {{"cost", -0.25}, {"efficiency", -3.0}}),
      complete(1, R"({"quant":"q4_0","batch_policy":"static"})", 0.5, false,
               {{"cost", 0.1}, {"efficiency", 0.5}, {"min_completeness", 0.18}}),
  };
  TrialRecord failed;
  failed.id = 2;
  failed.experiment = "csv";
  failed.state = TrialState::kFailed;
  failed.configuration_json = R"({"quant":"f32"})";
  failed.failure_reason = "out of memory, \"KV cache\"\nsecond line";
  records.push_back(failed);

  const auto rows = read_csv(trials_to_csv(records));
  ASSERT_EQ(rows.size(), 4u);
  const auto& h = rows[0];
  auto col = [&](const std::string& name) -> int {
    for (size_t i = 0; i < h.size(); ++i)
      if (h[i] == name) return static_cast<int>(i);
    ADD_FAILURE() << "no column " << name;
    return 0;
  };
  for (const auto& r : rows) EXPECT_EQ(r.size(), h.size()) << "ragged row";
  // Dimensions and constraints are the unions over the trials; a trial without one leaves it empty.
  EXPECT_EQ(rows[1][col("quant")], "q8_0");
  EXPECT_EQ(rows[1][col("batch_policy")], "");
  EXPECT_EQ(rows[2][col("batch_policy")], "static");
  EXPECT_EQ(rows[1][col("c_cost")], "-0.25");
  EXPECT_EQ(rows[1][col("c_min_completeness")], "");
  EXPECT_EQ(rows[2][col("c_min_completeness")], "0.18");
  EXPECT_EQ(rows[2][col("c_efficiency")], "0.5");
  EXPECT_EQ(rows[2][col("feasible")], "false");
  EXPECT_EQ(rows[1][col("feasible")], "true");
  EXPECT_EQ(rows[1][col("E")], "4");
  EXPECT_EQ(rows[1][col("replicas")], "2");
  // A failure reason with a comma, quotes and a line break survives the round trip.
  EXPECT_EQ(rows[3][col("failure_reason")], "out of memory, \"KV cache\"\nsecond line");
  EXPECT_EQ(rows[3][col("status")], "failed");
}

}  // namespace
}  // namespace effitune::orchestrator
