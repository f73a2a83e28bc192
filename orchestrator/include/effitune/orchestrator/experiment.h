// Experiment: one tuning study as an experiment YAML file describes it (schema: experiments/README.md).
// Plain data: no YAML types leave experiment.cpp. The raw text is kept for reproducibility, so a
// study records exactly what it was asked to do.
//
// Thread safety: the functions are pure (they read files); an Experiment is a value.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "effitune/common/status.h"
#include "effitune/search/factory.h"
#include "effitune/search/space.h"

namespace effitune::orchestrator {

struct ModelRef {
  // Absolute path of the model file (resolved against the YAML file's folder), or "synthetic:NAME"
  // passed through unchanged (EngineConfig::model_path accepts both).
  std::string path;
  std::optional<std::string> tokenizer_path;  // absolute; nullopt: the model file carries it
  bool synthetic() const { return path.rfind("synthetic:", 0) == 0; }
};

struct EngineSection {
  std::string backend = "cpu";     // "cpu" | "cuda"
  std::vector<int32_t> devices;    // CUDA device ordinals; empty: device 0 (cuda) / none (cpu)
  int32_t threads = 0;             // CPU threads; 0 = hardware concurrency
  int32_t context_length = 0;      // 0 = the model's max_seq_len
  int32_t max_sequences = 8;       // KV slots of one replica
};

struct WorkloadSection {
  std::string eval_set_path;       // absolute path of the evaluation set (JSONL)
  int32_t items = 0;               // items to evaluate; 0 = all of them
  int32_t repeats = 1;             // K repeats per prompt for repeat agreement (>= 1)
  double load_test_s = 30;         // duration of one load-test step, warm-up excluded (> 0)
  double warmup_s = 5;             // warm-up before each step, excluded from the figures (>= 0)
  int32_t max_new_tokens = 0;      // hard generation cap when no response_budget dimension; 0 = none
  int32_t capacity_probes = 8;     // load tests the capacity search may run (2-64): precision vs trial time
  std::string capacity_search = "bisect";  // or "pchip" (probes/capacity_search.h)
};

// The volumetry goal: at least one of users (closed loop) and requests_per_s (open loop) is set.
struct GoalSection {
  std::optional<double> users;           // concurrent users (> 0)
  double think_time_s = 0;               // users' think time between requests (>= 0)
  std::optional<double> requests_per_s;  // offered rate (> 0)
};

// p95 latency SLOs in milliseconds; nullopt: not constrained.
struct SloSection {
  std::optional<double> ttft_p95_ms;
  std::optional<double> tpot_p95_ms;
  std::optional<double> e2e_p95_ms;
};

// Weights of the geometric mean Q (mission.md). Non-negative; at least one positive.
struct QualityWeights {
  double performance = 1;   // P
  double consistency = 1;   // C
  double completeness = 1;  // Cm
  double accuracy = 1;      // A
  double ics = 0;           // ICS; 0 = ratings do not enter Q
};

// Quality floors: per-indicator minimums, constraints like E >= E0. A configuration whose point value
// of a floored indicator is below its floor is infeasible (never recommended); nullopt: no floor.
struct QualityFloors {
  std::optional<double> performance;   // P
  std::optional<double> consistency;   // C
  std::optional<double> completeness;  // Cm
  std::optional<double> accuracy;      // A
  std::optional<double> ics;           // ICS (a configuration without ratings is below any floor)
  std::optional<double> quality;       // Q
  bool any() const { return performance || consistency || completeness || accuracy || ics || quality; }
};

struct ObjectiveSection {
  double r0_usd_per_hour = 0;            // R0, the running-cost ceiling (> 0)
  double e0 = 0;                         // E0, the efficiency floor, in Q per (usd/hour) (>= 0)
  QualityWeights weights;
  QualityFloors floors;                  // each in [0, 1]
  double quality_split = 0.5;            // magic quadrant: Q >= split is "high quality", in [0, 1]
  double cost_split_usd_per_hour = 0;    // magic quadrant: R >= split is "high cost"; 0 = R0 / 2
  int32_t e1_patience = 3;               // E1: the last k improvements (>= 1) ...
  double e1_min_relative_gain = 0.01;    // ... each below this relative gain in E (>= 0) stop the climb
};

struct PriceTable {
  std::map<std::string, double> usd_per_gpu_hour;  // by GPU model, e.g. "H100" -> 2.5 (>= 0)
  double usd_per_cpu_core_hour = 0;                // >= 0
  double usd_per_kwh = 0;                          // >= 0
};

struct StrategySection {
  std::string name = "random";       // a search::strategy_names() entry
  search::StrategyParams params;     // passed to search::make_strategy as they are
  int64_t max_trials = 20;           // >= 1
  double max_wall_s = 0;             // 0 = no wall-clock limit; else > 0
};

struct Experiment {
  std::string name;        // [A-Za-z0-9_.-]+, the study's key
  std::string yaml_path;   // absolute path of the file read ("" when parsed from text)
  std::string yaml_text;   // the file's bytes, unchanged
  ModelRef model;
  EngineSection engine;
  WorkloadSection workload;
  GoalSection goal;
  SloSection slo;
  ObjectiveSection objective;
  PriceTable prices;
  search::Space space;     // the `space:` entries, in file order (parents first)
  StrategySection strategy;
  uint64_t seed = 0;
};

// The categorical values the loop understands for the well-known dimensions; the reader rejects
// others with the list. history_budget, response_budget and gpu_count must be integer dimensions.
inline constexpr const char* kQuantValues[] = {"f32", "f16", "bf16", "q8_0", "q4_0"};
inline constexpr const char* kDecodingValues[] = {"greedy", "sample", "beam"};

// Reads and validates an experiment file. Every error is kInvalidArgument (kNotFound for a missing
// experiment, model or eval-set file) with a message "FILE:LINE:COLUMN: key 'a.b': expected ..., got
// ...; <what to do>". Checks: unknown keys, wrong types, impossible ranges (lo > hi, negative budgets or
// weights, ...), a space that search::Space rejects, an unknown strategy or bad strategy parameters,
// a model or eval-set file that does not exist. Nothing is written anywhere.
Result<Experiment> load_experiment(const std::string& path);

// The same on text already in memory. Relative paths resolve against `base_dir`; `source` names the
// text in messages (e.g. the file name). When `check_files` is false, model and eval-set files are
// not required to exist (used by the fuzz target and by tests of the schema alone).
Result<Experiment> parse_experiment(std::string_view yaml_text, std::string_view source,
                                    const std::string& base_dir, bool check_files = true);

// Lowercase hex SHA-256 (FIPS 180-4) of bytes / of a file's contents (kNotFound if it cannot be read).
std::string sha256_hex(std::string_view bytes);
Result<std::string> sha256_file(const std::string& path);

}  // namespace effitune::orchestrator
