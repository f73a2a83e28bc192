// A Target over HTTP: any OpenAI-compatible server (effitune serve, vLLM, llama.cpp, TGI).
//
// Every request streams (SSE, "stream": true with usage requested): chat messages go to
// /v1/chat/completions, a prompt string or a synthetic prompt (token ids) to /v1/completions. Each
// SSE chunk that carries text is a token event; the final usage (when sent) gives the output token
// count, else the number of text chunks is used. Synthetic prompts are token-id arrays
// (10 + (7 i mod 90), valid in any vocabulary of 100+ tokens), with "ignore_eos" when asked.
//
// One I/O thread (Boost.Asio) serves every connection, one connection per request. Connection
// errors, HTTP errors (with the server's message), malformed streams, bodies over the size limit and
// timeouts finish the request with kError; nothing ever waits forever.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "effitune/common/status.h"
#include "effitune/probes/target.h"

namespace effitune::probes {

struct HttpTargetOptions {
  std::string host = "127.0.0.1";  // a numeric IPv4/IPv6 address or a name
  uint16_t port = 8080;
  std::string model = "default";    // the "model" field of each request
  std::string api_key;              // sent as "Authorization: Bearer <key>" when non-empty
  double connect_timeout_s = 5;
  double request_timeout_s = 300;   // connect to the end of the stream
  size_t max_response_bytes = size_t{64} << 20;
};

// "http://HOST:PORT" (a trailing "/" or "/v1" is accepted). kInvalidArgument for another scheme, a
// missing or bad port, or a path other than those.
Result<HttpTargetOptions> parse_http_url(std::string_view url);

// Starts the I/O thread. kInvalidArgument for a bad option (named). The destructor finishes requests
// still in flight with kCancelled and joins the thread.
Result<std::unique_ptr<Target>> make_http_target(const HttpTargetOptions& options);

}  // namespace effitune::probes
