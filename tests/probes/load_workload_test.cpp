// Workloads: trace reader errors, synthetic lengths, evaluation-set conversion and file detection.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <sstream>

#include "effitune/probes/workload.h"
#include "support/paths.h"

namespace effitune::probes {
namespace {

Result<std::vector<TraceEntry>> trace(const std::string& text) {
  std::istringstream in(text);
  return parse_trace(in, "t.jsonl");
}

void expect_trace_error(const std::string& text, const std::string& fragment) {
  auto r = trace(text);
  ASSERT_FALSE(r.ok()) << text;
  EXPECT_NE(r.status().message().find(fragment), std::string::npos) << r.status().message();
  EXPECT_EQ(r.status().message().rfind("t.jsonl", 0), 0u) << r.status().message();
}

TEST(Trace, ParsesRecords) {
  auto r = trace("{\"timestamp_s\": 0.5, \"input_tokens\": 100, \"output_tokens\": 20, \"x\": 1}\n\n"
                 "{\"timestamp_s\": 1.25, \"input_tokens\": 7, \"output_tokens\": 1}\r\n");
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[1].line, 3u);
  auto w = Workload::from_trace(*r);
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(w->trace_times_s(), (std::vector<double>{0.0, 0.75}));
  EXPECT_EQ(w->request(0).prompt_tokens, 100);
  EXPECT_EQ(w->request(1).max_tokens, 1);
  EXPECT_TRUE(w->request(1).ignore_eos);
}

TEST(Trace, BadInputNamesLineAndField) {
  expect_trace_error("", "no records");
  expect_trace_error("{\"input_tokens\": 1, \"output_tokens\": 1}", "t.jsonl:1: field 'timestamp_s': missing");
  expect_trace_error("{\"timestamp_s\": -1, \"input_tokens\": 1, \"output_tokens\": 1}", "field 'timestamp_s'");
  expect_trace_error("{\"timestamp_s\": \"0\", \"input_tokens\": 1, \"output_tokens\": 1}", "expected a number");
  expect_trace_error("{\"timestamp_s\": 0, \"input_tokens\": 0, \"output_tokens\": 1}", "field 'input_tokens'");
  expect_trace_error("{\"timestamp_s\": 0, \"input_tokens\": 1.5, \"output_tokens\": 1}", "expected an integer");
  expect_trace_error("{\"timestamp_s\": 0, \"input_tokens\": 1, \"output_tokens\": 99999999999}", "field 'output_tokens'");
  expect_trace_error("{\"timestamp_s\": 0, \"input_tokens\": 1}", "field 'output_tokens': missing");
  expect_trace_error("{\"timestamp_s\": 2, \"input_tokens\": 1, \"output_tokens\": 1}\n"
                     "{\"timestamp_s\": 1, \"input_tokens\": 1, \"output_tokens\": 1}",
                     "t.jsonl:2: field 'timestamp_s': goes back in time");
  expect_trace_error("[1,2]", "expected a JSON object");
  expect_trace_error("{oops", "not valid JSON");
  expect_trace_error(std::string(5000, ' ') + "x", "longer than 4096");
}

TEST(Synthetic, SpecAndLengths) {
  auto spec = parse_synthetic_spec("in=128,out=32,dist=lognormal,cv=0.5,count=4000");
  ASSERT_TRUE(spec.ok()) << spec.status().to_string();
  auto w = Workload::synthetic(*spec, 9);
  ASSERT_TRUE(w.ok());
  ASSERT_EQ(w->size(), 4000u);
  double in = 0, out = 0;
  for (size_t i = 0; i < w->size(); ++i) {
    in += w->request(i).prompt_tokens;
    out += w->request(i).max_tokens;
    EXPECT_TRUE(w->request(i).messages.empty());
    EXPECT_TRUE(w->request(i).ignore_eos);
  }
  // Lognormal with the requested mean: sd of the sample mean is 0.5 * 128 / sqrt(4000) ~ 1.
  EXPECT_NEAR(in / 4000, 128, 5);
  EXPECT_NEAR(out / 4000, 32, 1.5);
  auto constant = Workload::synthetic(parse_synthetic_spec("in=10,out=3").value(), 1);
  EXPECT_EQ(constant->request(5).prompt_tokens, 10);
  EXPECT_EQ(constant->request(5).max_tokens, 3);
  EXPECT_FALSE(parse_synthetic_spec("out=3").ok());
  EXPECT_FALSE(parse_synthetic_spec("in=0").ok());
  EXPECT_FALSE(parse_synthetic_spec("in=10,dist=zipf").ok());
  EXPECT_FALSE(parse_synthetic_spec("in=10,color=3").ok());
  EXPECT_FALSE(parse_synthetic_spec("in=abc").ok());
}

TEST(WorkloadLoad, EvalSetBecomesChatRequests) {
  auto w = Workload::load(testing::source_dir() + "/experiments/support-desk/test.jsonl", 48, 1);
  ASSERT_TRUE(w.ok()) << w.status().to_string();
  EXPECT_EQ(w->size(), 300u);
  EXPECT_TRUE(w->trace_times_s().empty());
  const TargetRequest& r = w->request(0);
  ASSERT_GE(r.messages.size(), 2u);
  EXPECT_EQ(r.messages.front().role, "system");
  EXPECT_EQ(r.messages.back().role, "user");
  EXPECT_EQ(r.max_tokens, 48);
}

TEST(WorkloadLoad, DetectsTracesAndReportsMissingFiles) {
  const std::string dir = testing::make_temp_dir("workload");
  const std::string path = dir + "/trace.jsonl";
  std::ofstream(path) << "{\"timestamp_s\": 0, \"input_tokens\": 4, \"output_tokens\": 2}\n"
                      << "{\"timestamp_s\": 3, \"input_tokens\": 4, \"output_tokens\": 2}\n";
  auto w = Workload::load(path, 16, 1);
  ASSERT_TRUE(w.ok()) << w.status().to_string();
  EXPECT_EQ(w->trace_times_s().size(), 2u);
  EXPECT_EQ(Workload::load(dir + "/missing.jsonl", 16, 1).status().code(), StatusCode::kNotFound);
  auto synth = Workload::load("synthetic:in=8,out=4", 16, 1);
  ASSERT_TRUE(synth.ok());
  EXPECT_EQ(synth->request(0).prompt_tokens, 8);
  const std::string bad = dir + "/bad.jsonl";
  std::ofstream(bad) << "{\"id\": \"a\"}\n";
  auto e = Workload::load(bad, 16, 1);
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("bad.jsonl:1"), std::string::npos) << e.status().message();
}

}  // namespace
}  // namespace effitune::probes
