#include "effitune/orchestrator/batch1_probe.h"

#include <algorithm>
#include <string>
#include <vector>

#include "effitune/engine/generate.h"

namespace effitune::orchestrator {

Result<Batch1Decode> measure_batch1_decode(engine::Engine& engine, int32_t decode_tokens) {
  if (decode_tokens < 1) return invalid_argument("batch-1 probe: decode_tokens must be >= 1");
  const int32_t vocab = engine.model().vocab_size;
  std::vector<int32_t> prompt;
  for (int32_t i = 0; i < 16; ++i) prompt.push_back((10 + 7 * i) % vocab);
  // A short context shortens the request rather than failing it.
  decode_tokens = std::min(decode_tokens, engine.context_length() - static_cast<int32_t>(prompt.size()) - 1);
  if (decode_tokens < 1)
    return failed_precondition("batch-1 probe: a context of " + std::to_string(engine.context_length()) +
                               " tokens leaves no room for a 16-token prompt and a decode step");
  engine::DecodingConfig d;
  d.max_new_tokens = decode_tokens + 1;  // the first token comes from the prefill
  d.stop_at_eos = false;                 // a fixed number of steps whatever the model says
  EFFITUNE_RETURN_IF_ERROR(engine::generate(engine, prompt, d).status().with_context("batch-1 probe warm-up"));
  const engine::CollectiveTime c0 = engine.backend().collective_timing();
  EFFITUNE_ASSIGN_OR_RETURN(engine::GenerationResult r, engine::generate(engine, prompt, d));
  const engine::CollectiveTime c1 = engine.backend().collective_timing();
  Batch1Decode out;
  out.decode_tokens = static_cast<int32_t>(r.token_ids.size()) - 1;
  if (out.decode_tokens < 1) return internal_error("batch-1 probe: the request decoded no token past the prefill");
  out.ms_per_token = r.decode_ms / out.decode_tokens;
  out.prefill_ms = r.prefill_ms;
  out.allreduce_calls = c1.calls - c0.calls;
  out.allreduce_ms = (c1.seconds - c0.seconds) * 1e3;
  const double total_ms = r.prefill_ms + r.decode_ms;
  out.allreduce_share = total_ms > 0 ? out.allreduce_ms / total_ms : 0;
  return out;
}

}  // namespace effitune::orchestrator
