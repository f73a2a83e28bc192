#include "effitune/orchestrator/experiment.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <vector>

#include "effitune/orchestrator/study_json.h"
#include "support/paths.h"

namespace effitune::orchestrator {
namespace {

// Line numbers matter: the bad-file tests replace one line and expect it in the message.
const std::vector<std::string> kLines = {
    "name: quick-test",                                                                      // 1
    "model: model.gguf",                                                                     // 2
    "engine:",                                                                               // 3
    "  backend: cpu",                                                                        // 4
    "  threads: 2",                                                                          // 5
    "workload:",                                                                             // 6
    "  eval_set: data/dev.jsonl",                                                            // 7
    "  items: 40",                                                                           // 8
    "  repeats: 3",                                                                          // 9
    "  load_test_s: 10",                                                                     // 10
    "  warmup_s: 2",                                                                         // 11
    "goal:",                                                                                 // 12
    "  users: 4",                                                                            // 13
    "  think_time_s: 1.5",                                                                   // 14
    "slo:",                                                                                  // 15
    "  ttft_p95_ms: 500",                                                                    // 16
    "  e2e_p95_ms: 5000",                                                                    // 17
    "objective:",                                                                            // 18
    "  r0_usd_per_hour: 1.0",                                                                // 19
    "  e0: 0.5",                                                                             // 20
    "  weights: {P: 1, C: 1, Cm: 1, A: 2}",                                                  // 21
    "  quality_split: 0.6",                                                                  // 22
    "  e1_patience: 3",                                                                      // 23
    "  e1_min_relative_gain: 0.02",                                                          // 24
    "prices:",                                                                               // 25
    "  usd_per_cpu_core_hour: 0.05",                                                         // 26
    "  usd_per_kwh: 0.15",                                                                   // 27
    "  usd_per_gpu_hour: {H100: 2.5}",                                                       // 28
    "space:",                                                                                // 29
    "  - {name: history_budget, type: int, lo: 64, hi: 384, step: 64}",                      // 30
    "  - {name: response_budget, type: int, lo: 16, hi: 64, step: 16}",                      // 31
    "  - {name: quant, type: categorical, values: [f32, q8_0, q4_0]}",                       // 32
    "  - {name: batch_policy, type: categorical, values: [static, continuous]}",             // 33
    "  - {name: max_batch, type: int, lo: 1, hi: 8, when: {batch_policy: [static, continuous]}}",  // 34
    "  - {name: decoding, type: categorical, values: [greedy, sample, beam]}",               // 35
    "  - {name: temperature, type: float, lo: 0.2, hi: 1.2, when: {decoding: sample}}",      // 36
    "  - {name: beam_width, type: int, lo: 2, hi: 4, when: {decoding: [beam]}}",             // 37
    "  - {name: gpu_count, type: int, lo: 1, hi: 1}",                                        // 38
    "strategy:",                                                                             // 39
    "  name: random",                                                                        // 40
    "  params: {max_trials: 30}",                                                            // 41
    "  max_trials: 30",                                                                      // 42
    "  max_wall_s: 540",                                                                     // 43
    "seed: 42",                                                                              // 44
};

class ExperimentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = effitune::testing::make_temp_dir("experiment-test");
    std::filesystem::create_directories(dir_ + "/data");
    std::ofstream(dir_ + "/model.gguf") << "GGUF placeholder: the reader only checks that it exists";
    std::ofstream(dir_ + "/data/dev.jsonl") << "{\"id\": \"a\"}\n";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Writes the base file with line `line` (1-based) replaced by `text` (0: unchanged).
  std::string write(int line = 0, const std::string& text = "") {
    std::ostringstream os;
    for (size_t i = 0; i < kLines.size(); ++i) os << (static_cast<int>(i) + 1 == line ? text : kLines[i]) << "\n";
    const std::string path = dir_ + "/quick.yaml";
    std::ofstream(path) << os.str();
    return path;
  }

  // Loads the file with one line replaced and expects an error at `expected_line` mentioning `needle`.
  void expect_error(int line, const std::string& text, int expected_line, const std::string& needle,
                    StatusCode code = StatusCode::kInvalidArgument) {
    auto e = load_experiment(write(line, text));
    ASSERT_FALSE(e.ok()) << "line " << line << " = " << text;
    EXPECT_EQ(e.status().code(), code) << e.status().to_string();
    const std::string& msg = e.status().message();
    EXPECT_NE(msg.find("quick.yaml:" + std::to_string(expected_line) + ":"), std::string::npos) << msg;
    EXPECT_NE(msg.find(needle), std::string::npos) << msg;
  }

  std::string dir_;
};

TEST_F(ExperimentTest, ReadsEverySection) {
  const std::string path = write();
  auto loaded = load_experiment(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status().to_string();
  const Experiment& e = loaded.value();
  EXPECT_EQ(e.name, "quick-test");
  EXPECT_EQ(e.model.path, (std::filesystem::path(dir_) / "model.gguf").lexically_normal().string());
  EXPECT_FALSE(e.model.synthetic());
  EXPECT_EQ(e.engine.backend, "cpu");
  EXPECT_EQ(e.engine.threads, 2);
  EXPECT_EQ(e.workload.eval_set_path, (std::filesystem::path(dir_) / "data/dev.jsonl").lexically_normal().string());
  EXPECT_EQ(e.workload.items, 40);
  EXPECT_EQ(e.workload.repeats, 3);
  EXPECT_DOUBLE_EQ(e.workload.load_test_s, 10);
  EXPECT_DOUBLE_EQ(e.workload.warmup_s, 2);
  ASSERT_TRUE(e.goal.users.has_value());
  EXPECT_DOUBLE_EQ(*e.goal.users, 4);
  EXPECT_DOUBLE_EQ(e.goal.think_time_s, 1.5);
  EXPECT_FALSE(e.goal.requests_per_s.has_value());
  EXPECT_DOUBLE_EQ(*e.slo.ttft_p95_ms, 500);
  EXPECT_FALSE(e.slo.tpot_p95_ms.has_value());
  EXPECT_DOUBLE_EQ(*e.slo.e2e_p95_ms, 5000);
  EXPECT_DOUBLE_EQ(e.objective.r0_usd_per_hour, 1.0);
  EXPECT_DOUBLE_EQ(e.objective.e0, 0.5);
  EXPECT_DOUBLE_EQ(e.objective.weights.accuracy, 2);
  EXPECT_DOUBLE_EQ(e.objective.weights.ics, 0);
  EXPECT_DOUBLE_EQ(e.objective.quality_split, 0.6);
  EXPECT_EQ(e.objective.e1_patience, 3);
  EXPECT_DOUBLE_EQ(e.objective.e1_min_relative_gain, 0.02);
  EXPECT_DOUBLE_EQ(e.prices.usd_per_cpu_core_hour, 0.05);
  EXPECT_DOUBLE_EQ(e.prices.usd_per_kwh, 0.15);
  EXPECT_DOUBLE_EQ(e.prices.usd_per_gpu_hour.at("H100"), 2.5);
  EXPECT_EQ(e.strategy.name, "random");
  EXPECT_EQ(std::get<int64_t>(e.strategy.params.at("max_trials")), 30);
  EXPECT_EQ(e.strategy.max_trials, 30);
  EXPECT_DOUBLE_EQ(e.strategy.max_wall_s, 540);
  EXPECT_EQ(e.seed, 42u);

  ASSERT_EQ(e.space.size(), 9u);
  const auto& dims = e.space.dimensions();
  EXPECT_EQ(dims[0].name, "history_budget");
  EXPECT_EQ(dims[0].int_lo, 64);
  EXPECT_EQ(dims[0].int_hi, 384);
  EXPECT_EQ(dims[0].step, 64);
  EXPECT_EQ(dims[2].choices, (std::vector<std::string>{"f32", "q8_0", "q4_0"}));
  ASSERT_TRUE(dims[6].condition.has_value());
  EXPECT_EQ(dims[6].condition->parent, "decoding");
  EXPECT_EQ(dims[6].condition->values, std::vector<std::string>{"sample"});
  EXPECT_DOUBLE_EQ(dims[6].float_lo, 0.2);
  // temperature is a float dimension, so the space has no finite cardinality.
  EXPECT_FALSE(e.space.cardinality().has_value());

  std::ifstream in(path);
  std::stringstream raw;
  raw << in.rdbuf();
  EXPECT_EQ(e.yaml_text, raw.str());
  EXPECT_EQ(e.yaml_path, std::filesystem::path(path).lexically_normal().string());

  auto j = nlohmann::json::parse(experiment_to_json(e));
  EXPECT_EQ(j["space"].size(), 9u);
  EXPECT_EQ(j["space"][7]["when"]["decoding"][0], "beam");
  EXPECT_EQ(j["objective"]["weights"]["A"], 2.0);
}

TEST_F(ExperimentTest, SyntheticModelAndMappingForm) {
  auto e = load_experiment(write(2, "model: synthetic:llama-1b"));
  ASSERT_TRUE(e.ok()) << e.status().to_string();
  EXPECT_EQ(e->model.path, "synthetic:llama-1b");
  EXPECT_TRUE(e->model.synthetic());
  auto m = load_experiment(write(2, "model: {path: model.gguf, tokenizer: data/dev.jsonl}"));
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  ASSERT_TRUE(m->model.tokenizer_path.has_value());
  EXPECT_EQ(*m->model.tokenizer_path, (std::filesystem::path(dir_) / "data/dev.jsonl").lexically_normal().string());
}

TEST_F(ExperimentTest, UnknownKey) { expect_error(9, "  repets: 3", 9, "repets"); }
TEST_F(ExperimentTest, UnknownTopLevelKey) { expect_error(44, "sed: 42", 44, "one of: name, model"); }
TEST_F(ExperimentTest, WrongTypeText) { expect_error(8, "  items: many", 8, "expected an integer"); }
TEST_F(ExperimentTest, QuotedNumberIsText) { expect_error(8, "  items: \"40\"", 8, "quoted"); }
TEST_F(ExperimentTest, FloatForInteger) { expect_error(9, "  repeats: 2.5", 9, "expected an integer"); }
TEST_F(ExperimentTest, ListForNumber) { expect_error(16, "  ttft_p95_ms: [500]", 16, "got a list"); }
TEST_F(ExperimentTest, LoAboveHi) {
  expect_error(30, "  - {name: history_budget, type: int, lo: 400, hi: 384, step: 64}", 30, "lo <= hi");
}
TEST_F(ExperimentTest, FloatLoAboveHi) {
  expect_error(36, "  - {name: temperature, type: float, lo: 1.5, hi: 1.2, when: {decoding: sample}}", 36, "lo <= hi");
}
TEST_F(ExperimentTest, NegativeBudget) {
  expect_error(31, "  - {name: response_budget, type: int, lo: -16, hi: 64, step: 16}", 31, ">= 1");
}
TEST_F(ExperimentTest, NegativeWeight) { expect_error(21, "  weights: {P: 1, C: -1}", 21, "cannot be negative"); }
TEST_F(ExperimentTest, AllWeightsZero) { expect_error(21, "  weights: {P: 0, C: 0, Cm: 0, A: 0}", 21, "positive"); }
TEST_F(ExperimentTest, NegativeR0) { expect_error(19, "  r0_usd_per_hour: -1", 19, "> 0"); }
TEST_F(ExperimentTest, NegativeRepeats) { expect_error(9, "  repeats: 0", 9, ">= 1"); }
TEST_F(ExperimentTest, NegativeMaxTrials) { expect_error(42, "  max_trials: -5", 42, ">= 1"); }
TEST_F(ExperimentTest, QualitySplitAboveOne) { expect_error(22, "  quality_split: 1.5", 22, "[0, 1]"); }
TEST_F(ExperimentTest, MissingModelFile) {
  expect_error(2, "model: missing.gguf", 2, "missing.gguf", StatusCode::kNotFound);
}
TEST_F(ExperimentTest, MissingEvalSet) {
  expect_error(7, "  eval_set: data/none.jsonl", 7, "none.jsonl", StatusCode::kNotFound);
}
TEST_F(ExperimentTest, MissingRequiredKey) {
  // The objective mapping starts on line 19 once r0 is gone; the message names the missing key.
  expect_error(19, "  cost_split_usd_per_hour: 0.5", 19, "'objective.r0_usd_per_hour'");
}
TEST_F(ExperimentTest, RepeatedKey) { expect_error(20, "  e1_patience: 2", 23, "each key once"); }
TEST_F(ExperimentTest, UnknownQuantValue) {
  expect_error(32, "  - {name: quant, type: categorical, values: [f32, int3]}", 32, "one of f32");
}
TEST_F(ExperimentTest, UnknownBatchPolicy) {
  expect_error(33, "  - {name: batch_policy, type: categorical, values: [static, eager]}", 33, "continuous");
}
TEST_F(ExperimentTest, BudgetMustBeInteger) {
  expect_error(30, "  - {name: history_budget, type: float, lo: 1, hi: 2}", 30, "expected int");
}
TEST_F(ExperimentTest, ConditionOnUnknownParent) {
  expect_error(37, "  - {name: beam_width, type: int, lo: 2, hi: 4, when: {decod: [beam]}}", 37, "space[7]");
}
TEST_F(ExperimentTest, UnknownType) {
  expect_error(38, "  - {name: gpu_count, type: integer, lo: 1, hi: 1}", 38, "categorical, int or float");
}
TEST_F(ExperimentTest, QualityFloors) {
  // Line 22 holds the floors instead of the quadrant split for this test.
  auto e = load_experiment(write(22, "  floors: {Cm: 0.8, A: 0.9, Q: 0.5}"));
  ASSERT_TRUE(e.ok()) << e.status().to_string();
  EXPECT_DOUBLE_EQ(*e->objective.floors.completeness, 0.8);
  EXPECT_DOUBLE_EQ(*e->objective.floors.accuracy, 0.9);
  EXPECT_DOUBLE_EQ(*e->objective.floors.quality, 0.5);
  EXPECT_FALSE(e->objective.floors.performance.has_value());
  EXPECT_FALSE(e->objective.floors.ics.has_value());
  auto none = load_experiment(write());
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->objective.floors.any());
}
TEST_F(ExperimentTest, FloorAboveOne) { expect_error(22, "  floors: {Cm: 1.2}", 22, "a floor in [0, 1]"); }
TEST_F(ExperimentTest, NegativeFloor) { expect_error(22, "  floors: {A: -0.1}", 22, "objective.floors.A"); }
TEST_F(ExperimentTest, UnknownFloorKey) { expect_error(22, "  floors: {completeness: 0.8}", 22, "completeness"); }
TEST_F(ExperimentTest, FloorsMustBeAMapping) { expect_error(22, "  floors: 0.8", 22, "objective.floors"); }
TEST_F(ExperimentTest, CapacityProbes) {
  auto e = load_experiment(write(11, "  capacity_probes: 3"));
  ASSERT_TRUE(e.ok()) << e.status().to_string();
  EXPECT_EQ(e->workload.capacity_probes, 3);
  EXPECT_EQ(load_experiment(write())->workload.capacity_probes, 8);
  expect_error(11, "  capacity_probes: 1", 11, ">= 2");
  expect_error(11, "  capacity_probes: 65", 11, "at most 64");
}
TEST_F(ExperimentTest, CapacitySearch) {
  auto e = load_experiment(write(11, "  capacity_search: pchip"));
  ASSERT_TRUE(e.ok()) << e.status().to_string();
  EXPECT_EQ(e->workload.capacity_search, "pchip");
  EXPECT_EQ(load_experiment(write())->workload.capacity_search, "bisect");
  expect_error(11, "  capacity_search: newton", 11, "bisect or pchip");
}
TEST_F(ExperimentTest, UnknownStrategy) { expect_error(40, "  name: annealing", 40, "one of"); }
TEST_F(ExperimentTest, BadStrategyParameter) { expect_error(41, "  params: {max_trialz: 3}", 40, "max_trialz"); }
TEST_F(ExperimentTest, GoalNeedsUsersOrRate) { expect_error(13, "  # no users", 14, "users and/or requests_per_s"); }
TEST_F(ExperimentTest, CpuNeedsACorePrice) {
  expect_error(26, "  usd_per_cpu_core_hour: 0", 26, "prices.usd_per_cpu_core_hour");
}
TEST_F(ExperimentTest, BrokenYamlSyntax) {
  auto e = load_experiment(write(13, "  users: [4"));
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("not valid YAML"), std::string::npos) << e.status().message();
  EXPECT_NE(e.status().message().find("quick.yaml:"), std::string::npos) << e.status().message();
}
TEST_F(ExperimentTest, MissingExperimentFile) {
  auto e = load_experiment(dir_ + "/nope.yaml");
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), StatusCode::kNotFound);
}
TEST_F(ExperimentTest, NotAMapping) {
  auto e = parse_experiment("- just\n- a list\n", "list.yaml", dir_, false);
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("list.yaml:1:1"), std::string::npos) << e.status().message();
}

// FIPS 180-2 appendix B test vectors and the well-known digest of the empty string.
TEST(Sha256, PublishedVectors) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(sha256_hex(std::string(1'000'000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256, FileMatchesBytes) {
  const std::string dir = effitune::testing::make_temp_dir("sha-test");
  std::string bytes(200'000, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>((i * 131) % 251);
  std::ofstream(dir + "/f.bin", std::ios::binary) << bytes;
  auto h = sha256_file(dir + "/f.bin");
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h.value(), sha256_hex(bytes));
  EXPECT_EQ(sha256_file(dir + "/none").status().code(), StatusCode::kNotFound);
  std::filesystem::remove_all(dir);
}

TEST(ConfigurationJson, KeepsIntegersRealsAndText) {
  search::Configuration c;
  c.values["history_budget"] = int64_t{256};
  c.values["temperature"] = 1.0;
  c.values["decoding"] = std::string("sample");
  const std::string text = configuration_to_json(c);
  EXPECT_EQ(text, "{\"decoding\":\"sample\",\"history_budget\":256,\"temperature\":1.0}");
  auto back = configuration_from_json(text);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back.value(), c);
  EXPECT_EQ(back->key(), c.key());
  EXPECT_FALSE(configuration_from_json("[1]").ok());
  EXPECT_FALSE(configuration_from_json("{\"a\": [1]}").ok());
}

}  // namespace
}  // namespace effitune::orchestrator

namespace effitune::orchestrator {
namespace {

// The fuzz corpus's valid file must stay valid, so the fuzzer starts from the success path.
TEST(ExperimentFuzzCorpus, ValidSeedParses) {
  const std::string path = effitune::testing::source_dir() + "/tests/fuzz/corpus/experiment_yaml_fuzz/valid.yaml";
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  auto e = parse_experiment(text.str(), "valid.yaml", "/nowhere", false);
  ASSERT_TRUE(e.ok()) << e.status().to_string();
  EXPECT_EQ(e->strategy.name, "tpe");
  EXPECT_EQ(e->space.size(), 6u);
  EXPECT_TRUE(e->space.dimensions()[4].log);
  EXPECT_DOUBLE_EQ(*e->goal.requests_per_s, 2);
  EXPECT_DOUBLE_EQ(e->objective.weights.ics, 0.5);
  EXPECT_EQ(e->workload.eval_set_path, "/nowhere/dev.jsonl");
}

}  // namespace
}  // namespace effitune::orchestrator

namespace effitune::orchestrator {
namespace {

// experiment_to_json carries the quality floors and the capacity-probe budget: the floors written
// back as YAML from the JSON give the same experiment, and unset floors are null.
TEST(ExperimentToJson, FloorsAndCapacityProbesRoundTrip) {
  const std::string base =
      "name: floors-json\nmodel: synthetic:llama-1b\nworkload: {eval_set: dev.jsonl, capacity_probes: 12}\n"
      "goal: {requests_per_s: 3}\nslo: {e2e_p95_ms: 2000}\nprices: {usd_per_cpu_core_hour: 0.05}\n"
      "space:\n  - {name: quant, type: categorical, values: [f32, q8_0]}\nstrategy: {name: grid, max_trials: 2}\n";
  auto e = parse_experiment(base + "objective: {r0_usd_per_hour: 1, e0: 0.1, floors: {Cm: 0.7, A: 0.65, ICS: 0.25, Q: 0.5}}\n",
                            "floors.yaml", "/nowhere", false);
  ASSERT_TRUE(e.ok()) << e.status().to_string();
  const auto j = nlohmann::json::parse(experiment_to_json(*e));
  EXPECT_EQ(j["workload"]["capacity_probes"], 12);
  const auto& floors = j["objective"]["floors"];
  EXPECT_EQ(floors.size(), 6u);
  EXPECT_TRUE(floors["P"].is_null());
  EXPECT_TRUE(floors["C"].is_null());
  EXPECT_DOUBLE_EQ(floors["Cm"].get<double>(), 0.7);
  EXPECT_DOUBLE_EQ(floors["A"].get<double>(), 0.65);
  EXPECT_DOUBLE_EQ(floors["ICS"].get<double>(), 0.25);
  EXPECT_DOUBLE_EQ(floors["Q"].get<double>(), 0.5);

  // Back: the set floors as a YAML flow mapping (JSON numbers are YAML numbers).
  std::string yaml_floors;
  for (const auto& [key, v] : floors.items()) {
    if (!v.is_null()) yaml_floors += (yaml_floors.empty() ? "" : ", ") + key + ": " + v.dump();
  }
  auto back = parse_experiment(base + "objective: {r0_usd_per_hour: 1, e0: 0.1, floors: {" + yaml_floors + "}}\n",
                               "floors-back.yaml", "/nowhere", false);
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  const QualityFloors& a = e->objective.floors;
  const QualityFloors& b = back->objective.floors;
  EXPECT_EQ(a.performance, b.performance);
  EXPECT_EQ(a.consistency, b.consistency);
  EXPECT_EQ(a.completeness, b.completeness);
  EXPECT_EQ(a.accuracy, b.accuracy);
  EXPECT_EQ(a.ics, b.ics);
  EXPECT_EQ(a.quality, b.quality);
  EXPECT_EQ(experiment_to_json(*back), experiment_to_json(*e));

  // No floors: every key is null, and the default probe budget (8) is reported.
  auto none = parse_experiment("name: floors-json\nmodel: synthetic:llama-1b\nworkload: {eval_set: dev.jsonl}\n"
                               "goal: {requests_per_s: 3}\nprices: {usd_per_cpu_core_hour: 0.05}\n"
                               "space:\n  - {name: quant, type: categorical, values: [f32]}\n"
                               "objective: {r0_usd_per_hour: 1}\n",
                               "none.yaml", "/nowhere", false);
  ASSERT_TRUE(none.ok()) << none.status().to_string();
  const auto n = nlohmann::json::parse(experiment_to_json(*none));
  for (const auto& [key, v] : n["objective"]["floors"].items()) EXPECT_TRUE(v.is_null()) << key;
  EXPECT_EQ(n["workload"]["capacity_probes"], 8);
}

// The fuzz corpus's floors seed stays valid, so the fuzzer starts inside the floors branch.
TEST(ExperimentFuzzCorpus, FloorsSeedParses) {
  std::ifstream in(effitune::testing::source_dir() + "/tests/fuzz/corpus/experiment_yaml_fuzz/floors.yaml");
  std::stringstream text;
  text << in.rdbuf();
  auto e = parse_experiment(text.str(), "floors.yaml", "/nowhere", false);
  ASSERT_TRUE(e.ok()) << e.status().to_string();
  const QualityFloors& f = e->objective.floors;
  ASSERT_TRUE(f.performance && f.consistency && f.completeness && f.accuracy && f.ics && f.quality);
  EXPECT_DOUBLE_EQ(*f.completeness, 0.7);
  EXPECT_DOUBLE_EQ(*f.ics, 0.2);
  EXPECT_EQ(e->workload.capacity_probes, 6);
}

}  // namespace
}  // namespace effitune::orchestrator
