// The scheduler's per-request state (private to src/scheduler).
#pragma once

#include <optional>
#include <vector>

#include "effitune/engine/scheduler.h"

namespace effitune::engine {

struct Scheduler::Req {
  RequestId id = 0;
  InferenceRequest in;
  double arrival_ms = 0;
  // The prompt followed by every generated token: after a preemption the whole of it is recomputed,
  // so "prefill" and "recompute" are the same path (n_computed counts what the KV cache holds).
  std::vector<int32_t> tokens;
  int32_t prompt_len = 0;
  int32_t budget = 0;  // min(max_new_tokens, context - prompt), as generate() does
  int32_t n_computed = 0;
  std::optional<SeqId> seq;
  // Kept across preemptions, so a sampled request draws the same random stream as if never preempted.
  std::optional<Sampler> sampler;
  double first_scheduled_ms = -1;
  double first_sample_ms = -1;  // the first sampled token, EOS included (TTFT)
  std::vector<double> token_ms;
  int32_t preemptions = 0;
  bool decoding = false;         // its KV holds everything but the last sampled token
  int32_t scheduled_tokens = 0;  // this step's share; 0 when not in the batch

  int32_t generated() const { return static_cast<int32_t>(tokens.size()) - prompt_len; }
  int32_t pending() const { return static_cast<int32_t>(tokens.size()) - n_computed; }
};

// The scheduler whose step() runs on this thread, so that a callback's cancel() defers itself
// instead of taking the loop lock it already holds.
extern thread_local const Scheduler* t_stepping_scheduler;

}  // namespace effitune::engine
