#include "effitune/orchestrator/batch1_probe.h"

#include <algorithm>
#include <chrono>
#include <span>
#include <string>
#include <vector>

#include "effitune/engine/sampling.h"

namespace effitune::orchestrator {

namespace {

// One request decoded alone the way the scheduler decodes (scheduler_step.cpp): one greedy id per
// step from the device sampler where the backend has one, else the logits row and its argmax on the
// host. generate() would time more than the engine: it downloads every vocab-wide row and takes its
// log-softmax on the host (~2 ms a token for a 128k vocabulary), which hid a third of a TP=4 token's
// all-reduce share. Returns the decode steps' wall time (the prefill's in prefill_ms).
struct Timed {
  int32_t decode_tokens = 0;
  double prefill_ms = 0, decode_ms = 0;
};

Result<Timed> decode_alone(engine::Engine& engine, const std::vector<int32_t>& prompt, int32_t decode_tokens) {
  const engine::SeqId seq = engine.add_sequence();
  struct Release {
    engine::Engine& e;
    engine::SeqId s;
    ~Release() { e.remove_sequence(s); }
  } release{engine, seq};
  const bool on_device = engine.samples_on_device();
  const engine::RowSampling greedy{};  // temperature 0: argmax
  std::vector<int32_t> ids;
  std::vector<float> logits;
  int32_t token = 0;
  auto step = [&](std::span<const int32_t> tokens) -> Status {
    const engine::StepRequest req{seq, tokens, false};
    if (on_device) {
      EFFITUNE_RETURN_IF_ERROR(engine.step_sample({&req, 1}, {&greedy, 1}, ids));
      token = ids.at(0);
    } else {
      EFFITUNE_RETURN_IF_ERROR(engine.step({&req, 1}, logits));
      token = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    }
    return {};
  };
  using Clock = std::chrono::steady_clock;
  auto ms = [](Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double, std::milli>(b - a).count(); };
  Timed t;
  const auto t0 = Clock::now();
  EFFITUNE_RETURN_IF_ERROR(step(prompt));
  const auto t1 = Clock::now();
  for (int32_t i = 0; i < decode_tokens; ++i) {
    EFFITUNE_RETURN_IF_ERROR(step({&token, 1}));
    ++t.decode_tokens;
  }
  t.prefill_ms = ms(t0, t1);
  t.decode_ms = ms(t1, Clock::now());
  return t;
}

}  // namespace

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
  EFFITUNE_RETURN_IF_ERROR(decode_alone(engine, prompt, decode_tokens).status().with_context("batch-1 probe warm-up"));
  const engine::CollectiveTime c0 = engine.backend().collective_timing();
  EFFITUNE_ASSIGN_OR_RETURN(const Timed r, decode_alone(engine, prompt, decode_tokens));
  const engine::CollectiveTime c1 = engine.backend().collective_timing();
  Batch1Decode out;
  out.decode_tokens = r.decode_tokens;
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
