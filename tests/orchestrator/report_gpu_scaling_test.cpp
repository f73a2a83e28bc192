// The report's GPU-count chart (orchestrator/src/report_gpu_scaling.cpp): capacity per GPU for each
// tensor-parallel degree the trials measured, against figures computed here from the records, and the
// E1 of the GPU count named in its reading. Also the sensitivity chart's reading on such a study.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "effitune/orchestrator/report.h"
#include "report_test_study.h"

namespace effitune::orchestrator {
namespace {

// A complete trial at `gpus` GPUs per replica with the given capacity, E and lightest-load latency.
TrialRecord at_degree(const Experiment& ex, int64_t id, int32_t gpus, double capacity_rps, double e, double light_ms) {
  TrialRecord r = testing::realistic_record(ex, id, "q8_0", 256, "continuous");
  r.configuration_json = "{\"quant\":\"q8_0\",\"gpu_count\":" + std::to_string(gpus) + "}";
  r.cost.gpus_per_replica = gpus;
  r.cost.capacity_rps = capacity_rps;
  r.efficiency = e;
  r.load_curve.front().e2e_p95_ms = light_ms;  // the lightest load point (offered 0.25 x capacity)
  return r;
}

ReportInputs inputs(const std::vector<TrialRecord>& trials) {
  ReportInputs in;
  in.row.name = "gpus";
  in.row.yaml_text = testing::kReportExperimentYaml;
  in.experiment = testing::report_experiment();
  in.trials = trials;
  return in;
}

const Chart* find_chart(const ReportModel& m, const std::string& id) {
  for (const auto& c : m.charts)
    if (c.id == id) return &c;
  return nullptr;
}

// Tensor parallelism that pays for latency but not for throughput (the 8B shape on H100s: per GPU
// 171 -> 135 -> 102 tok/s): E falls after one GPU, so the E1 of the GPU count is 1.
TEST(ReportGpuScaling, NamesWhereMoreGpusPerReplicaStopPayingBack) {
  const Experiment ex = testing::report_experiment();
  std::vector<TrialRecord> t = {at_degree(ex, 0, 1, 10.0, 0.30, 800), at_degree(ex, 1, 2, 16.0, 0.27, 500),
                                at_degree(ex, 2, 4, 24.0, 0.22, 350), at_degree(ex, 3, 2, 12.0, 0.20, 650)};
  const ReportModel m = build_report_model(inputs(t));
  const Chart* c = find_chart(m, "gpu-scaling");
  ASSERT_NE(c, nullptr);
  ASSERT_EQ(c->categories.size(), 3u);
  EXPECT_EQ(c->categories[1], "2 GPUs (n=2)");
  ASSERT_EQ(c->series.size(), 1u);
  ASSERT_EQ(c->series[0].points.size(), 3u);
  // Best capacity per replica over the trials of each degree, divided by the degree.
  EXPECT_DOUBLE_EQ(c->series[0].points[0].y, 10.0);
  EXPECT_DOUBLE_EQ(c->series[0].points[1].y, 8.0);  // trial 1 (16 req/s), not trial 3 (12)
  EXPECT_DOUBLE_EQ(c->series[0].points[2].y, 6.0);
  EXPECT_EQ(*c->series[0].points[1].trial, 1);
  EXPECT_NE(c->reading.find("10 -> 8 -> 6 req/s"), std::string::npos) << c->reading;
  EXPECT_NE(c->reading.find("800 -> 500 -> 350 ms"), std::string::npos) << c->reading;
  EXPECT_NE(c->reading.find("0.3 -> 0.27 -> 0.22"), std::string::npos) << c->reading;
  EXPECT_NE(c->reading.find("Beyond 1 GPU per replica E stops rising: that is the E1 of the GPU count"),
            std::string::npos)
      << c->reading;
  EXPECT_EQ(c->categories[0], "1 GPU (n=1), E1");
  const std::string html = render_html(m);
  EXPECT_NE(html.find("data-chart=\"gpu-scaling\""), std::string::npos);
  EXPECT_NE(render_markdown(m).find("What more GPUs per replica buy"), std::string::npos);
}

TEST(ReportGpuScaling, SaysWhenMoreGpusStillPayBack) {
  const Experiment ex = testing::report_experiment();
  const ReportModel m = build_report_model(inputs({at_degree(ex, 0, 1, 4.0, 0.20, 900), at_degree(ex, 1, 2, 9.0, 0.25, 500)}));
  const Chart* c = find_chart(m, "gpu-scaling");
  ASSERT_NE(c, nullptr);
  EXPECT_NE(c->reading.find("E still rises at 2 GPUs per replica"), std::string::npos) << c->reading;
  EXPECT_EQ(c->categories[1], "2 GPUs (n=1)");  // no E1 inside the tested range
}

// The batch-1 probe's figures (measurements "batch1_decode") make a second chart: the time per token
// per degree, its all-reduce part and the time with free all-reduces (one GPU's divided by the
// degree), and its reading names the degree past which a doubling buys no latency.
TrialRecord with_batch1(TrialRecord r, double ms_per_token, double share) {
  r.measurements_json = "{\"batch1_decode\":{\"ms_per_token\":" + std::to_string(ms_per_token) +
                        ",\"allreduce_share\":" + std::to_string(share) + "}}";
  return r;
}

TEST(ReportGpuScaling, Batch1ProbeSaysWhereAllReduceLatencyStopsPayingBack) {
  const Experiment ex = testing::report_experiment();
  // The 8B shape on 4 x H100 (bench/README.md, session 11): 5.72 -> 3.37 -> 2.18 ms, 0 / 12 / 22%.
  const ReportModel still = build_report_model(inputs({with_batch1(at_degree(ex, 0, 1, 10.0, 0.30, 800), 5.72, 0),
                                                      with_batch1(at_degree(ex, 1, 2, 16.0, 0.27, 500), 3.37, 0.124),
                                                      with_batch1(at_degree(ex, 2, 4, 24.0, 0.22, 350), 2.18, 0.222)}));
  const Chart* cap = find_chart(still, "gpu-scaling");
  ASSERT_NE(cap, nullptr);
  EXPECT_EQ(cap->reading.find("At batch 1"), std::string::npos) << cap->reading;  // the next chart's
  EXPECT_NE(cap->series[0].points[2].tooltip.find("batch 1 2.18 ms per token, all-reduce 22.2% of it"), std::string::npos)
      << cap->series[0].points[2].tooltip;
  const Chart* c = find_chart(still, "gpu-latency");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->categories, (std::vector<std::string>{"1 GPU", "2 GPUs", "4 GPUs"}));
  ASSERT_EQ(c->series.size(), 3u);
  // time per token; its all-reduce part (ms x share); one GPU's time / the degree.
  const double token[] = {5.72, 3.37, 2.18}, exchange[] = {0, 3.37 * 0.124, 2.18 * 0.222}, ideal[] = {5.72, 2.86, 1.43};
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_NEAR(c->series[0].points[i].y, token[i], 1e-9) << i;
    EXPECT_NEAR(c->series[1].points[i].y, exchange[i], 1e-9) << i;
    EXPECT_NEAR(c->series[2].points[i].y, ideal[i], 1e-9) << i;
  }
  EXPECT_EQ(c->series[2].kind, MarkKind::kLine);
  EXPECT_NE(c->reading.find("At batch 1 a token takes 5.72 -> 3.37 -> 2.18 ms, the all-reduces 0% -> 12.4% -> 22.2% of it"),
            std::string::npos)
      << c->reading;
  // 3.37 / 2.18 = 1.55x against 2x with free all-reduces.
  EXPECT_NE(c->reading.find("1.55x for the last, against 2x"), std::string::npos) << c->reading;
  EXPECT_NE(c->reading.find("latency keeps paying back up to 4 GPUs per replica"), std::string::npos) << c->reading;

  // A degree whose all-reduces eat the whole gain: 4 -> 8 GPUs cut 2.18 ms only to 2.1 (1.04x).
  const ReportModel stops = build_report_model(inputs({with_batch1(at_degree(ex, 0, 1, 10.0, 0.30, 800), 5.72, 0),
                                                      with_batch1(at_degree(ex, 1, 4, 24.0, 0.22, 350), 2.18, 0.22),
                                                      with_batch1(at_degree(ex, 2, 8, 30.0, 0.10, 340), 2.1, 0.45)}));
  c = find_chart(stops, "gpu-latency");
  ASSERT_NE(c, nullptr);
  EXPECT_NE(c->reading.find("From 4 GPUs to 8 the time per token changed 1.04x"), std::string::npos) << c->reading;
  EXPECT_NE(c->reading.find("beyond 4 GPUs per replica more GPUs stop paying back even for latency"), std::string::npos)
      << c->reading;

  // A study recorded before the probe existed (one degree without it) has no batch-1 chart.
  const ReportModel old = build_report_model(inputs({at_degree(ex, 0, 1, 10.0, 0.30, 800),
                                                    with_batch1(at_degree(ex, 1, 2, 16.0, 0.27, 500), 3.37, 0.124)}));
  EXPECT_NE(find_chart(old, "gpu-scaling"), nullptr);
  EXPECT_EQ(find_chart(old, "gpu-latency"), nullptr);
}

// CPU trials (no GPUs) and a single degree give no chart: there is nothing to compare.
TEST(ReportGpuScaling, NeedsTwoMeasuredDegrees) {
  const Experiment ex = testing::report_experiment();
  const ReportModel cpu = build_report_model(inputs({testing::realistic_record(ex, 0, "q8_0", 256, "static"),
                                                     testing::realistic_record(ex, 1, "f32", 128, "static")}));
  EXPECT_EQ(find_chart(cpu, "gpu-scaling"), nullptr);
  TrialRecord failed = at_degree(ex, 1, 2, 8.0, 0.3, 500);
  failed.state = TrialState::kFailed;
  const ReportModel one = build_report_model(inputs({at_degree(ex, 0, 1, 4.0, 0.2, 900), failed}));
  EXPECT_EQ(find_chart(one, "gpu-scaling"), nullptr);
}

// The sensitivity chart of a dimension whose values all gave the same E (the gpu-tp study on 2 x
// H100: bf16 and q8_0 both 0.25 on average) says so, instead of naming one value both the highest
// and the lowest; unequal means still name both ends.
TEST(ReportSensitivity, EqualMeansSayTheDimensionDoesNotChangeE) {
  const Experiment ex = testing::report_experiment();
  std::vector<TrialRecord> trials = {at_degree(ex, 0, 1, 1300, 0.3333, 7), at_degree(ex, 1, 2, 1150, 0.1667, 9)};
  TrialRecord b0 = trials[0], b1 = trials[1];
  b0.id = 2, b1.id = 3;
  b0.configuration_json = "{\"quant\":\"bf16\",\"gpu_count\":1}";
  b1.configuration_json = "{\"quant\":\"bf16\",\"gpu_count\":2}";
  trials.push_back(b0);
  trials.push_back(b1);
  const ReportModel m = build_report_model(inputs(trials));
  const Chart* quant = find_chart(m, "sensitivity-quant");
  ASSERT_NE(quant, nullptr);
  EXPECT_NE(quant->reading.find("Every value of quant gives the same mean E"), std::string::npos) << quant->reading;
  const Chart* gpus = find_chart(m, "sensitivity-gpu_count");
  ASSERT_NE(gpus, nullptr);
  EXPECT_NE(gpus->reading.find("gpu_count = 1 gives the highest mean E"), std::string::npos) << gpus->reading;
  EXPECT_NE(gpus->reading.find("2 the lowest"), std::string::npos) << gpus->reading;
}

}  // namespace
}  // namespace effitune::orchestrator
