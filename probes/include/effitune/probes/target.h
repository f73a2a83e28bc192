// Target: what a load test measures. A Target takes requests and streams back token chunks and one
// finish per request. Implementations: the HTTP OpenAI-compatible client (http_target.h), the
// in-process engine (orchestrator/engine_target.h: probes never include engine headers), the null
// target below (measures the generator itself) and the fakes in tests/support.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "effitune/common/status.h"

namespace effitune::probes {

// Seconds on std::chrono::steady_clock. Real targets stamp their events with it, so the load
// generator's SteadyClock and every real target share one timebase.
double steady_now_s();

struct ChatMessage {
  std::string role;  // "system", "user" or "assistant"
  std::string content;
};

struct SamplingParams {
  double temperature = 0.0;  // 0 = greedy
  double top_p = 1.0;
  int32_t top_k = 0;  // 0 = all
  uint64_t seed = 0;
};

// One request. Exactly one prompt form is used, in this order: `messages` when non-empty (chat),
// else `prompt` when non-empty (completion), else a synthetic prompt of `prompt_tokens` tokens.
struct TargetRequest {
  std::vector<ChatMessage> messages;
  std::string prompt;
  int32_t prompt_tokens = 0;
  int32_t max_tokens = 64;
  bool ignore_eos = false;  // generate exactly max_tokens where the target supports it (synthetic loads)
  SamplingParams sampling;
};

enum class FinishReason { kStop, kLength, kError, kCancelled };
const char* finish_reason_name(FinishReason reason);  // "stop", "length", "error", "cancelled"

struct TargetFinish {
  FinishReason reason = FinishReason::kStop;
  Status error;                // non-ok iff reason is kError or kCancelled: why (unreachable, HTTP 429, timeout, ...)
  int32_t output_tokens = 0;   // the target's usage count, else the number of streamed tokens/chunks
  int32_t prompt_tokens = -1;  // -1 when the target does not say
  std::string text;            // the generated text when the target returns one
};

// Receives one request's stream. Calls for one request never overlap and come in order: zero or
// more on_tokens, then exactly one on_finish. They may come from any thread (the target's), and may
// come before submit() returns. Implementations must be cheap: they run on the target's I/O thread.
class StreamSink {
 public:
  virtual ~StreamSink() = default;
  // `tokens` (>= 1) new output tokens arrived at `t_s` (steady_now_s() timebase for real targets).
  virtual void on_tokens(int32_t tokens, double t_s) = 0;
  virtual void on_finish(const TargetFinish& finish, double t_s) = 0;
};

class Target {
 public:
  virtual ~Target() = default;
  virtual std::string name() const = 0;
  // Starts `request` and returns without waiting for the response (the load generator relies on
  // this; a target that blocks shows up as dispatch lateness). Every submit leads to exactly one
  // sink->on_finish: failures (bad request, unreachable, rejected, timed out) are finishes with
  // reason kError, never a Status here. Thread-safe. The target keeps `sink` alive until on_finish;
  // a target's destructor finishes what is still in flight (kCancelled) before it returns.
  virtual void submit(const TargetRequest& request, std::shared_ptr<StreamSink> sink) = 0;
};

// Finishes every request on the calling thread at once: max_tokens tokens in one chunk, reason
// kLength. It measures the load generator itself (`effitune loadtest --target null`).
std::unique_ptr<Target> make_null_target();

}  // namespace effitune::probes
