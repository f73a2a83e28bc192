// The OpenAI-compatible HTTP server in front of the Scheduler (issue 7 §3–§4).
//
// Endpoints: POST /v1/completions, POST /v1/chat/completions (JSON, or SSE when "stream": true,
// ending with `data: [DONE]`), GET /v1/models, GET /health, GET /metrics (Prometheus text).
// Boost.Beast async I/O runs on `io_threads` threads (one strand per connection); the scheduler runs
// on the server's own loop thread. Scheduler events are posted to the connection's strand, so no
// callback ever blocks the loop.
//
// Errors are OpenAI-style `{"error": {"message", "type", "param", "code"}}`:
//   400  invalid JSON, a field of the wrong type, an unknown/missing required field value
//   401  a missing or wrong Bearer key (when an API key is set; /health stays open)
//   404 / 405  unknown path / wrong method
//   413  a body over max_body_bytes
//   422  well-formed but unacceptable values: max_tokens <= 0, a prompt longer than the context,
//        token ids outside the vocabulary, text prompts or chat on a model without a tokenizer
//   429  the scheduler's waiting queue is full (retry later)
//   503  the server is shutting down, or the request was cancelled by the shutdown
//   500  the engine failed while generating
// A client that disconnects has its request cancelled: its KV blocks are free before the next step.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "effitune/common/status.h"
#include "effitune/engine/batch_policy.h"
#include "effitune/engine/chat_format.h"
#include "effitune/engine/engine.h"
#include "effitune/engine/sampling.h"
#include "effitune/engine/scheduler.h"

namespace effitune::engine {

// An OpenAI-style error and the HTTP status it is sent with.
struct ApiError {
  int http_status = 400;
  std::string message;
  std::string type = "invalid_request_error";
  std::string param;  // the offending field ("" = none → null)
  std::string code;   // machine-readable ("" = none → null)
  std::string to_json() const;
};

// A request body after JSON parsing and type checks; not yet checked against the model.
struct ApiRequest {
  bool chat = false;
  std::string model;  // echoed back; any name is accepted (one model is served)
  // /v1/completions: the prompt as text, or as token ids (`prompt`: [1, 2, 3], as OpenAI allows).
  std::optional<std::string> prompt_text;
  std::vector<int32_t> prompt_ids;
  // /v1/chat/completions: system messages (joined with "\n"), history turns and the last user message.
  Conversation conversation;
  std::optional<int32_t> max_tokens;  // `max_tokens` or `max_completion_tokens`
  DecodingConfig decoding;            // temperature (0 = greedy), top_p, top_k, seed, stop, ignore_eos
  bool has_seed = false;              // false: the server draws a seed per request
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  int32_t priority = 0;        // extension: the class for priority-aware batch policies
};

// Parses and type-checks a request body. Never throws; every failure is an ApiError (400 for JSON
// and type errors, 422 for values out of range) naming the field in `param`. Unknown fields are
// ignored, as OpenAI-compatible servers do. Defaults follow OpenAI: temperature 1, top_p 1, and for
// completions max_tokens 16.
struct ParsedRequest {
  std::optional<ApiRequest> request;
  ApiError error;  // meaningful when !request
};
ParsedRequest parse_api_request(std::string_view body, bool chat);

// What a request resolves to against the served model.
struct ModelLimits {
  int32_t vocab_size = 0;
  int32_t context_length = 0;
  const Tokenizer* tokenizer = nullptr;      // null: token-id prompts only
  std::optional<ChatFormat> chat_format;     // null: no chat endpoint
  int32_t history_budget = 0;                // 0 = context_length - response tokens
  int32_t response_budget = 0;               // 0 = the rest of the context; caps max_tokens for chat
};

struct PreparedRequest {
  std::vector<int32_t> prompt;
  DecodingConfig decoding;               // max_new_tokens set
  std::vector<int32_t> stop_token_ids;   // end the answer besides EOS (chat formats' end-of-turn)
  int32_t history_tokens_dropped = 0;    // chat: prompt tokens dropped by the history budget
};

// Tokenizes or renders the request and checks it against the model: 422 for a prompt that does not
// fit the context, ids outside the vocabulary, text or chat without a tokenizer/format.
struct PrepareResult {
  std::optional<PreparedRequest> prepared;
  ApiError error;
};
PrepareResult prepare_api_request(const ApiRequest& request, const ModelLimits& limits);

struct ServerConfig {
  std::string host = "127.0.0.1";  // loopback unless told otherwise
  uint16_t port = 8080;            // 0 = an ephemeral port (see Server::port())
  std::string api_key;             // non-empty: every endpoint but /health needs "Authorization: Bearer KEY"
  std::string model_name;          // the id in /v1/models; empty = the model file's name
  int32_t io_threads = 2;
  uint64_t max_body_bytes = 1 << 20;
  double idle_timeout_ms = 30000;      // a keep-alive connection with no request for this long is closed
  double shutdown_grace_ms = 10000;    // in-flight requests get this long to finish at shutdown
  int32_t history_budget = 0;          // the max-tokens split for chat (see ModelLimits)
  int32_t response_budget = 0;
  std::optional<ChatFormat> chat_format;  // null: detected from the GGUF file, else chat is refused
};

class Server {
 public:
  // Borrows `engine` (it must outlive the server) and creates the scheduler over it.
  // kInvalidArgument for a bad knob (named), as Scheduler::create reports.
  static Result<std::unique_ptr<Server>> create(Engine& engine, const SchedulerConfig& scheduler_config,
                                                std::unique_ptr<BatchPolicy> policy, const ServerConfig& config);
  ~Server();  // shutdown() if still running

  // Binds, listens and starts the I/O and scheduler threads. kUnavailable when the address cannot be
  // bound (naming it). Returns once the server accepts connections.
  Status start();
  uint16_t port() const;  // the bound port (after start())

  // Graceful stop: stops accepting and answers new requests on open connections with 503; waits up
  // to shutdown_grace_ms for in-flight requests to finish; cancels the rest, which are answered with
  // a 503 error (or an SSE error event then [DONE]); then stops every thread. Idempotent; thread-safe.
  void shutdown();
  // Blocks until shutdown() has finished (from any thread).
  void wait();

  SchedulerStats scheduler_stats() const;
  int64_t in_flight() const;  // generation requests accepted and not yet fully answered
  int64_t open_connections() const;  // client connections the server holds; 0 after shutdown()
  std::string metrics_text() const;

 private:
  struct Impl;
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace effitune::engine
