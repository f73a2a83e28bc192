// One-request generation on an Engine: prefill the prompt, then decode with a DecodingConfig until
// EOS, a stop string, or the response budget.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "effitune/common/status.h"
#include "effitune/engine/engine.h"
#include "effitune/engine/sampling.h"

namespace effitune::engine {

enum class FinishReason { kStop, kLength };
const char* finish_reason_name(FinishReason r);  // "stop" / "length"

struct GenerationResult {
  std::vector<int32_t> token_ids;  // generated tokens only (excludes the prompt and a final EOS)
  std::string text;                // decoded when the engine has a tokenizer
  FinishReason finish_reason = FinishReason::kLength;
  int32_t prompt_tokens = 0;
  double prefill_ms = 0;           // wall time of the prompt forward pass
  double decode_ms = 0;            // wall time of all decode steps
  double ttft_ms = 0;              // prompt arrival to first generated token
  double score = 0;                // beam: final length-penalized log-probability; else sum of logprobs
};

// Runs one request; the engine's KV cache holds its sequence only for the duration of the call.
// kInvalidArgument for an empty prompt or bad config, kOutOfRange when the prompt does not fit the
// context, kResourceExhausted when the KV cache is too small.
Result<GenerationResult> generate(Engine& engine, const std::vector<int32_t>& prompt, const DecodingConfig& config);

// Teacher-forced negative log-likelihoods: nll[i] = -log p(tokens[i+1] | tokens[0..i]) (natural log).
Result<std::vector<double>> score_tokens(Engine& engine, const std::vector<int32_t>& tokens);

}  // namespace effitune::engine
