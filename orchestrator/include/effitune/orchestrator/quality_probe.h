// The quality probe: runs an evaluation set (probes/dataset.h) through the engine with the chat
// format, the max-tokens split (history budget, response budget), a decoding strategy and the
// engine's quantization, and measures accuracy A, completeness Cm and consistency C with intervals
// (mission.md). It lives in the orchestrator because it connects the engine to probes' metrics.
//
// Definitions used:
// - accuracy: per item, normalized exact match (short answers) or rouge-L F (long answers);
//   the mean with a percentile bootstrap interval.
// - completeness: (1 - truncation rate) x key-point recall; truncation rate with a Wilson interval
//   (finish reason "length"), recall as a bootstrap mean; interval by interval arithmetic.
// - consistency: the mean of three parts, each in [0, 1] with its interval:
//   repeat agreement (sampled decoding with repeats K > 1: per item, the share of K answers equal to
//   the modal normalized answer; greedy decoding is deterministic, so 1 without repeating);
//   same-top-1 rate against the reference configuration (f32 weights, greedy, full history) by
//   teacher forcing the reference answers through both (Wilson over positions; mean KL in nats is
//   reported as a part); history consistency (correct answers among depends_on_history items, Wilson;
//   an item is correct when exact-match for short answers, all key points present for long ones).
//
// Thread safety: uses the engines exclusively for the duration of the call.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "effitune/common/status.h"
#include "effitune/engine/chat_format.h"
#include "effitune/engine/engine.h"
#include "effitune/engine/sampling.h"
#include "effitune/probes/dataset.h"
#include "effitune/probes/stats.h"

namespace effitune::orchestrator {

struct QualityProbeOptions {
  engine::TokenBudget budget;          // history_tokens and response_tokens (> 0)
  engine::DecodingConfig decoding;     // max_new_tokens is replaced by budget.response_tokens
  int32_t repeats = 1;                 // K, used when decoding samples
  size_t max_items = 0;                // first N items; 0 = all
  std::optional<engine::ChatFormat> format;  // nullopt: detected from the model file
  uint64_t seed = 0;                   // sampling seeds are seed + item * K + repeat
  probes::BootstrapOptions bootstrap;
};

struct ItemQuality {
  std::string id;
  std::string answer;            // the first repeat's answer
  std::string finish_reason;     // "stop" / "length"
  double score = 0;              // EM (0/1) or rouge-L F
  double key_point_recall = 0;
  bool correct = false;
  bool depends_on_history = false;
  double repeat_agreement = 1;
  int32_t history_tokens_dropped = 0;
  int32_t prompt_tokens = 0;
  int32_t output_tokens = 0;
  double generation_ms = 0;      // prefill + decode of the first repeat
  bool prompt_did_not_fit = false;  // system prompt + question alone exceed the history budget
};

struct QualityReport {
  probes::Estimate accuracy;
  probes::Estimate completeness;
  probes::Estimate consistency;
  probes::Estimate history_consistency;
  probes::Estimate truncation_rate;
  probes::Estimate key_point_recall;
  probes::Estimate repeat_agreement;
  probes::Estimate same_top1;
  probes::Estimate mean_kl;       // nats; interval by bootstrap over positions
  double mean_generation_ms = 0;  // per item, first repeat
  double mean_prompt_tokens = 0;
  double mean_output_tokens = 0;
  std::vector<ItemQuality> items;
};

// Runs the probe. `reference` is the reference configuration's engine (f32 weights); null skips the
// agreement part (same_top1 then counts as 1 with n = 0 and says so in mean_kl.n = 0). An item whose
// system prompt and question alone exceed the history budget is answered with nothing (score 0,
// truncated). Returns kInvalidArgument for an empty item list, a budget <= 0, a model without a
// tokenizer, or bad decoding knobs; engine errors otherwise.
Result<QualityReport> run_quality_probe(engine::Engine& engine, engine::Engine* reference,
                                        const std::vector<probes::EvalItem>& items,
                                        const QualityProbeOptions& options);

// The report as JSON: top-level keys accuracy, completeness, consistency, history_consistency,
// truncation_rate, each {"value","ci_low","ci_high","n"}, plus "parts" and (when items) "items".
std::string quality_report_to_json(const QualityReport& report, bool with_items, int indent = 2);

}  // namespace effitune::orchestrator
