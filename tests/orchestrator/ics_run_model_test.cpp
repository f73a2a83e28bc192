// ICS in the loop, through the real binary: an experiment with an ICS weight > 0 is refused while the
// study holds no ratings (before any trial is measured); once `effitune feedback import` has stored
// real ratings, `effitune run` completes its trials with the ICS indicator set from the ratings of
// each configuration, and Q includes it with its weight. (The trial child does not open the study:
// the parent hands it the ICS.)
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "effitune/orchestrator/study_store.h"
#include "support/paths.h"
#include "support/run_command.h"

namespace effitune::orchestrator {
namespace {

TEST(IcsRun, RatingsReachTheTrialsAndQ) {
  const std::string exe = testing::binary_dir() + "/cli/effitune";
  ASSERT_TRUE(std::filesystem::exists(exe)) << exe << " is missing: build the `effitune` target first";
  const std::string dir = testing::make_temp_dir("ics-run");
  const std::string desk = testing::source_dir() + "/experiments/support-desk";
  const std::string yaml = dir + "/ics.yaml";
  std::ofstream(yaml) << "name: ics-run\n"
                         "model: " << desk << "/model.gguf\n"
                         "engine: {backend: cpu, threads: 1, max_sequences: 4}\n"
                         "workload: {eval_set: " << desk << "/dev.jsonl, items: 3, load_test_s: 0.2, warmup_s: 0.05,"
                         " capacity_probes: 3, max_new_tokens: 8}\n"
                         "goal: {requests_per_s: 5}\n"
                         "slo: {e2e_p95_ms: 500}\n"
                         "objective: {r0_usd_per_hour: 5, weights: {P: 1, C: 1, Cm: 1, A: 1, ICS: 2}, e1_patience: 100}\n"
                         "prices: {usd_per_cpu_core_hour: 0.05}\n"
                         "space:\n"
                         "  - {name: quant, type: categorical, values: [f32, q8_0]}\n"
                         "strategy: {name: grid, max_trials: 2}\n";
  const std::string db = dir + "/study.db";

  testing::CommandResult refused = testing::run_command(exe + " run " + yaml + " --db " + db + " --quiet", dir + "/run0.log");
  EXPECT_EQ(refused.exit_code, 1) << refused.output;
  EXPECT_NE(refused.output.find("feedback import"), std::string::npos) << refused.output;

  // Stars for both configurations, keyed both ways the key may be written; one request-id rating that
  // matches no configuration (it only enters the study-wide pool).
  const std::string ratings = dir + "/ratings.jsonl";
  std::ofstream(ratings) << "{\"configuration\": \"quant=q8_0\", \"rating\": 5}\n"
                            "{\"configuration\": \"quant=q8_0\", \"rating\": 4}\n"
                            "{\"configuration\": \"quant=q8_0\", \"rating\": 4}\n"
                            "{\"configuration\": \"{\\\"quant\\\": \\\"f32\\\"}\", \"rating\": 2}\n"
                            "{\"configuration\": \"{\\\"quant\\\": \\\"f32\\\"}\", \"rating\": 3}\n";
  testing::CommandResult imported = testing::run_command(exe + " feedback import " + ratings + " --db " + db + " --experiment ics-run", dir + "/import.log");
  ASSERT_EQ(imported.exit_code, 0) << imported.output;

  testing::CommandResult ran = testing::run_command(exe + " run " + yaml + " --db " + db + " --quiet", dir + "/run1.log");
  ASSERT_EQ(ran.exit_code, 0) << ran.output;

  auto store = StudyStore::open(db);
  ASSERT_TRUE(store.ok());
  auto trials = (*store)->list_trials("ics-run");
  ASSERT_TRUE(trials.ok());
  ASSERT_EQ(trials->size(), 2u);
  for (const auto& t : *trials) {
    ASSERT_EQ(t.state, TrialState::kComplete) << t.failure_reason;
    const bool q8 = t.configuration_json.find("q8_0") != std::string::npos;
    auto ics = t.indicators.parts.find("ics");
    ASSERT_NE(ics, t.indicators.parts.end()) << "trial " << t.id << " has no ICS";
    // Mean of (stars - 1) / 4 over the configuration's own ratings.
    const double want = q8 ? (1.0 + 0.75 + 0.75) / 3 : (0.25 + 0.5) / 2;
    EXPECT_NEAR(ics->second.value, want, 1e-12) << t.configuration_json;
    EXPECT_EQ(ics->second.n, q8 ? 3 : 2);
    EXPECT_LE(ics->second.ci_low, want);
    EXPECT_GE(ics->second.ci_high, want);
    const auto m = nlohmann::json::parse(t.measurements_json);
    EXPECT_EQ(m["ics"]["source"], "configuration");
    // Q = the weighted geometric mean with ICS at weight 2 of 6, from the stored indicators.
    const auto& in = t.indicators;
    const double q = std::exp((std::log(in.performance.value) + std::log(in.consistency.value) +
                               std::log(in.completeness.value) + std::log(in.accuracy.value) +
                               2 * std::log(ics->second.value)) / 6);
    EXPECT_NEAR(in.quality.value, q, 1e-9) << t.configuration_json;
  }
}

}  // namespace
}  // namespace effitune::orchestrator
