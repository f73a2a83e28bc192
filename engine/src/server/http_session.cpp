// The connection state machine. Every response is queued as raw bytes and written in order, so a
// streamed (chunked SSE) and a whole response take the same path. While a generation request is in
// flight the session keeps a read pending on the socket: EOF or a reset there means the client left,
// and its request is cancelled so that its KV blocks are freed at once.
#include "server/http_session.h"

#include <algorithm>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdio>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <sstream>

#include "server/api_response.h"
#include "server/server_core.h"
#include "server/text_stream.h"

namespace effitune::engine::server {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

constexpr uint32_t kMaxHeaderBytes = 16 * 1024;
constexpr size_t kWatchBytes = 4096;
constexpr auto kLingerTimeout = std::chrono::seconds(2);

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

ApiError make_error(int status, std::string message, std::string type, std::string code) {
  ApiError e;
  e.http_status = status;
  e.message = std::move(message);
  e.type = std::move(type);
  e.code = std::move(code);
  return e;
}

bool equal_constant_time(std::string_view a, std::string_view b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ (i < b.size() ? b[i] : 0));
  return diff == 0;
}

// One generation request on the connection.
struct Exchange {
  RequestId id = 0;
  ResponseMeta meta;
  bool stream = false;
  bool include_usage = false;
  bool chunked = true;  // HTTP/1.1 chunked SSE; HTTP/1.0 gets the raw stream and a close
  PreparedRequest prepared;
  std::optional<TextStream> text;
  bool stopped_by_token = false;  // a chat end-of-turn token ended it (we cancelled the rest)
  bool finished = false;          // the scheduler's finish event was handled
  bool ended = false;             // counted out of in_flight
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket&& socket, ServerCore& core) : stream_(std::move(socket)), core_(core) {
    core_.open_connections.fetch_add(1);
  }
  ~Session() {
    core_.open_connections.fetch_sub(1);
    if (ex_ && !ex_->finished) (void)core_.scheduler->cancel(ex_->id);
    end_exchange();
  }
  void run() {
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->do_read(); });
  }

 private:
  void do_read();
  void on_read(beast::error_code ec);
  void handle(http::request<http::string_body>& req);
  void handle_generate(http::request<http::string_body>& req, bool chat);
  void on_event(const RequestEvent& ev);
  void on_token(const RequestEvent& ev);
  void on_finish(const RequestEvent& ev);

  void send(int status, std::string body, const char* content_type, bool keep_alive,
            const std::vector<std::pair<std::string, std::string>>& headers = {});
  void send_error(const ApiError& e, bool keep_alive);
  void send_sse(const std::string& data);  // one "data: ..." event
  void end_sse();
  void queue(std::string bytes);
  void write_next();
  void after_response();
  void start_watch();
  void on_watch(beast::error_code ec, size_t n);
  void peer_gone();
  void linger_close();
  void drain_then_close();
  void drain_some();
  void end_exchange();

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  ServerCore& core_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::unique_ptr<Exchange> ex_;
  std::deque<std::string> out_;
  bool writing_ = false;
  bool response_queued_ = false;  // out_ ends with the end of the current response
  bool close_after_ = false;      // close once the current response is written
  bool watching_ = false;
  bool resume_after_watch_ = false;
  bool lingering_ = false;  // closing: the watch read is being cancelled, then the socket drained
  bool dead_ = false;
  char discard_[512];
};

void Session::do_read() {
  if (dead_) return;
  parser_.emplace();
  parser_->body_limit(core_.config.max_body_bytes);
  parser_->header_limit(kMaxHeaderBytes);
  stream_.expires_after(std::chrono::milliseconds(static_cast<int64_t>(core_.config.idle_timeout_ms)));
  http::async_read(stream_, buffer_, *parser_,
                   [self = shared_from_this()](beast::error_code ec, size_t) { self->on_read(ec); });
}

void Session::on_read(beast::error_code ec) {
  if (ec == http::error::body_limit) {
    send_error(make_error(413, "the request body is over the limit of " + std::to_string(core_.config.max_body_bytes) +
                                   " bytes",
                          "invalid_request_error", "body_too_large"),
               false);
    return;
  }
  if (ec == http::error::header_limit) {
    send_error(make_error(431, "the request headers are over " + std::to_string(kMaxHeaderBytes) + " bytes",
                          "invalid_request_error", "headers_too_large"),
               false);
    return;
  }
  if (ec == http::error::end_of_stream || ec == beast::error::timeout || ec == net::error::operation_aborted ||
      ec == net::error::connection_reset || ec == http::error::partial_message || ec == net::error::eof) {
    beast::error_code ignored;
    stream_.socket().close(ignored);
    dead_ = true;
    return;
  }
  if (ec) {
    send_error(make_error(400, "malformed HTTP request: " + ec.message(), "invalid_request_error", "bad_http"), false);
    return;
  }
  stream_.expires_never();
  http::request<http::string_body> req = parser_->release();
  handle(req);
}

void Session::handle(http::request<http::string_body>& req) {
  const std::string target(req.target());
  const std::string path = target.substr(0, target.find('?'));
  const bool keep_alive = req.keep_alive() && !core_.draining.load();
  const bool get = req.method() == http::verb::get;
  const bool post = req.method() == http::verb::post;

  if (path == "/health") {
    if (!get) return send_error(make_error(405, "use GET /health", "invalid_request_error", "method_not_allowed"), keep_alive);
    if (core_.draining) return send(503, R"({"status":"draining"})", "application/json", false);
    return send(200, R"({"status":"ok"})", "application/json", keep_alive);
  }
  if (!core_.config.api_key.empty()) {
    const std::string expected = "Bearer " + core_.config.api_key;
    auto it = req.find(http::field::authorization);
    if (it == req.end() || !equal_constant_time(std::string_view(it->value().data(), it->value().size()), expected))
      return send(401,
                  make_error(401, "a valid API key is required: send 'Authorization: Bearer KEY'",
                             "invalid_request_error", "invalid_api_key")
                      .to_json(),
                  "application/json", keep_alive, {{"WWW-Authenticate", "Bearer"}});
  }
  if (path == "/metrics") {
    if (!get) return send_error(make_error(405, "use GET /metrics", "invalid_request_error", "method_not_allowed"), keep_alive);
    return send(200, core_.metrics.render(core_.scheduler->stats(), core_.in_flight.load()),
                "text/plain; version=0.0.4", keep_alive);
  }
  if (path == "/v1/models") {
    if (!get) return send_error(make_error(405, "use GET /v1/models", "invalid_request_error", "method_not_allowed"), keep_alive);
    return send(200, models_body(core_.model_name, unix_now(), core_.limits.context_length), "application/json", keep_alive);
  }
  if (path == "/v1/completions" || path == "/v1/chat/completions") {
    if (!post)
      return send_error(make_error(405, "use POST " + path, "invalid_request_error", "method_not_allowed"), keep_alive);
    return handle_generate(req, path == "/v1/chat/completions");
  }
  send_error(make_error(404, "no such endpoint: " + path +
                                 " (served: /v1/completions, /v1/chat/completions, /v1/models, /health, /metrics)",
                        "invalid_request_error", "not_found"),
             keep_alive);
}

void Session::handle_generate(http::request<http::string_body>& req, bool chat) {
  // Counted in before the draining check, so shutdown either sees this request or refuses it.
  core_.in_flight.fetch_add(1);
  auto uncount = [&] { core_.in_flight.fetch_sub(1); };
  if (core_.draining) {
    uncount();
    return send_error(make_error(503, "the server is shutting down", "server_error", "shutting_down"), false);
  }
  const bool keep_alive = req.keep_alive();
  ParsedRequest parsed = parse_api_request(req.body(), chat);
  if (!parsed.request) {
    uncount();
    return send_error(parsed.error, keep_alive);
  }
  PrepareResult prepared = prepare_api_request(*parsed.request, core_.limits);
  if (!prepared.prepared) {
    uncount();
    return send_error(prepared.error, keep_alive);
  }

  auto ex = std::make_unique<Exchange>();
  ex->stream = parsed.request->stream;
  ex->include_usage = parsed.request->include_usage;
  ex->chunked = req.version() >= 11;
  ex->prepared = std::move(*prepared.prepared);
  ex->meta.chat = chat;
  ex->meta.model = core_.model_name;
  ex->meta.created = unix_now();
  ex->meta.id = (chat ? "chatcmpl-" : "cmpl-") + std::to_string(core_.next_response_id.fetch_add(1));
  if (ex->stream) ex->text.emplace(core_.limits.tokenizer, ex->prepared.decoding.stop_strings);

  InferenceRequest ir;
  ir.prompt = ex->prepared.prompt;
  ir.decoding = ex->prepared.decoding;
  if (!parsed.request->has_seed) ir.decoding.seed = core_.seed_counter.fetch_add(0x9e3779b97f4a7c15ull);
  ir.priority = parsed.request->priority;
  std::weak_ptr<Session> weak = weak_from_this();
  auto exec = stream_.get_executor();
  Metrics* metrics = &core_.metrics;
  // Runs on the scheduler's loop thread (or inside a cancel()): only posts, never blocks.
  ir.on_event = [weak, exec, metrics](const RequestEvent& ev) {
    if (ev.kind == RequestEvent::Kind::kFinish) metrics->on_finish(ev);
    net::post(exec, [weak, ev] {
      if (auto self = weak.lock()) self->on_event(ev);
    });
  };
  Result<RequestId> id = core_.scheduler->submit(std::move(ir));
  if (!id.ok()) {
    uncount();
    const Status& s = id.status();
    if (s.code() == StatusCode::kResourceExhausted)
      return send(429, make_error(429, s.message(), "rate_limit_error", "queue_full").to_json(), "application/json",
                  keep_alive, {{"Retry-After", "1"}});
    const bool too_long = s.code() == StatusCode::kOutOfRange;
    const bool bad_input = too_long || s.code() == StatusCode::kInvalidArgument || s.code() == StatusCode::kUnimplemented;
    ApiError e = make_error(bad_input ? 422 : 500, s.message(), bad_input ? "invalid_request_error" : "server_error",
                            too_long ? "context_length_exceeded" : (bad_input ? "invalid_value" : "internal_error"));
    return send_error(e, keep_alive);
  }
  ex->id = id.value();
  ex_ = std::move(ex);
  close_after_ = !keep_alive || !ex_->chunked;
  if (ex_->stream) {
    std::string head = std::string("HTTP/1.") + (ex_->chunked ? "1" : "0") +
                       " 200 OK\r\nServer: effitune\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n";
    head += ex_->chunked ? "Transfer-Encoding: chunked\r\n" : "";
    head += close_after_ ? "Connection: close\r\n\r\n" : "Connection: keep-alive\r\n\r\n";
    core_.metrics.on_http_status(200);
    queue(std::move(head));
    if (chat) send_sse(chunk_body(ex_->meta, "", {}, "", /*first=*/true));
  }
  start_watch();
}

void Session::on_event(const RequestEvent& ev) {
  if (!ex_ || ex_->id != ev.id || ex_->finished) return;
  if (ev.kind == RequestEvent::Kind::kToken) on_token(ev);
  else on_finish(ev);
}

void Session::on_token(const RequestEvent& ev) {
  if (dead_ || ex_->stopped_by_token) return;
  const auto& stops = ex_->prepared.stop_token_ids;
  if (std::find(stops.begin(), stops.end(), ev.token) != stops.end()) {
    ex_->stopped_by_token = true;
    (void)core_.scheduler->cancel(ex_->id);  // the finish event follows, as "cancelled"
    return;
  }
  if (ex_->stream) send_sse(chunk_body(ex_->meta, ex_->text->push(ev.token), {ev.token}, ""));
}

void Session::on_finish(const RequestEvent& ev) {
  ex_->finished = true;
  if (dead_) {
    end_exchange();
    return;
  }
  std::vector<int32_t> tokens = ev.tokens;
  std::string text = ev.text;
  if (ex_->stopped_by_token) {
    const auto& stops = ex_->prepared.stop_token_ids;
    auto cut = std::find_if(tokens.begin(), tokens.end(),
                            [&](int32_t t) { return std::find(stops.begin(), stops.end(), t) != stops.end(); });
    tokens.erase(cut, tokens.end());
    text = core_.limits.tokenizer ? core_.limits.tokenizer->decode(tokens) : std::string();
  }
  std::string reason;
  std::optional<ApiError> error;
  switch (ev.outcome) {
    case RequestOutcome::kStop: reason = "stop"; break;
    case RequestOutcome::kLength: reason = "length"; break;
    case RequestOutcome::kCancelled:
      if (ex_->stopped_by_token) reason = "stop";
      else error = make_error(503, "the request was cancelled: the server is shutting down", "server_error", "cancelled");
      break;
    case RequestOutcome::kError: {
      const bool deadline = ev.error.code() == StatusCode::kDeadlineExceeded;
      error = make_error(deadline ? 504 : 500, "generation failed: " + ev.error.message(), "server_error",
                         deadline ? "deadline_exceeded" : "engine_error");
      break;
    }
  }
  Usage usage;
  usage.prompt_tokens = ev.prompt_tokens;
  usage.completion_tokens = static_cast<int32_t>(tokens.size());
  usage.history_tokens_dropped = ex_->prepared.history_tokens_dropped;

  if (!ex_->stream) {
    if (error) return send_error(*error, !close_after_);
    return send(200, completion_body(ex_->meta, text, tokens, reason, usage), "application/json", !close_after_);
  }
  if (error) {
    send_sse(error->to_json());
  } else {
    const std::string rest = ex_->text->finish(text);
    if (!rest.empty()) send_sse(chunk_body(ex_->meta, rest, {}, ""));
    send_sse(chunk_body(ex_->meta, "", {}, reason));
    if (ex_->include_usage) send_sse(usage_chunk_body(ex_->meta, usage));
  }
  send_sse("[DONE]");
  end_sse();
}

void Session::send(int status, std::string body, const char* content_type, bool keep_alive,
                   const std::vector<std::pair<std::string, std::string>>& headers) {
  http::response<http::string_body> res{static_cast<http::status>(status), 11};
  res.set(http::field::server, "effitune");
  res.set(http::field::content_type, content_type);
  for (const auto& [k, v] : headers) res.set(k, v);
  keep_alive = keep_alive && !core_.draining.load();
  res.keep_alive(keep_alive);
  res.body() = std::move(body);
  res.prepare_payload();
  std::ostringstream os;
  os << res;
  core_.metrics.on_http_status(status);
  close_after_ = close_after_ || !keep_alive;
  response_queued_ = true;
  queue(os.str());
}

void Session::send_error(const ApiError& e, bool keep_alive) {
  send(e.http_status, e.to_json(), "application/json", keep_alive);
}

void Session::send_sse(const std::string& data) {
  std::string event = "data: " + data + "\n\n";
  if (!ex_->chunked) return queue(std::move(event));
  char size[32];
  std::snprintf(size, sizeof size, "%zx\r\n", event.size());
  queue(size + event + "\r\n");
}

void Session::end_sse() {
  response_queued_ = true;
  if (ex_->chunked) queue("0\r\n\r\n");
  else write_next();
}

void Session::queue(std::string bytes) {
  out_.push_back(std::move(bytes));
  write_next();
}

void Session::write_next() {
  if (writing_ || dead_) return;
  if (out_.empty()) {
    if (response_queued_) after_response();
    return;
  }
  writing_ = true;
  net::async_write(stream_, net::buffer(out_.front()), [self = shared_from_this()](beast::error_code ec, size_t) {
    self->writing_ = false;
    if (ec) return self->peer_gone();
    self->out_.pop_front();
    self->write_next();
  });
}

void Session::after_response() {
  response_queued_ = false;
  if (ex_ && ex_->finished) end_exchange();
  if (close_after_) return linger_close();
  if (watching_) {
    // The watch read must end before the next request is read; its handler resumes reading.
    resume_after_watch_ = true;
    beast::error_code ignored;
    stream_.socket().cancel(ignored);
    return;
  }
  do_read();
}

void Session::start_watch() {
  if (watching_ || dead_ || buffer_.size() > core_.config.max_body_bytes + kMaxHeaderBytes) return;
  watching_ = true;
  stream_.socket().async_read_some(buffer_.prepare(kWatchBytes),
                                   [self = shared_from_this()](beast::error_code ec, size_t n) { self->on_watch(ec, n); });
}

void Session::on_watch(beast::error_code ec, size_t n) {
  watching_ = false;
  if (dead_) return;
  if (lingering_) return drain_then_close();
  if (!ec) buffer_.commit(n);  // a pipelined request: kept for the next read
  if (resume_after_watch_) {
    resume_after_watch_ = false;
    if (!ec || ec == net::error::operation_aborted) return do_read();
  }
  if (!ec) {
    if (ex_ && !ex_->ended) start_watch();
    return;
  }
  if (ec == net::error::operation_aborted) return;
  peer_gone();
}

void Session::peer_gone() {
  if (dead_) return;
  dead_ = true;
  if (ex_ && !ex_->finished) (void)core_.scheduler->cancel(ex_->id);  // frees its KV blocks now
  if (ex_ && ex_->finished) end_exchange();
  beast::error_code ignored;
  stream_.socket().close(ignored);
}

// Half-closes, then reads until the peer closes (bounded), so that the client sees the error we sent
// before a reset could discard it (e.g. after a 413 while it was still sending the body).
void Session::linger_close() {
  beast::error_code ignored;
  stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
  if (watching_) {  // one read at a time: end the watch first, its handler drains
    lingering_ = true;
    stream_.socket().cancel(ignored);
    return;
  }
  drain_then_close();
}

void Session::drain_then_close() {
  dead_ = true;
  stream_.expires_after(kLingerTimeout);
  drain_some();
}

// Each read holds the session until it completes; no handler refers to itself, so a read still
// pending when the server stops is freed with the io_context (a self-referencing handler leaked it).
void Session::drain_some() {
  stream_.async_read_some(net::buffer(discard_), [self = shared_from_this()](beast::error_code ec, size_t) {
    if (!ec) return self->drain_some();
    beast::error_code ignored;
    self->stream_.socket().close(ignored);
  });
}

void Session::end_exchange() {
  if (!ex_ || ex_->ended) return;
  ex_->ended = true;
  core_.in_flight.fetch_sub(1);
}

}  // namespace

void start_session(tcp::socket socket, ServerCore& core) {
  std::make_shared<Session>(std::move(socket), core)->run();
}

}  // namespace effitune::engine::server
