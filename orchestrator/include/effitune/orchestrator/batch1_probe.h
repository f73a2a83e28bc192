// The batch-1 probe: one request decoded alone on the trial's engine, timed per token, with the
// tensor-parallel all-reduce time of that request when the replica spans several GPUs. It answers
// where all-reduce latency makes more GPUs per replica stop paying back at batch 1 (the report's
// GPU-count chart): each doubling of the degree halves the per-GPU work but not the all-reduces.
//
// Thread safety: uses the engine exclusively for the duration of the call.
#pragma once

#include <cstdint>

#include "effitune/common/status.h"
#include "effitune/engine/engine.h"

namespace effitune::orchestrator {

struct Batch1Decode {
  int32_t decode_tokens = 0;   // timed decode steps (after the prefill's first token)
  double ms_per_token = 0;     // decode wall time / decode_tokens
  double prefill_ms = 0;       // the 16-token prompt's forward pass
  int64_t allreduce_calls = 0;    // over the timed request (prefill and decode); 0 on one GPU
  double allreduce_ms = 0;        // rank 0's all-reduce time over the timed request
  double allreduce_share = 0;     // allreduce_ms / (prefill_ms + decode wall time)
};

// Greedy, EOS ignored, a fixed 16-token prompt (ids valid for any vocabulary of 100+ tokens, else
// taken modulo it) and `decode_tokens` decode steps, each step as the scheduler runs it (one id from
// the device sampler where the backend has one, else the logits row and a host argmax; no
// vocab-wide log-softmax on the host as generate() does), after one untimed warm-up request (first-use
// costs: CUDA graph capture, workspace growth). The all-reduce figures are the backend's collective
// timing over the timed request: the caller turns it on (Backend::start_collective_timing) before the
// engine's first step, since CUDA graphs keep the timer setting they were captured with; it costs the
// exchange a little, so use an engine that is not load-tested afterwards (without it they read 0).
// A context too short for 16 + decode_tokens + 1
// tokens shortens the request; kFailedPrecondition when not even one decode step fits, kInvalidArgument
// for decode_tokens < 1.
Result<Batch1Decode> measure_batch1_decode(engine::Engine& engine, int32_t decode_tokens = 32);

}  // namespace effitune::orchestrator
