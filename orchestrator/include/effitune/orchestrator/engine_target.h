// The in-process engine as a probes::Target: an Engine and a Scheduler whose loop runs on a thread of
// its own. It lives in the orchestrator so that probes never include engine headers.
//
// Prompts: chat messages are rendered with the chat-format module (the model's format, or the one
// given) within the history budget when one is set; a prompt string is encoded with the model's
// tokenizer; a synthetic prompt of N tokens is BOS (when the vocabulary has one) followed by token
// ids 10 + (7 i mod 90) (the same ids the HTTP target sends), clamped to the vocabulary. Requests
// the engine rejects (queue full, prompt too long, no tokenizer for text) finish with kError at once.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "effitune/common/status.h"
#include "effitune/engine/batch_policy.h"
#include "effitune/engine/chat_format.h"
#include "effitune/engine/engine.h"
#include "effitune/engine/scheduler.h"
#include "effitune/probes/target.h"

namespace effitune::orchestrator {

struct EngineTargetOptions {
  engine::EngineConfig engine;
  engine::SchedulerConfig scheduler;
  std::string batch_policy = "continuous";
  engine::PolicyParams policy_params;
  std::optional<engine::ChatFormat> chat_format;  // nullopt: detected from the model file
  int32_t history_budget_tokens = 0;              // 0: no budget (the context bounds the prompt)
};

// Loads the engine and starts the scheduler loop. The engine's errors (kNotFound, kResourceExhausted,
// kInvalidArgument) and the scheduler's (a bad knob or policy) are returned as they are. The caller
// owns the target; destroying it cancels what is in flight (kCancelled finishes) and joins the loop.
Result<std::unique_ptr<probes::Target>> make_engine_target(const EngineTargetOptions& options);

// Same, around an engine the caller made (tests: a scripted backend). The target owns `engine`.
Result<std::unique_ptr<probes::Target>> make_engine_target(std::unique_ptr<engine::Engine> engine,
                                                           const EngineTargetOptions& options);

}  // namespace effitune::orchestrator
