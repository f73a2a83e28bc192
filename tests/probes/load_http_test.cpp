// The HTTP target against scripted servers on 127.0.0.1: SSE streaming (chunked), HTTP errors,
// malformed streams, a server that never answers, and a port where nothing listens.
#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio.hpp>
#include <condition_variable>
#include <nlohmann/json.hpp>
#include <thread>

#include "effitune/probes/http_target.h"
#include "effitune/probes/load_test.h"

namespace effitune::probes {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

// A tiny blocking HTTP/1.1 server: one thread per connection, loopback only.
class MiniServer {
 public:
  using Handler = std::function<void(tcp::socket&, const std::string& body, const std::atomic<bool>& stop)>;
  explicit MiniServer(Handler h) : handler_(std::move(h)), acceptor_(ioc_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    acceptor_.non_blocking(true);
    thread_ = std::thread([this] { accept_loop(); });
  }
  ~MiniServer() {
    stop_ = true;
    thread_.join();
    for (auto& t : conns_) t.join();
  }
  uint16_t port() const { return acceptor_.local_endpoint().port(); }
  std::vector<std::string> bodies() {
    std::lock_guard<std::mutex> g(mu_);
    return bodies_;
  }

 private:
  void accept_loop() {
    while (!stop_) {
      boost::system::error_code ec;
      tcp::socket s(ioc_);
      acceptor_.accept(s, ec);
      if (ec) {
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
        continue;
      }
      conns_.emplace_back([this, sock = std::move(s)]() mutable { serve(sock); });
    }
  }
  void serve(tcp::socket& s) {
    s.non_blocking(false);
    std::string data;
    char buf[4096];
    boost::system::error_code ec;
    size_t header_end = std::string::npos;
    size_t need = 0;
    while (true) {
      const size_t n = s.read_some(asio::buffer(buf), ec);
      if (ec) return;
      data.append(buf, n);
      if (header_end == std::string::npos && (header_end = data.find("\r\n\r\n")) != std::string::npos) {
        const size_t cl = data.find("Content-Length: ");
        need = header_end + 4 + (cl == std::string::npos ? 0 : std::stoul(data.substr(cl + 16)));
      }
      if (header_end != std::string::npos && data.size() >= need) break;
    }
    const std::string body = data.substr(header_end + 4);
    {
      std::lock_guard<std::mutex> g(mu_);
      bodies_.push_back(body);
    }
    handler_(s, body, stop_);
  }

  Handler handler_;
  asio::io_context ioc_;
  tcp::acceptor acceptor_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::vector<std::thread> conns_;
  std::mutex mu_;
  std::vector<std::string> bodies_;
};

void write_all(tcp::socket& s, const std::string& text) {
  boost::system::error_code ec;
  asio::write(s, asio::buffer(text), ec);
}

void write_chunk(tcp::socket& s, const std::string& payload) {
  char len[32];
  std::snprintf(len, sizeof len, "%zx\r\n", payload.size());
  write_all(s, std::string(len) + payload + "\r\n");
}

// Streams `tokens` chat chunks 20 ms apart, then a finish chunk with usage and [DONE].
MiniServer::Handler sse_handler(int tokens, bool chat) {
  return [tokens, chat](tcp::socket& s, const std::string&, const std::atomic<bool>&) {
    write_all(s, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n");
    if (chat) write_chunk(s, "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\"}}]}\n\n");
    for (int i = 0; i < tokens; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      write_chunk(s, chat ? "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"t" + std::to_string(i) + "\"}}]}\n\n"
                          : "data: {\"choices\":[{\"index\":0,\"text\":\"t" + std::to_string(i) + "\"}]}\n\n");
    }
    write_chunk(s, "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"length\"}]}\n\n");
    write_chunk(s, "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":" + std::to_string(tokens) + "}}\n\n");
    write_chunk(s, "data: [DONE]\n\n");
    write_all(s, "0\r\n\r\n");
  };
}

struct Collected {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<double> token_times;
  std::optional<TargetFinish> finish;
};

class CollectSink : public StreamSink {
 public:
  explicit CollectSink(std::shared_ptr<Collected> c) : c_(std::move(c)) {}
  void on_tokens(int32_t, double t) override {
    std::lock_guard<std::mutex> g(c_->mu);
    c_->token_times.push_back(t);
  }
  void on_finish(const TargetFinish& f, double) override {
    std::lock_guard<std::mutex> g(c_->mu);
    c_->finish = f;
    c_->cv.notify_all();
  }

 private:
  std::shared_ptr<Collected> c_;
};

std::shared_ptr<Collected> submit_and_wait(Target& t, const TargetRequest& r, double wait_s = 10) {
  auto c = std::make_shared<Collected>();
  t.submit(r, std::make_shared<CollectSink>(c));
  std::unique_lock<std::mutex> lock(c->mu);
  c->cv.wait_for(lock, std::chrono::duration<double>(wait_s), [&] { return c->finish.has_value(); });
  return c;
}

HttpTargetOptions options_for(uint16_t port) {
  HttpTargetOptions o;
  o.port = port;
  o.model = "m";
  o.request_timeout_s = 5;
  return o;
}

TEST(HttpTarget, StreamsChatTokens) {
  MiniServer server(sse_handler(5, true));
  auto target = make_http_target(options_for(server.port())).value();
  TargetRequest r;
  r.messages = {{"system", "be brief"}, {"user", "hi"}};
  r.max_tokens = 5;
  auto c = submit_and_wait(*target, r);
  ASSERT_TRUE(c->finish.has_value());
  EXPECT_EQ(c->finish->reason, FinishReason::kLength) << c->finish->error.to_string();
  EXPECT_EQ(c->finish->output_tokens, 5);
  EXPECT_EQ(c->finish->prompt_tokens, 9);
  EXPECT_EQ(c->finish->text, "t0t1t2t3t4");
  ASSERT_EQ(c->token_times.size(), 5u);
  for (size_t i = 1; i < 5; ++i) EXPECT_GT(c->token_times[i] - c->token_times[i - 1], 0.015);  // 20 ms apart
  const auto body = nlohmann::json::parse(server.bodies().at(0));
  EXPECT_EQ(body["model"], "m");
  EXPECT_EQ(body["stream"], true);
  EXPECT_EQ(body["max_tokens"], 5);
  EXPECT_EQ(body["messages"][1]["content"], "hi");
}

TEST(HttpTarget, SyntheticPromptsGoToCompletionsAsTokenIds) {
  MiniServer server(sse_handler(2, false));
  auto target = make_http_target(options_for(server.port())).value();
  TargetRequest r;
  r.prompt_tokens = 4;
  r.max_tokens = 2;
  r.ignore_eos = true;
  auto c = submit_and_wait(*target, r);
  ASSERT_TRUE(c->finish.has_value());
  EXPECT_EQ(c->finish->reason, FinishReason::kLength);
  EXPECT_EQ(c->finish->output_tokens, 2);
  const auto body = nlohmann::json::parse(server.bodies().at(0));
  EXPECT_EQ(body["prompt"], nlohmann::json({10, 17, 24, 31}));
  EXPECT_EQ(body["ignore_eos"], true);
}

TEST(HttpTarget, HttpErrorsCarryTheServersMessage) {
  MiniServer server([](tcp::socket& s, const std::string&, const std::atomic<bool>&) {
    const std::string body = "{\"error\":{\"message\":\"queue full\",\"type\":\"overloaded\"}}";
    write_all(s, "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\nContent-Length: " +
                     std::to_string(body.size()) + "\r\n\r\n" + body);
  });
  auto target = make_http_target(options_for(server.port())).value();
  TargetRequest r;
  r.prompt = "hello";
  auto c = submit_and_wait(*target, r);
  ASSERT_TRUE(c->finish.has_value());
  EXPECT_EQ(c->finish->reason, FinishReason::kError);
  EXPECT_EQ(c->finish->error.code(), StatusCode::kResourceExhausted);
  EXPECT_NE(c->finish->error.message().find("HTTP 429: queue full"), std::string::npos);
}

TEST(HttpTarget, MalformedStreamIsAnError) {
  MiniServer server([](tcp::socket& s, const std::string&, const std::atomic<bool>&) {
    write_all(s, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\ndata: {not json\n\n");
  });
  auto target = make_http_target(options_for(server.port())).value();
  TargetRequest r;
  r.prompt = "x";
  auto c = submit_and_wait(*target, r);
  ASSERT_TRUE(c->finish.has_value());
  EXPECT_EQ(c->finish->reason, FinishReason::kError);
  EXPECT_NE(c->finish->error.message().find("not JSON"), std::string::npos) << c->finish->error.to_string();
}

TEST(HttpTarget, SilentServerTimesOut) {
  MiniServer server([](tcp::socket&, const std::string&, const std::atomic<bool>& stop) {
    while (!stop) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  });
  HttpTargetOptions o = options_for(server.port());
  o.request_timeout_s = 0.3;
  auto target = make_http_target(o).value();
  TargetRequest r;
  r.prompt = "x";
  const double start = steady_now_s();
  auto c = submit_and_wait(*target, r);
  ASSERT_TRUE(c->finish.has_value());
  EXPECT_LT(steady_now_s() - start, 2.0);
  EXPECT_EQ(c->finish->error.code(), StatusCode::kDeadlineExceeded) << c->finish->error.to_string();
}

uint16_t closed_port() {
  asio::io_context ioc;
  tcp::acceptor a(ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  const uint16_t p = a.local_endpoint().port();
  a.close();
  return p;
}

TEST(HttpTarget, UnreachableTargetGivesErrorsNotAHang) {
  auto target = make_http_target(options_for(closed_port())).value();
  SyntheticSpec spec;
  spec.input.mean = 4;
  spec.output.mean = 2;
  const Workload w = Workload::synthetic(spec, 1).value();
  LoadTestConfig c;
  c.arrivals.kind = ArrivalKind::kConstant;
  c.arrivals.rate_per_s = 50;
  c.duration_s = 0.4;
  c.request_timeout_s = 2;
  const double start = steady_now_s();
  auto r = run_load_test(*target, w, c);
  ASSERT_TRUE(r.ok());
  EXPECT_LT(steady_now_s() - start, 3.0);
  EXPECT_EQ(r->offered, 20u);
  EXPECT_EQ(r->errors, 20u);
  EXPECT_EQ(r->performance.value, 0.0);
  ASSERT_FALSE(r->sample_errors.empty());
  EXPECT_NE(r->sample_errors[0].find("connecting to 127.0.0.1"), std::string::npos) << r->sample_errors[0];
}

TEST(HttpTarget, LoadTestAgainstAStreamingServer) {
  MiniServer server(sse_handler(3, false));
  auto target = make_http_target(options_for(server.port())).value();
  SyntheticSpec spec;
  spec.input.mean = 4;
  spec.output.mean = 3;
  const Workload w = Workload::synthetic(spec, 1).value();
  LoadTestConfig c;
  c.arrivals.kind = ArrivalKind::kConstant;
  c.arrivals.rate_per_s = 40;
  c.duration_s = 0.5;
  c.slos = parse_slos("ttft_p95_ms=2000,tpot_p95_ms=1000").value();
  auto r = run_load_test(*target, w, c);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->ok, 20u) << (r->sample_errors.empty() ? "" : r->sample_errors[0]);
  EXPECT_EQ(r->good, 20u);
  // Three tokens 20 ms apart: TTFT >= 20 ms, TPOT ~ 20 ms (the finish follows the last token at once).
  EXPECT_GE(r->ttft.p50_ms, 19.0);
  EXPECT_GE(r->itl.p50_ms, 15.0);
  EXPECT_GE(r->tpot.p50_ms, 9.0);
}

TEST(HttpTarget, ParsesUrls) {
  auto o = parse_http_url("http://127.0.0.1:8080");
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->host, "127.0.0.1");
  EXPECT_EQ(o->port, 8080);
  EXPECT_EQ(parse_http_url("http://localhost:9/v1").value().port, 9);
  EXPECT_EQ(parse_http_url("http://[::1]:81/").value().host, "::1");
  EXPECT_FALSE(parse_http_url("https://a:1").ok());
  EXPECT_FALSE(parse_http_url("http://a").ok());
  EXPECT_FALSE(parse_http_url("http://a:0").ok());
  EXPECT_FALSE(parse_http_url("http://a:70000").ok());
  EXPECT_FALSE(parse_http_url("http://a:1/other").ok());
}

}  // namespace
}  // namespace effitune::probes
