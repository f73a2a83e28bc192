// HTTP OpenAI-compatible target: Boost.Beast client, one I/O thread, streaming SSE.
#include "effitune/probes/http_target.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <charconv>
#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>
#include <unordered_set>

#include "sse_parser.h"

namespace effitune::probes {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using nlohmann::json;

// Error bodies are read whole to quote the server's message; they are never large.
constexpr size_t kMaxErrorBody = size_t{1} << 20;

std::string build_body(const TargetRequest& r, const HttpTargetOptions& o, bool chat) {
  json j;
  j["model"] = o.model;
  j["max_tokens"] = r.max_tokens;
  j["stream"] = true;
  j["stream_options"] = {{"include_usage", true}};
  j["temperature"] = r.sampling.temperature;
  if (r.sampling.top_p < 1.0) j["top_p"] = r.sampling.top_p;
  if (r.sampling.top_k > 0) j["top_k"] = r.sampling.top_k;
  if (r.sampling.seed != 0) j["seed"] = r.sampling.seed;
  if (r.ignore_eos) j["ignore_eos"] = true;
  if (chat) {
    json msgs = json::array();
    for (const ChatMessage& m : r.messages) msgs.push_back({{"role", m.role}, {"content", m.content}});
    j["messages"] = std::move(msgs);
  } else if (!r.prompt.empty()) {
    j["prompt"] = r.prompt;
  } else {
    json ids = json::array();
    for (int32_t i = 0; i < std::max(r.prompt_tokens, 1); ++i) ids.push_back(10 + (7 * i) % 90);
    j["prompt"] = std::move(ids);
  }
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

Status http_status_error(unsigned status, const std::string& body) {
  std::string message = body.substr(0, 300);
  try {
    const json j = json::parse(body);
    if (j.contains("error") && j["error"].is_object() && j["error"].contains("message") && j["error"]["message"].is_string())
      message = j["error"]["message"].get<std::string>();
  } catch (const json::exception&) {
  }
  const std::string m = "HTTP " + std::to_string(status) + ": " + message;
  if (status == 429) return resource_exhausted(m);
  if (status == 503) return unavailable(m);
  if (status == 408 || status == 504) return deadline_exceeded(m);
  if (status >= 400 && status < 500) return invalid_argument(m);
  return internal_error(m);
}

class HttpTarget;

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(HttpTarget& owner, asio::io_context& ioc, const HttpTargetOptions& o, std::string path, std::string body,
          std::shared_ptr<StreamSink> sink)
      : owner_(owner), o_(o), resolver_(ioc), stream_(ioc), sink_(std::move(sink)) {
    req_.method(http::verb::post);
    req_.target(path);
    req_.version(11);
    req_.set(http::field::host, o.host + ":" + std::to_string(o.port));
    req_.set(http::field::content_type, "application/json");
    req_.set(http::field::accept, "text/event-stream");
    if (!o.api_key.empty()) req_.set(http::field::authorization, "Bearer " + o.api_key);
    req_.body() = std::move(body);
    req_.prepare_payload();
  }

  void start();
  // Ends the request now (shutdown, or a failure); idempotent.
  void fail(Status why);

 private:
  void on_resolve(beast::error_code ec, tcp::resolver::results_type results);
  void arm_connect_timeout();
  void on_connect(beast::error_code ec);
  void on_write(beast::error_code ec);
  void read_more();
  void on_read(beast::error_code ec);
  void on_event(const SseEvent& e);
  void finish(TargetFinish f);
  Status io_error(const char* stage, beast::error_code ec) const;

  HttpTarget& owner_;
  const HttpTargetOptions& o_;
  tcp::resolver resolver_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  http::request<http::string_body> req_;
  std::optional<http::response_parser<http::string_body>> parser_;
  std::shared_ptr<StreamSink> sink_;
  SseParser sse_;
  bool done_ = false;
  bool saw_done_marker_ = false;
  int32_t chunks_ = 0;
  int32_t usage_completion_ = -1, usage_prompt_ = -1;
  std::optional<FinishReason> finish_reason_;
  std::string text_;
};

class HttpTarget : public Target {
 public:
  explicit HttpTarget(HttpTargetOptions o) : o_(std::move(o)), work_(asio::make_work_guard(ioc_)) {
    // A numeric host needs no resolver: Asio's runs getaddrinfo on a thread of its own, a handoff
    // per request that competes with the server under test on a small machine.
    beast::error_code ec;
    const auto address = asio::ip::make_address(o_.host, ec);
    if (!ec) endpoint_ = tcp::endpoint(address, o_.port);
    thread_ = std::thread([this] { ioc_.run(); });
  }
  ~HttpTarget() override {
    asio::post(ioc_, [this] {
      auto live = live_;  // fail() removes from live_
      for (const auto& s : live) s->fail(cancelled("the HTTP target shut down"));
    });
    work_.reset();
    thread_.join();
  }
  std::string name() const override { return "http://" + o_.host + ":" + std::to_string(o_.port); }

  void submit(const TargetRequest& request, std::shared_ptr<StreamSink> sink) override {
    const bool chat = !request.messages.empty();
    auto s = std::make_shared<Session>(*this, ioc_, o_, chat ? "/v1/chat/completions" : "/v1/completions",
                                       build_body(request, o_, chat), std::move(sink));
    asio::post(ioc_, [this, s] {
      live_.insert(s);
      s->start();
    });
  }

  // I/O thread only.
  void forget(const std::shared_ptr<Session>& s) { live_.erase(s); }
  const std::optional<tcp::endpoint>& endpoint() const { return endpoint_; }

 private:
  HttpTargetOptions o_;
  asio::io_context ioc_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::thread thread_;
  std::unordered_set<std::shared_ptr<Session>> live_;
  std::optional<tcp::endpoint> endpoint_;  // set when the host is a numeric address
};

void Session::start() {
  if (const auto& endpoint = owner_.endpoint()) {
    arm_connect_timeout();
    stream_.async_connect(*endpoint, [self = shared_from_this()](beast::error_code ec) { self->on_connect(ec); });
    return;
  }
  resolver_.async_resolve(o_.host, std::to_string(o_.port),
                          [self = shared_from_this()](beast::error_code ec, tcp::resolver::results_type r) {
                            self->on_resolve(ec, std::move(r));
                          });
}

Status Session::io_error(const char* stage, beast::error_code ec) const {
  const std::string where = std::string(stage) + " " + o_.host + ":" + std::to_string(o_.port);
  if (ec == beast::error::timeout) return deadline_exceeded(where + " timed out");
  return unavailable(where + " failed: " + ec.message());
}

void Session::on_resolve(beast::error_code ec, tcp::resolver::results_type results) {
  if (done_) return;
  if (ec) return fail(io_error("resolving", ec));
  arm_connect_timeout();
  stream_.async_connect(results, [self = shared_from_this()](beast::error_code ec, const tcp::endpoint&) {
    self->on_connect(ec);
  });
}

void Session::arm_connect_timeout() {
  stream_.expires_after(std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double>(o_.connect_timeout_s)));
}

void Session::on_connect(beast::error_code ec) {
  if (done_) return;
  if (ec) return fail(io_error("connecting to", ec));
  // One deadline for the rest of the exchange: the request can never outlive request_timeout_s.
  stream_.expires_after(std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double>(o_.request_timeout_s)));
  http::async_write(stream_, req_, [self = shared_from_this()](beast::error_code ec, size_t) { self->on_write(ec); });
}

void Session::on_write(beast::error_code ec) {
  if (done_) return;
  if (ec) return fail(io_error("sending to", ec));
  parser_.emplace();
  parser_->body_limit(o_.max_response_bytes);
  read_more();
}

void Session::read_more() {
  http::async_read_some(stream_, buffer_, *parser_,
                        [self = shared_from_this()](beast::error_code ec, size_t) { self->on_read(ec); });
}

void Session::on_read(beast::error_code ec) {
  if (done_) return;
  if (ec && ec != http::error::end_of_stream) return fail(io_error("reading from", ec));
  const bool ok_status = parser_->is_header_done() && parser_->get().result_int() == 200;
  if (parser_->is_header_done() && ok_status) {
    // Consume what arrived and drop it, so a long stream holds only its unparsed tail.
    std::string& body = parser_->get().body();
    sse_.feed(body, [this](const SseEvent& e) { on_event(e); });
    body.clear();
    if (done_) return;
  } else if (parser_->is_header_done() && parser_->get().body().size() > kMaxErrorBody) {
    return fail(http_status_error(parser_->get().result_int(), parser_->get().body()));
  }
  if (parser_->is_done() || ec == http::error::end_of_stream) {
    if (!parser_->is_header_done()) return fail(unavailable("the server closed the connection without a response"));
    if (!ok_status) return fail(http_status_error(parser_->get().result_int(), parser_->get().body()));
    if (!saw_done_marker_ && !finish_reason_)
      return fail(data_loss("the stream ended without a finish_reason or data: [DONE]"));
    TargetFinish f;
    f.reason = finish_reason_.value_or(FinishReason::kStop);
    f.output_tokens = usage_completion_ >= 0 ? usage_completion_ : chunks_;
    f.prompt_tokens = usage_prompt_;
    f.text = std::move(text_);
    return finish(std::move(f));
  }
  read_more();
}

void Session::on_event(const SseEvent& e) {
  if (done_) return;
  if (e.done) {
    saw_done_marker_ = true;
    return;
  }
  if (e.error) return fail(*e.error);
  if (!e.text.empty()) {
    ++chunks_;
    text_ += e.text;
    sink_->on_tokens(1, steady_now_s());
  }
  if (e.finish_reason) finish_reason_ = *e.finish_reason == "length" ? FinishReason::kLength : FinishReason::kStop;
  if (e.completion_tokens >= 0) usage_completion_ = e.completion_tokens;
  if (e.prompt_tokens >= 0) usage_prompt_ = e.prompt_tokens;
}

void Session::fail(Status why) {
  TargetFinish f;
  f.reason = why.code() == StatusCode::kCancelled ? FinishReason::kCancelled : FinishReason::kError;
  f.error = std::move(why);
  f.output_tokens = chunks_;
  finish(std::move(f));
}

void Session::finish(TargetFinish f) {
  if (done_) return;
  done_ = true;
  beast::error_code ignored;
  stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
  stream_.close();
  resolver_.cancel();
  sink_->on_finish(f, steady_now_s());
  sink_.reset();
  owner_.forget(shared_from_this());
}

}  // namespace

Result<HttpTargetOptions> parse_http_url(std::string_view url) {
  const std::string err = "target URL '" + std::string(url.substr(0, 80)) + "': expected http://HOST:PORT, e.g. http://127.0.0.1:8080";
  constexpr std::string_view kScheme = "http://";
  if (url.substr(0, kScheme.size()) != kScheme) return invalid_argument(err + " (only plain http is supported)");
  std::string_view rest = url.substr(kScheme.size());
  const size_t slash = rest.find('/');
  const std::string_view path = slash == std::string_view::npos ? "" : rest.substr(slash);
  rest = rest.substr(0, slash);
  if (!(path.empty() || path == "/" || path == "/v1" || path == "/v1/")) return invalid_argument(err + " (no path other than /v1)");
  HttpTargetOptions o;
  size_t colon;
  if (!rest.empty() && rest.front() == '[') {  // [IPv6]:port
    const size_t close = rest.find(']');
    if (close == std::string_view::npos || close + 1 >= rest.size() || rest[close + 1] != ':') return invalid_argument(err);
    o.host = std::string(rest.substr(1, close - 1));
    colon = close + 1;
  } else {
    colon = rest.rfind(':');
    if (colon == std::string_view::npos || colon == 0) return invalid_argument(err + " (the port is required)");
    o.host = std::string(rest.substr(0, colon));
  }
  const std::string_view port = rest.substr(colon + 1);
  unsigned p = 0;
  const auto r = std::from_chars(port.data(), port.data() + port.size(), p);
  if (port.empty() || r.ec != std::errc() || r.ptr != port.data() + port.size() || p == 0 || p > 65535)
    return invalid_argument(err + " (bad port)");
  o.port = static_cast<uint16_t>(p);
  return o;
}

Result<std::unique_ptr<Target>> make_http_target(const HttpTargetOptions& options) {
  if (options.host.empty()) return invalid_argument("HTTP target: host is empty");
  if (options.port == 0) return invalid_argument("HTTP target: port must be in 1..65535");
  if (!(options.connect_timeout_s > 0) || !(options.request_timeout_s > 0))
    return invalid_argument("HTTP target: connect_timeout_s and request_timeout_s must be positive");
  if (options.max_response_bytes < 1024) return invalid_argument("HTTP target: max_response_bytes must be >= 1024");
  return std::unique_ptr<Target>(std::make_unique<HttpTarget>(options));
}

}  // namespace effitune::probes
