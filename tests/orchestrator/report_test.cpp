// Recommendation reports: the model against references computed here from the stored records, the
// SVG's points counted per chart, the JSON validated against experiments/report.schema.json (with
// python3-jsonschema, installed by scripts/install_deps.sh), and the edge cases (failed trials, one
// trial, an empty study).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>

#include "effitune/orchestrator/report.h"
#include "effitune/orchestrator/svg_chart.h"
#include "report_test_study.h"
#include "support/paths.h"

namespace effitune::orchestrator {
namespace {

using effitune::testing::build_report_study;

// chart id -> series name -> trial ids of the marks (data-trial) in that chart's SVG.
using Marks = std::map<std::string, std::map<std::string, std::multiset<int64_t>>>;

Marks marks_of(const std::string& html) {
  Marks out;
  const std::regex svg(R"re(<svg class="chart" data-chart="([^"]+)")re");
  const std::regex mark(R"re(data-trial="(\d+)" data-series="([^"]*)")re");
  for (auto it = std::sregex_iterator(html.begin(), html.end(), svg); it != std::sregex_iterator(); ++it) {
    const size_t begin = static_cast<size_t>(it->position(0));
    const size_t end = html.find("</svg>", begin);
    const std::string body = html.substr(begin, end - begin);
    auto& chart = out[(*it)[1]];
    for (auto m = std::sregex_iterator(body.begin(), body.end(), mark); m != std::sregex_iterator(); ++m) {
      chart[(*m)[2]].insert(std::stoll((*m)[1]));
    }
  }
  return out;
}

size_t total(const std::map<std::string, std::multiset<int64_t>>& chart) {
  size_t n = 0;
  for (const auto& [_, ids] : chart) n += ids.size();
  return n;
}

std::string read_file(const std::string& path) {
  std::ifstream f(path);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

// Runs python3-jsonschema (Draft 2020-12) on `json_text`; returns its exit status (0 = valid).
int validate_with_schema(const std::string& json_text, const std::string& dir) {
  const std::string file = dir + "/report.json";
  std::ofstream(file) << json_text;
  const std::string schema = testing::source_dir() + "/experiments/report.schema.json";
  const std::string cmd = "/usr/bin/python3 -c \"import json,sys,jsonschema; s=json.load(open(sys.argv[1])); "
                          "jsonschema.Draft202012Validator.check_schema(s); "
                          "jsonschema.Draft202012Validator(s).validate(json.load(open(sys.argv[2])))\" '" +
                          schema + "' '" + file + "' 2>" + dir + "/validate.log";
  return std::system(cmd.c_str());
}

TEST(SvgChart, NiceTicksCoverTheRangeWithRoundSteps) {
  EXPECT_EQ(nice_ticks(0, 0.93, 6), (std::vector<double>{0, 0.2, 0.4, 0.6, 0.8, 1.0}));
  EXPECT_EQ(nice_ticks(3, 97, 6), (std::vector<double>{0, 20, 40, 60, 80, 100}));
  for (auto [lo, hi] : std::vector<std::pair<double, double>>{{0.013, 0.87}, {-3, 12}, {1234, 98765}, {5, 5}}) {
    auto t = nice_ticks(lo, hi, 6);
    ASSERT_GE(t.size(), 3u) << lo << " " << hi;
    EXPECT_LE(t.front(), lo);
    EXPECT_GE(t.back(), hi);
    const double step = t[1] - t[0];
    const double mant = step / std::pow(10.0, std::floor(std::log10(step)));
    EXPECT_TRUE(std::abs(mant - 1) < 1e-9 || std::abs(mant - 2) < 1e-9 || std::abs(mant - 5) < 1e-9) << step;
  }
}

TEST(SvgChart, FormatsAndEscapes) {
  EXPECT_EQ(format_number(0.81234), "0.812");
  EXPECT_EQ(format_number(12.5, 4), "12.5");
  EXPECT_EQ(format_number(25000), "25k");
  EXPECT_EQ(format_number(0.00042), "0.00042");
  EXPECT_EQ(format_number(INFINITY), "n/a");
  EXPECT_EQ(xml_escape("a<b & \"c\"'"), "a&lt;b &amp; &quot;c&quot;&#39;");
}

TEST(SvgChart, EveryTrialPointIsAMarkWithItsTooltip) {
  Chart c;
  c.id = "t";
  c.series.push_back({"s", MarkKind::kPoints, 0, {{1, 2, 1.5, 2.5, 7, "trial <7>", false}, {2, 3, {}, {}, 8, "x", true}}});
  c.series.push_back({"", MarkKind::kStep, 1, {{1, 2, {}, {}, {}, "", false}, {2, 3, {}, {}, {}, "", false}}});
  c.series.push_back({"nan", MarkKind::kPoints, 2, {{NAN, 1, {}, {}, 9, "", false}}});
  const std::string svg = render_svg(c);
  EXPECT_EQ(marks_of(svg)["t"]["s"], (std::multiset<int64_t>{7, 8}));
  EXPECT_EQ(marks_of(svg)["t"].count("nan"), 0u);  // non-finite points are skipped
  EXPECT_NE(svg.find("<title>trial &lt;7&gt;</title>"), std::string::npos);
  EXPECT_NE(svg.find("class=\"err\""), std::string::npos);
}

class ReportStudyTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = testing::make_temp_dir("report_test"); }
  std::string dir_;
};

TEST_F(ReportStudyTest, RecommendsTheBestFeasibleTrialWithChartsCountingEveryTrial) {
  auto s = build_report_study(dir_ + "/study.db", 12, {4, 9});
  auto m = build_report_model(*s.store, "");
  ASSERT_TRUE(m.ok()) << m.status().to_string();

  // Reference: the highest E among feasible complete trials, read from the records as written.
  const TrialRecord* best = nullptr;
  size_t complete = 0, finite = 0, with_curve = 0;
  for (const auto& r : s.records) {
    if (r.state != TrialState::kComplete) continue;
    ++complete;
    finite += std::isfinite(r.cost.usd_per_hour);
    with_curve += !r.load_curve.empty();
    if (r.feasible && (!best || r.efficiency > best->efficiency)) best = &r;
  }
  ASSERT_NE(best, nullptr);
  const Recommendation& rec = m->recommendation;
  EXPECT_TRUE(rec.available);
  EXPECT_EQ(rec.trial, best->id);
  EXPECT_EQ(rec.replicas, best->cost.replicas);
  EXPECT_EQ(rec.replicas, static_cast<int>(std::ceil(6.0 / best->cost.capacity_rps)));  // the goal's 6 req/s
  EXPECT_NEAR(rec.usd_per_hour, rec.replicas * 2 * 0.12, 1e-9);  // 2 cores x $0.12/core-hour
  EXPECT_EQ(m->trials_failed, 2);
  EXPECT_EQ(m->trials.size(), 12u);
  EXPECT_EQ(m->trials[4].failure_reason.find("engine start failed"), 0u);

  // Ties: every other feasible complete trial whose E interval overlaps the best's.
  std::set<int64_t> ties, shown;
  for (const auto& r : s.records) {
    if (r.state == TrialState::kComplete && r.feasible && r.id != best->id &&
        r.efficiency_interval.ci_low <= best->efficiency_interval.ci_high &&
        best->efficiency_interval.ci_low <= r.efficiency_interval.ci_high) {
      ties.insert(r.id);
    }
  }
  for (const auto& t : rec.ties) shown.insert(t.trial);
  EXPECT_EQ(shown, ties);

  const std::string html = render_html(*m);
  Marks marks = marks_of(html);
  EXPECT_EQ(total(marks["quadrant"]), finite);
  EXPECT_EQ(total(marks["pareto"]), finite);
  EXPECT_EQ(total(marks["climb"]), complete + 2);  // complete trials and the 2 failed ones
  EXPECT_EQ(marks["climb"]["failed (drawn at 0)"], (std::multiset<int64_t>{4, 9}));
  // Latency: the top 3 configurations, each with all of its load points.
  std::set<int64_t> latency_trials(marks["latency"].begin()->second.begin(), marks["latency"].begin()->second.end());
  for (const auto& [_, ids] : marks["latency"]) latency_trials.insert(ids.begin(), ids.end());
  EXPECT_EQ(latency_trials.size(), std::min<size_t>(3, with_curve));
  EXPECT_EQ(latency_trials.count(best->id), 1u);
  EXPECT_EQ(total(marks["latency"]), 5 * latency_trials.size());

  // Pareto front, by definition: no other point has R <= and Q >= with one strictly better.
  std::multiset<int64_t> front;
  for (const auto& a : s.records) {
    if (a.state != TrialState::kComplete) continue;
    bool dominated = false;
    for (const auto& b : s.records) {
      if (b.state != TrialState::kComplete || &a == &b) continue;
      const double ra = a.cost.usd_per_hour, rb = b.cost.usd_per_hour;
      const double qa = a.indicators.quality.value, qb = b.indicators.quality.value;
      dominated |= rb <= ra && qb >= qa && (rb < ra || qb > qa);
    }
    if (!dominated) front.insert(a.id);
  }
  EXPECT_EQ(marks["pareto"]["on the front"], front);

  // Sensitivity: one chart per dimension, one bar per value; the mean E of q4_0 from the records.
  EXPECT_EQ(marks.count("sensitivity-quant"), 1u);
  EXPECT_EQ(std::regex_search(html, std::regex("sensitivity-history_budget")), true);
  double sum = 0;
  int n = 0;
  for (const auto& r : s.records) {
    if (r.state == TrialState::kComplete && r.configuration_json.find("q4_0") != std::string::npos) sum += r.efficiency, ++n;
  }
  bool found = false;
  for (const auto& c : m->charts) {
    if (c.id != "sensitivity-quant") continue;
    EXPECT_EQ(c.categories.size(), 3u);
    for (size_t i = 0; i < c.categories.size(); ++i) {
      if (c.categories[i] != "q4_0 (n=" + std::to_string(n) + ")") continue;
      EXPECT_NEAR(c.series[0].points[i].y, sum / n, 1e-12);
      found = true;
    }
  }
  EXPECT_TRUE(found);
  for (const auto& c : m->charts) EXPECT_FALSE(c.reading.empty()) << c.id;

  // The table is sortable and the page is one file: no external resource.
  EXPECT_NE(html.find("class=\"sortable\""), std::string::npos);
  EXPECT_EQ(html.find("src=\"http"), std::string::npos);
  EXPECT_EQ(html.find("href=\"http"), std::string::npos);
  EXPECT_NE(html.find("0123abc"), std::string::npos);
  EXPECT_NE(html.find("history_budget, type: int"), std::string::npos);  // the experiment file, verbatim
}

TEST_F(ReportStudyTest, SloMarginsAreReadOnTheLoadCurveAtTheGoalLoad) {
  auto s = build_report_study(dir_ + "/study.db", 6);
  auto m = build_report_model(*s.store, "support-desk-cpu");
  ASSERT_TRUE(m.ok());
  const auto& rec = m->recommendation;
  const TrialRecord& t = s.records[rec.trial];
  const double rps = 6.0 / t.cost.replicas;  // the goal's 6 req/s spread over the replicas
  EXPECT_NEAR(rec.goal_rps_per_replica, rps, 1e-12);
  // Linear interpolation between the two load points around `rps`, done here on the raw curve.
  const auto& c = t.load_curve;
  size_t i = 1;
  while (i + 1 < c.size() && c[i].offered_rps < rps) ++i;
  const double w = (rps - c[i - 1].offered_rps) / (c[i].offered_rps - c[i - 1].offered_rps);
  const double e2e = c[i - 1].e2e_p95_ms + w * (c[i].e2e_p95_ms - c[i - 1].e2e_p95_ms);
  ASSERT_EQ(rec.slo_margins.size(), 2u);  // ttft and e2e are set in the experiment
  EXPECT_EQ(rec.slo_margins[1].name, "e2e_p95_ms");
  EXPECT_NEAR(rec.slo_margins[1].measured_ms, e2e, 1e-9);
  EXPECT_NEAR(rec.slo_margins[1].margin_ms, 4000 - e2e, 1e-9);
}

TEST_F(ReportStudyTest, JsonValidatesAgainstTheShippedSchemaAndABrokenOneDoesNot) {
  auto s = build_report_study(dir_ + "/study.db", 8, {2}, /*drift=*/true);
  auto m = build_report_model(*s.store, "");
  ASSERT_TRUE(m.ok());
  EXPECT_TRUE(m->nightly);
  const std::string text = render_json(*m);
  EXPECT_EQ(validate_with_schema(text, dir_), 0) << read_file(dir_ + "/validate.log");
  auto j = nlohmann::json::parse(text);
  EXPECT_EQ(j["recommendation"]["trial"], m->recommendation.trial);
  EXPECT_EQ(j["trials"].size(), 8u);
  EXPECT_EQ(j["drift"].size(), 3u);
  // A report missing its recommendation, or with a quality above 1, must fail: the validator really checks.
  auto broken = j;
  broken.erase("recommendation");
  EXPECT_NE(validate_with_schema(broken.dump(), dir_), 0);
  broken = j;
  broken["trials"][0]["quality"]["value"] = 1.5;
  EXPECT_NE(validate_with_schema(broken.dump(), dir_), 0);

  // The drift chart flags the one significant change.
  const Chart* drift = nullptr;
  for (const auto& c : m->charts) drift = c.id == "drift" ? &c : drift;
  ASSERT_NE(drift, nullptr);
  EXPECT_NE(drift->reading.find("1 of 3 indicators drifted"), std::string::npos) << drift->reading;
}

TEST_F(ReportStudyTest, EmptyStudySaysThereIsNothingToRecommendYet) {
  auto s = build_report_study(dir_ + "/study.db", 0);
  auto m = build_report_model(*s.store, "");
  ASSERT_TRUE(m.ok());
  EXPECT_FALSE(m->recommendation.available);
  EXPECT_NE(m->recommendation.headline.find("Nothing to recommend yet"), std::string::npos);
  EXPECT_FALSE(m->recommendation.reasons.empty());
  EXPECT_TRUE(m->charts.empty());
  const std::string html = render_html(*m);
  EXPECT_EQ(html.find("data-trial="), std::string::npos);
  EXPECT_NE(html.find("Nothing to recommend yet"), std::string::npos);
  EXPECT_NE(render_markdown(*m).find("Nothing to recommend yet"), std::string::npos);
  EXPECT_EQ(validate_with_schema(render_json(*m), dir_), 0) << read_file(dir_ + "/validate.log");
}

TEST_F(ReportStudyTest, SingleTrialAndAllFailedStudiesGiveSensibleReports) {
  auto one = build_report_study(dir_ + "/one.db", 1);
  auto m = build_report_model(*one.store, "");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->recommendation.trial, 0);
  EXPECT_TRUE(m->recommendation.ties.empty());
  EXPECT_NE(m->recommendation.spend_more.find("No measured configuration"), std::string::npos);
  Marks marks = marks_of(render_html(*m));
  EXPECT_EQ(total(marks["quadrant"]), 1u);
  EXPECT_EQ(total(marks["climb"]), 1u);
  EXPECT_EQ(validate_with_schema(render_json(*m), dir_), 0) << read_file(dir_ + "/validate.log");

  auto failed = build_report_study(dir_ + "/failed.db", 3, {0, 1, 2});
  auto f = build_report_model(*failed.store, "");
  ASSERT_TRUE(f.ok());
  EXPECT_FALSE(f->recommendation.available);
  EXPECT_NE(f->recommendation.headline.find("no trial completed (3 failed)"), std::string::npos);
  ASSERT_EQ(f->recommendation.reasons.size(), 1u);
  EXPECT_NE(f->recommendation.reasons[0].find("3 x engine start failed"), std::string::npos);
  EXPECT_EQ(total(marks_of(render_html(*f))["climb"]), 3u);  // the climb shows the failures
  const std::string md = render_markdown(*f);
  EXPECT_NE(md.find("KV cache of 8 sequences"), std::string::npos);
  EXPECT_EQ(validate_with_schema(render_json(*f), dir_), 0) << read_file(dir_ + "/validate.log");
}

TEST_F(ReportStudyTest, NoFeasibleTrialShowsTheClosestAndWhyAndAnUnreadableExperimentWarns) {
  ReportInputs in;
  in.row.name = "x";
  in.row.yaml_text = "name: [unclosed";
  const Experiment ex = testing::report_experiment();
  for (int64_t id = 0; id < 3; ++id) {
    TrialRecord r = testing::realistic_record(ex, id, "f32", 256, "static");
    r.feasible = false;
    r.constraints = {{"cost", 0.4}, {"efficiency", -0.1}, {"goal", -1}};
    r.efficiency = 0.1 * (id + 1);
    in.trials.push_back(r);
  }
  const ReportModel m = build_report_model(in);
  EXPECT_FALSE(m.recommendation.available);
  EXPECT_EQ(m.recommendation.trial, 2);  // the highest E, shown as the closest
  EXPECT_NE(m.recommendation.headline.find("No configuration meets all constraints yet"), std::string::npos);
  ASSERT_GE(m.recommendation.reasons.size(), 2u);
  EXPECT_NE(m.recommendation.reasons[0].find("above R0"), std::string::npos);
  // Without a readable experiment, R0 is recovered from cost = (R - R0) / R0 = 0.4.
  ASSERT_EQ(m.trials[0].violations.size(), 1u);
  EXPECT_EQ(m.trials[0].violations[0].constraint, "cost");
  EXPECT_EQ(m.trials[0].violations[0].text, "R $" + format_number(in.trials[0].cost.usd_per_hour, 4) + "/h > R0 $" +
                                                format_number(in.trials[0].cost.usd_per_hour / 1.4, 4) + "/h");
  ASSERT_EQ(m.warnings.size(), 1u);
  EXPECT_NE(m.warnings[0].find("could not be read"), std::string::npos);
  EXPECT_NE(render_html(m).find("class=\"card warn\""), std::string::npos);
  EXPECT_EQ(validate_with_schema(render_json(m), dir_), 0) << read_file(dir_ + "/validate.log");
}

// A trial below a quality floor, one that cannot reach the goal and a feasible one: the table says
// why each infeasible trial is out, in all three formats.
TEST_F(ReportStudyTest, TrialTableSaysWhichConstraintsAnInfeasibleTrialBreaks) {
  std::string yaml = testing::kReportExperimentYaml;
  const std::string objective = "objective: {r0_usd_per_hour: 2.0, e0: 0.4,";
  ASSERT_NE(yaml.find(objective), std::string::npos);
  yaml.replace(yaml.find(objective), objective.size(), objective + " floors: {Cm: 0.82},");
  auto ex = parse_experiment(yaml, "floors.yaml", "/tmp", false);
  ASSERT_TRUE(ex.ok()) << ex.status().to_string();
  ReportInputs in;
  in.row.name = ex->name;
  in.row.yaml_text = yaml;
  in.experiment = *ex;
  // Cm = 0.88 - 0.1 x (1 - 64 / 256) = 0.805 < 0.82 at a history budget of 64; 0.88 at 256.
  in.trials.push_back(testing::realistic_record(*ex, 0, "q8_0", 64, "continuous"));
  in.trials.push_back(testing::realistic_record(*ex, 1, "q8_0", 256, "continuous"));
  TrialRecord slow = testing::realistic_record(*ex, 2, "f32", 256, "static");
  ReplicaMeasure none;  // no load met the SLOs: capacity 0
  none.cpu_cores_per_replica = 2;
  ASSERT_TRUE(evaluate_record(slow, none, *ex).ok());
  slow.load_curve = {{0.5, 0.5, 0.2, 900, 20, 4500, 0.4}, {1.0, 0.9, 0.1, 1500, 30, 7000, 0.1}};
  in.trials.push_back(slow);
  ASSERT_NEAR(in.trials[0].indicators.completeness.value, 0.805, 1e-12);
  ASSERT_FALSE(in.trials[0].feasible);
  ASSERT_TRUE(in.trials[1].feasible);
  ASSERT_FALSE(in.trials[2].feasible);

  const ReportModel m = build_report_model(in);
  ASSERT_EQ(m.trials.size(), 3u);
  const std::string floor_text = "completeness Cm 0.805 < floor 0.82";
  ASSERT_EQ(m.trials[0].violations.size(), 1u);
  EXPECT_EQ(m.trials[0].violations[0].constraint, "min_completeness");
  EXPECT_NEAR(m.trials[0].violations[0].amount, (0.82 - 0.805) / 0.82, 1e-12);
  EXPECT_EQ(m.trials[0].violations[0].text, floor_text);
  EXPECT_TRUE(m.trials[1].violations.empty());
  // The unreachable goal explains the infinite R and zero E, so it is the one reason given.
  const std::string goal_text =
      "goal unreachable: the SLOs fail even at the lightest load tested (0.5 req/s): time to first token (p95) 900 ms > 800 ms, "
      "end-to-end (p95) 4500 ms > 4000 ms";
  ASSERT_EQ(m.trials[2].violations.size(), 1u);
  EXPECT_EQ(m.trials[2].violations[0].constraint, "goal");
  EXPECT_EQ(m.trials[2].violations[0].text, goal_text);
  EXPECT_EQ(m.recommendation.trial, 1);

  const std::string html = render_html(m);
  const size_t row0 = html.find("data-trial-row=\"0\"");
  ASSERT_NE(row0, std::string::npos);
  const std::string row0_html = html.substr(row0, html.find("</tr>", row0) - row0);
  EXPECT_NE(row0_html.find("completeness Cm 0.805 &lt; floor 0.82"), std::string::npos) << row0_html;
  EXPECT_NE(html.find("4500 ms &gt; 4000 ms"), std::string::npos);

  const std::string md = render_markdown(m);
  const std::regex md_row0(R"(\n\| 0 \| complete \|[^\n]*\| no \|[^\n]*completeness Cm 0\.805 < floor 0\.82 \|\n)");
  EXPECT_TRUE(std::regex_search(md, md_row0)) << md;
  EXPECT_NE(md.find(goal_text), std::string::npos);

  const std::string text = render_json(m);
  EXPECT_EQ(validate_with_schema(text, dir_), 0) << read_file(dir_ + "/validate.log");
  const auto j = nlohmann::json::parse(text);
  ASSERT_EQ(j["trials"][0]["violations"].size(), 1u);
  EXPECT_EQ(j["trials"][0]["violations"][0]["constraint"], "min_completeness");
  EXPECT_EQ(j["trials"][0]["violations"][0]["text"], floor_text);
  EXPECT_TRUE(j["trials"][1]["violations"].empty());
  EXPECT_EQ(j["trials"][2]["violations"][0]["text"], goal_text);
  // The schema holds violations to its shape: an unknown field is rejected.
  auto broken = j;
  broken["trials"][0]["violations"][0]["why"] = "x";
  EXPECT_NE(validate_with_schema(broken.dump(), dir_), 0);
}

TEST_F(ReportStudyTest, UnknownExperimentNamesTheStoredOnes) {
  auto s = build_report_study(dir_ + "/study.db", 1);
  auto m = build_report_model(*s.store, "nope");
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), StatusCode::kNotFound);
  EXPECT_NE(m.status().message().find("support-desk-cpu"), std::string::npos);
}

TEST_F(ReportStudyTest, MarkdownHasTheSameContentAsTables) {
  auto s = build_report_study(dir_ + "/study.db", 5, {3});
  auto m = build_report_model(*s.store, "");
  ASSERT_TRUE(m.ok());
  const std::string md = render_markdown(*m);
  EXPECT_NE(md.find(m->recommendation.headline), std::string::npos);
  for (const auto& c : m->charts) EXPECT_NE(md.find("### " + c.title), std::string::npos) << c.id;
  // One table row per trial in the trial table.
  const std::regex row(R"(\n\| \d+( \*\*\(recommended\)\*\*)? \| (complete|failed) \|)");
  EXPECT_EQ(std::distance(std::sregex_iterator(md.begin(), md.end(), row), std::sregex_iterator()), 5);
  ASSERT_TRUE(write_report(*m, ReportFormat::kMarkdown, dir_ + "/r.md").ok());
  EXPECT_EQ(read_file(dir_ + "/r.md"), md);
  EXPECT_FALSE(write_report(*m, ReportFormat::kHtml, dir_ + "/no/such/dir/r.html").ok());
  EXPECT_EQ(parse_report_format("md"), ReportFormat::kMarkdown);
  EXPECT_FALSE(parse_report_format("pdf").has_value());
}

// The summary line counts every state: a study whose run was killed keeps its interrupted trial as
// "running" with a heartbeat that stopped, and the report says how to finish it instead of calling it
// "other"; a trial whose heartbeat is recent is running.
TEST(ReportSummary, NamesPrunedRunningAndInterruptedTrialsAndHowToResume) {
  const Experiment ex = testing::report_experiment();
  std::vector<TrialRecord> trials;
  for (int64_t id = 0; id < 6; ++id) trials.push_back(testing::realistic_record(ex, id, "q8_0", 256, "continuous"));
  const double now = 1.8e9;
  trials[2].state = TrialState::kFailed;
  trials[3].state = TrialState::kPruned;
  trials[4].state = TrialState::kRunning, trials[4].heartbeat_at = now - 2;                      // its run is alive
  trials[5].state = TrialState::kRunning, trials[5].heartbeat_at = now - kStaleHeartbeatS - 1;  // its run is gone
  ReportInputs in;
  in.row.name = "killed";
  in.row.yaml_text = testing::kReportExperimentYaml;
  in.experiment = ex;
  in.trials = trials;
  in.now = now;
  const ReportModel m = build_report_model(in);
  EXPECT_NE(m.summary.find("6 trials: 2 complete"), std::string::npos) << m.summary;
  EXPECT_NE(m.summary.find("1 failed, 1 pruned, 1 running, 1 interrupted (its run stopped: `effitune run "
                           "EXPERIMENT.yaml --db FILE --resume` runs it again)."),
            std::string::npos)
      << m.summary;
  // A finished study says none of them.
  in.trials.resize(3);
  const ReportModel done = build_report_model(in);
  for (const char* word : {"pruned", "running", "interrupted"}) EXPECT_EQ(done.summary.find(word), std::string::npos) << done.summary;
  EXPECT_NE(done.summary.find("1 failed."), std::string::npos) << done.summary;
}

}  // namespace
}  // namespace effitune::orchestrator
