// The HTTP server over real HTTP on loopback: completions (whole and SSE), chat with the task model,
// every error class, the API key, overload (429), disconnects (KV blocks back to zero), shutdown
// (in-process and SIGTERM to a child `effitune serve`). Outputs are checked against generate() run
// on an independent engine with the same weights, and against the chat module's own rendering.
#include "effitune/engine/server.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <nlohmann/json.hpp>
#include <thread>

#include "../../engine/src/server/text_stream.h"
#include "effitune/engine/generate.h"
#include "support/fake_tokenizer.h"
#include "support/paths.h"
#include "support/scripted_backend.h"

namespace effitune::engine {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using json = nlohmann::json;
using Headers = std::vector<std::pair<std::string, std::string>>;

struct Reply {
  int status = 0;
  std::string body;
  std::string content_type;
  json j() const { return json::parse(body, nullptr, false); }
};

Reply call(uint16_t port, http::verb verb, const std::string& target, const std::string& body = "",
           const Headers& headers = {}) {
  net::io_context ioc;
  tcp::socket s(ioc);
  beast::error_code ec;
  s.connect({net::ip::make_address("127.0.0.1"), port}, ec);
  if (ec) return {};  // status 0: nothing listens
  http::request<http::string_body> req{verb, target, 11};
  req.set(http::field::host, "127.0.0.1");
  req.set(http::field::content_type, "application/json");
  for (const auto& [k, v] : headers) req.set(k, v);
  req.body() = body;
  req.prepare_payload();
  http::write(s, req, ec);  // may be cut short when the server refuses a large body early
  beast::flat_buffer buf;
  http::response_parser<http::string_body> p;
  p.body_limit(64 << 20);
  http::read(s, buf, p, ec);
  if (ec) return {};
  return {static_cast<int>(p.get().result_int()), p.get().body(), std::string(p.get()[http::field::content_type])};
}

Reply post(uint16_t port, const std::string& target, const json& body, const Headers& headers = {}) {
  return call(port, http::verb::post, target, body.dump(), headers);
}

// The "data: " payloads of an SSE body, in order.
std::vector<std::string> sse_events(const std::string& body) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < body.size()) {
    size_t end = body.find("\n\n", pos);
    if (end == std::string::npos) end = body.size();
    std::string ev = body.substr(pos, end - pos);
    if (ev.rfind("data: ", 0) == 0) out.push_back(ev.substr(6));
    pos = end + 2;
  }
  return out;
}

EngineConfig tiny_config() {
  EngineConfig c;
  c.model_path = "synthetic:tiny";
  c.backend.threads = 1;
  c.max_sequences = 8;
  c.context_length = 128;
  return c;
}

std::string task_model_path() { return testing::source_dir() + "/experiments/support-desk/model.gguf"; }

// A server on an ephemeral loopback port; on destruction checks that no KV block leaked.
struct Rig {
  std::unique_ptr<Engine> engine;
  std::unique_ptr<Server> server;
  uint16_t port = 0;

  explicit Rig(ServerConfig cfg = {}, SchedulerConfig sc = {}, const std::string& policy = "continuous",
               const PolicyParams& params = {}, std::unique_ptr<Engine> eng = nullptr) {
    engine = eng ? std::move(eng) : Engine::create(tiny_config()).value();
    cfg.port = 0;
    server = Server::create(*engine, sc, make_batch_policy(policy, params).value(), cfg).value();
    EXPECT_TRUE(server->start().ok());
    port = server->port();
  }
  ~Rig() {
    server->shutdown();
    EXPECT_EQ(server->scheduler_stats().kv_used_blocks, 0) << "leaked KV blocks";
    EXPECT_EQ(server->in_flight(), 0);
    EXPECT_EQ(server->open_connections(), 0) << "a connection outlived shutdown()";
  }
};

std::vector<int32_t> ids_of(const json& arr) { return arr.get<std::vector<int32_t>>(); }

TEST(ServerHttp, HealthModelsAndMetrics) {
  Rig rig;
  Reply h = call(rig.port, http::verb::get, "/health");
  EXPECT_EQ(h.status, 200);
  EXPECT_EQ(h.j()["status"], "ok");
  Reply m = call(rig.port, http::verb::get, "/v1/models");
  ASSERT_EQ(m.status, 200);
  EXPECT_EQ(m.j()["object"], "list");
  EXPECT_EQ(m.j()["data"][0]["object"], "model");
  EXPECT_EQ(m.j()["data"][0]["max_model_len"], 128);

  ASSERT_EQ(post(rig.port, "/v1/completions", {{"prompt", {1, 5, 7}}, {"max_tokens", 3}, {"temperature", 0}}).status, 200);
  // The answer can leave before the step that finished it publishes its gauges.
  for (int i = 0; i < 500 && rig.server->scheduler_stats().running > 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  Reply metrics = call(rig.port, http::verb::get, "/metrics");
  ASSERT_EQ(metrics.status, 200);
  EXPECT_NE(metrics.content_type.find("text/plain"), std::string::npos);
  for (const char* line : {"effitune_queue_depth 0", "effitune_running_sequences 0", "effitune_kv_blocks_used 0",
                           "# TYPE effitune_ttft_seconds histogram", "effitune_ttft_seconds_count 1",
                           "effitune_itl_seconds_count", "effitune_preemptions_total 0", "effitune_tokens_per_second",
                           "effitune_kv_blocks_free", "effitune_http_responses_total{code=\"200\"}",
                           // one step took the 3-token prompt; the later tokens came from decode steps
                           "effitune_prefill_step_seconds_count 1", "# TYPE effitune_decode_step_seconds histogram"})
    EXPECT_NE(metrics.body.find(line), std::string::npos) << line << "\n" << metrics.body;
}

TEST(ServerHttp, CompletionMatchesGenerateOnAnIndependentEngine) {
  Rig rig;
  auto ref_engine = Engine::create(tiny_config()).value();
  const std::vector<int32_t> prompt = {1, 17, 33, 4, 60, 12};
  DecodingConfig d;
  d.max_new_tokens = 12;
  d.stop_at_eos = false;
  auto ref = generate(*ref_engine, prompt, d).value();

  Reply r = post(rig.port, "/v1/completions",
                 {{"model", "x"}, {"prompt", prompt}, {"max_tokens", 12}, {"temperature", 0}, {"ignore_eos", true}});
  ASSERT_EQ(r.status, 200) << r.body;
  const json j = r.j();
  EXPECT_EQ(j["object"], "text_completion");
  EXPECT_EQ(ids_of(j["choices"][0]["token_ids"]), ref.token_ids);
  EXPECT_EQ(j["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(j["usage"]["prompt_tokens"], 6);
  EXPECT_EQ(j["usage"]["completion_tokens"], 12);
  EXPECT_EQ(j["usage"]["total_tokens"], 18);
  EXPECT_EQ(j["choices"][0]["text"], "");  // the synthetic model has no tokenizer

  // The same request streamed: the chunks carry the same ids, then the finish reason, usage, [DONE].
  Reply s = post(rig.port, "/v1/completions",
                 {{"prompt", prompt}, {"max_tokens", 12}, {"temperature", 0}, {"ignore_eos", true}, {"stream", true},
                  {"stream_options", {{"include_usage", true}}}});
  ASSERT_EQ(s.status, 200);
  EXPECT_EQ(s.content_type, "text/event-stream");
  auto events = sse_events(s.body);
  ASSERT_GE(events.size(), 3u);
  EXPECT_EQ(events.back(), "[DONE]");
  std::vector<int32_t> streamed;
  std::string finish;
  json usage;
  for (size_t i = 0; i + 1 < events.size(); ++i) {
    json c = json::parse(events[i]);
    if (c.contains("usage")) {
      usage = c["usage"];
      EXPECT_TRUE(c["choices"].empty());
      continue;
    }
    for (int32_t t : ids_of(c["choices"][0]["token_ids"])) streamed.push_back(t);
    if (!c["choices"][0]["finish_reason"].is_null()) finish = c["choices"][0]["finish_reason"];
  }
  EXPECT_EQ(streamed, ref.token_ids);
  EXPECT_EQ(finish, "length");
  EXPECT_EQ(usage["completion_tokens"], 12);
}

TEST(ServerHttp, ConcurrentRequestsEachMatchTheirReference) {
  Rig rig;
  auto ref_engine = Engine::create(tiny_config()).value();
  constexpr int kN = 12;
  std::vector<std::future<Reply>> replies;
  std::vector<std::vector<int32_t>> prompts;
  for (int i = 0; i < kN; ++i) {
    std::vector<int32_t> p = {1};
    for (int k = 0; k <= i; ++k) p.push_back(3 + (i * 13 + k * 7) % 90);
    prompts.push_back(p);
    json body = {{"prompt", p}, {"max_tokens", 4 + i}, {"temperature", 0}, {"ignore_eos", true}, {"stream", i % 2 == 1}};
    replies.push_back(std::async(std::launch::async, [&rig, body] { return post(rig.port, "/v1/completions", body); }));
  }
  for (int i = 0; i < kN; ++i) {
    Reply r = replies[i].get();
    ASSERT_EQ(r.status, 200) << r.body;
    DecodingConfig d;
    d.max_new_tokens = 4 + i;
    d.stop_at_eos = false;
    auto ref = generate(*ref_engine, prompts[i], d).value();
    std::vector<int32_t> got;
    if (i % 2 == 0) {
      got = ids_of(r.j()["choices"][0]["token_ids"]);
    } else {
      auto ev = sse_events(r.body);
      for (size_t e = 0; e + 1 < ev.size(); ++e)
        for (int32_t t : ids_of(json::parse(ev[e])["choices"][0]["token_ids"])) got.push_back(t);
    }
    EXPECT_EQ(got, ref.token_ids) << "request " << i;
  }
}

void expect_error(const Reply& r, int status, const std::string& param = "", const std::string& code = "") {
  EXPECT_EQ(r.status, status) << r.body;
  const json j = r.j();
  ASSERT_TRUE(j.is_object() && j.contains("error")) << r.body;
  const json& e = j["error"];
  EXPECT_TRUE(e["message"].is_string() && !e["message"].get<std::string>().empty());
  EXPECT_TRUE(e["type"].is_string());
  EXPECT_TRUE(e.contains("param") && e.contains("code"));
  if (!param.empty()) {
    EXPECT_EQ(e["param"], param) << r.body;
  }
  if (!code.empty()) {
    EXPECT_EQ(e["code"], code) << r.body;
  }
}

TEST(ServerHttp, BadInputGetsOpenAiStyleErrors) {
  ServerConfig cfg;
  cfg.max_body_bytes = 4096;
  Rig rig(cfg);
  const uint16_t p = rig.port;
  expect_error(call(p, http::verb::post, "/v1/completions", "{\"prompt\": [1, 2"), 400, "", "invalid_json");
  expect_error(call(p, http::verb::post, "/v1/completions", "[1, 2]"), 400, "", "invalid_json");
  expect_error(post(p, "/v1/completions", {{"prompt", 5}}), 400, "prompt", "invalid_type");
  expect_error(post(p, "/v1/completions", {{"prompt", {1, "a"}}}), 400, "prompt", "invalid_type");
  expect_error(post(p, "/v1/completions", {{"prompt", {1, 2}}, {"max_tokens", "8"}}), 400, "max_tokens", "invalid_type");
  expect_error(post(p, "/v1/completions", {{"prompt", {1, 2}}, {"max_tokens", 2.5}}), 400, "max_tokens");
  expect_error(post(p, "/v1/completions", {{"prompt", {1, 2}}, {"temperature", "hot"}}), 400, "temperature");
  expect_error(post(p, "/v1/completions", {{"prompt", {1, 2}}, {"stream", "yes"}}), 400, "stream");
  expect_error(post(p, "/v1/completions", {{"prompt", {1, 2}}, {"stop", {1}}}), 400, "stop");
  expect_error(post(p, "/v1/completions", {{"max_tokens", 4}}), 400, "prompt", "missing_field");
  expect_error(post(p, "/v1/chat/completions", {{"messages", "hi"}}), 400, "messages");
  expect_error(post(p, "/v1/completions", {{"prompt", {1, 2}}, {"max_tokens", 0}}), 422, "max_tokens", "invalid_value");
  expect_error(post(p, "/v1/completions", {{"prompt", {1, 2}}, {"max_tokens", -3}}), 422, "max_tokens");
  expect_error(post(p, "/v1/completions", {{"prompt", {1, 2}}, {"temperature", 5}}), 422, "temperature");
  expect_error(post(p, "/v1/completions", {{"prompt", {1, 2}}, {"n", 2}}), 422, "n");
  expect_error(post(p, "/v1/completions", {{"prompt", json::array()}}), 422, "prompt");
  expect_error(post(p, "/v1/completions", {{"prompt", std::vector<int32_t>(128, 5)}}), 422, "prompt",
               "context_length_exceeded");
  expect_error(post(p, "/v1/completions", {{"prompt", {1, 96}}}), 422, "prompt", "invalid_value");
  expect_error(post(p, "/v1/completions", {{"prompt", "text needs a tokenizer"}}), 422, "prompt", "tokenizer_unavailable");
  expect_error(post(p, "/v1/chat/completions", {{"messages", {{{"role", "user"}, {"content", "hi"}}}}}), 422, "messages",
               "chat_unavailable");
  expect_error(call(p, http::verb::post, "/v1/completions", std::string(10000, ' ')), 413, "", "body_too_large");
  expect_error(call(p, http::verb::get, "/v1/nothing"), 404, "", "not_found");
  expect_error(call(p, http::verb::get, "/v1/completions"), 405, "", "method_not_allowed");
  // The server is still healthy after all of that.
  EXPECT_EQ(post(p, "/v1/completions", {{"prompt", {1, 2}}, {"max_tokens", 2}}).status, 200);
  EXPECT_EQ(rig.server->scheduler_stats().submitted, 1);
}

// Sends a request line that is not HTTP on a connected socket; returns the answer's status (-1 if
// none could be read). The socket stays open.
int garbage_request_status(tcp::socket& s) {
  net::write(s, net::buffer(std::string("GARBAGE\r\n\r\n")));
  beast::flat_buffer buf;
  http::response<http::string_body> res;
  beast::error_code ec;
  http::read(s, buf, res, ec);
  EXPECT_FALSE(ec) << ec.message();
  return ec ? -1 : res.result_int();
}

TEST(ServerHttp, MalformedHttpIsA400NotACrash) {
  Rig rig;
  net::io_context ioc;
  tcp::socket s(ioc);
  s.connect({net::ip::make_address("127.0.0.1"), rig.port});
  EXPECT_EQ(garbage_request_status(s), 400);
  EXPECT_EQ(call(rig.port, http::verb::get, "/health").status, 200);
}

// A client that keeps its socket open after a 400 leaves the session lingering (half-closed, reading
// until the peer closes); an idle keep-alive client leaves a read pending. shutdown() must free both
// sessions and close both sockets, not leave them to the Server's destructor (or leak them: the
// lingering read's handler once referred to itself). Named *Malformed* so CI runs it under ASan.
TEST(ServerHttp, MalformedHttpClientsStillConnectedAreClosedAtShutdown) {
  Rig rig;
  net::io_context ioc;
  tcp::socket garbage(ioc), idle(ioc);
  garbage.connect({net::ip::make_address("127.0.0.1"), rig.port});
  idle.connect({net::ip::make_address("127.0.0.1"), rig.port});
  EXPECT_EQ(garbage_request_status(garbage), 400);
  // The idle connection's session starts when the acceptor gets to it.
  for (int i = 0; i < 500 && rig.server->open_connections() < 2; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(rig.server->open_connections(), 2);
  rig.server->shutdown();
  EXPECT_EQ(rig.server->open_connections(), 0);
  char byte;
  beast::error_code ec;
  for (tcp::socket* s : {&garbage, &idle}) {
    s->read_some(net::buffer(&byte, 1), ec);
    EXPECT_EQ(ec, net::error::eof) << "the server did not close a client's socket: " << ec.message();
  }
}

TEST(ServerHttp, ApiKeyIsRequiredWhenSet) {
  ServerConfig cfg;
  cfg.api_key = "s3cret";
  Rig rig(cfg);
  const json body = {{"prompt", {1, 2}}, {"max_tokens", 2}};
  expect_error(post(rig.port, "/v1/completions", body), 401, "", "invalid_api_key");
  expect_error(post(rig.port, "/v1/completions", body, {{"Authorization", "Bearer wrong"}}), 401);
  expect_error(call(rig.port, http::verb::get, "/metrics"), 401);
  EXPECT_EQ(post(rig.port, "/v1/completions", body, {{"Authorization", "Bearer s3cret"}}).status, 200);
  EXPECT_EQ(call(rig.port, http::verb::get, "/health").status, 200);  // probes stay open
}

// A static policy that never dispatches holds requests in the queue: the third gets 429 at once,
// and shutdown answers the two held ones with 503 (none is dropped).
TEST(ServerHttp, OverloadGets429AndShutdownAnswersTheQueue) {
  SchedulerConfig sc;
  sc.max_waiting = 2;
  ServerConfig cfg;
  cfg.shutdown_grace_ms = 100;
  auto rig = std::make_unique<Rig>(cfg, sc, "static", PolicyParams{{"batch_size", 64}, {"timeout_ms", 600000}});
  const uint16_t port = rig->port;
  const json body = {{"prompt", {1, 2, 3}}, {"max_tokens", 4}};
  auto a = std::async(std::launch::async, [&] { return post(port, "/v1/completions", body); });
  auto b = std::async(std::launch::async, [&] { return post(port, "/v1/completions", body); });
  for (int i = 0; i < 500 && rig->server->scheduler_stats().waiting < 2; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  ASSERT_EQ(rig->server->scheduler_stats().waiting, 2);
  const auto t0 = std::chrono::steady_clock::now();
  Reply c = post(port, "/v1/completions", body);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2)) << "overload must not hang";
  expect_error(c, 429, "", "queue_full");
  Reply m = call(port, http::verb::get, "/metrics");
  EXPECT_NE(m.body.find("effitune_queue_depth 2"), std::string::npos);
  EXPECT_NE(m.body.find("effitune_requests_rejected_total 1"), std::string::npos);
  rig->server->shutdown();
  expect_error(a.get(), 503, "", "cancelled");
  expect_error(b.get(), 503, "", "cancelled");
  rig.reset();
}

// A backend that takes real time per step, so a request is still running when its client leaves.
class SlowBackend : public Backend {
 public:
  explicit SlowBackend(std::unique_ptr<Backend> inner) : inner_(std::move(inner)) {}
  std::string name() const override { return inner_->name(); }
  std::string device_name() const override { return inner_->device_name(); }
  Status forward(std::span<const SequenceStep> steps, std::vector<float>& logits) override {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    return inner_->forward(steps, logits);
  }
  void copy_block(int32_t src, int32_t dst) override { inner_->copy_block(src, dst); }
  int64_t kv_bytes_per_block() const override { return inner_->kv_bytes_per_block(); }
  int64_t weight_bytes() const override { return 0; }

 private:
  std::unique_ptr<Backend> inner_;
};

std::unique_ptr<Engine> slow_engine() {
  constexpr int32_t kVocab = 32, kContext = 1024, kBlocks = 600, kBlockSize = 4;
  auto script = [](const std::vector<int32_t>& h) {
    std::vector<float> l(kVocab, 0.f);
    l[static_cast<size_t>(3 + h.size() % 20)] = 1.f;
    return l;
  };
  auto backend = std::make_unique<SlowBackend>(std::make_unique<testing::ScriptedBackend>(kVocab, kBlocks, kBlockSize, script));
  return Engine::create_with_backend(testing::config_only_weights(kVocab, kContext, -1), std::move(backend), kContext,
                                     kBlocks, kBlockSize)
      .value();
}

bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return pred();
}

std::string raw_request(const json& body) {
  const std::string b = body.dump();
  return "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
         std::to_string(b.size()) + "\r\n\r\n" + b;
}

TEST(ServerHttp, DisconnectingClientsFreeTheirKvBlocks) {
  Rig rig({}, {}, "continuous", {}, slow_engine());
  Server& server = *rig.server;
  // 500 tokens at >= 5 ms a step would run 2.5 s; the cancel must land long before.
  const json body = {{"prompt", {1, 2, 3, 4, 5, 6, 7, 8, 9}}, {"max_tokens", 500}, {"temperature", 0}};
  for (bool stream : {true, false}) {
    json b = body;
    b["stream"] = stream;
    net::io_context ioc;
    auto s = std::make_unique<tcp::socket>(ioc);
    s->connect({net::ip::make_address("127.0.0.1"), rig.port});
    net::write(*s, net::buffer(raw_request(b)));
    if (stream) {  // read until a few tokens have arrived
      std::string got;
      char buf[4096];
      while (got.find("data: ", got.find("data: ", got.find("data: ") + 1) + 1) == std::string::npos)
        got.append(buf, s->read_some(net::buffer(buf)));
    }
    ASSERT_TRUE(wait_until([&] { return server.scheduler_stats().running == 1; }, std::chrono::milliseconds(2000)));
    EXPECT_GT(server.scheduler_stats().kv_used_blocks, 0);
    const auto t0 = std::chrono::steady_clock::now();
    s.reset();  // the client goes away mid-generation
    EXPECT_TRUE(wait_until(
        [&] {
          auto st = server.scheduler_stats();
          return st.running == 0 && st.kv_used_blocks == 0;
        },
        std::chrono::milliseconds(1000)))
        << (stream ? "stream" : "whole");
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(1000));
    EXPECT_TRUE(wait_until([&] { return server.in_flight() == 0; }, std::chrono::milliseconds(1000)));
  }
  EXPECT_EQ(server.scheduler_stats().cancelled, 2);
  EXPECT_EQ(call(rig.port, http::verb::get, "/health").status, 200);
}

TEST(ServerHttp, KeepAliveServesSeveralRequestsOnOneConnection) {
  Rig rig;
  net::io_context ioc;
  tcp::socket s(ioc);
  s.connect({net::ip::make_address("127.0.0.1"), rig.port});
  beast::flat_buffer buf;
  for (int i = 0; i < 3; ++i) {
    net::write(s, net::buffer(raw_request({{"prompt", {1, 2 + i}}, {"max_tokens", 3}, {"stream", i == 1}})));
    http::response<http::string_body> res;
    http::read(s, buf, res);
    EXPECT_EQ(res.result_int(), 200) << res.body();
    EXPECT_TRUE(res.keep_alive());
  }
}

TEST(ServerHttp, GracefulShutdownLetsInFlightRequestsFinish) {
  ServerConfig cfg;
  cfg.shutdown_grace_ms = 5000;
  auto rig = std::make_unique<Rig>(cfg, SchedulerConfig{}, "continuous", PolicyParams{}, slow_engine());
  const uint16_t port = rig->port;
  auto r = std::async(std::launch::async, [&] {
    return post(port, "/v1/completions", {{"prompt", {1, 2, 3}}, {"max_tokens", 40}, {"temperature", 0}});
  });
  ASSERT_TRUE(wait_until([&] { return rig->server->scheduler_stats().running == 1; }, std::chrono::milliseconds(2000)));
  rig->server->shutdown();
  Reply done = r.get();
  ASSERT_EQ(done.status, 200) << done.body;
  EXPECT_EQ(done.j()["usage"]["completion_tokens"], 40);
  EXPECT_EQ(call(port, http::verb::get, "/health").status, 0) << "no longer accepting";
  rig.reset();
}

// ---- the chat endpoint on the task model: the prompt is the chat module's rendering, the answer is
// what generate() gives for it, and the history budget's drop is reported.
TEST(ServerHttp, ChatOnTheTaskModelMatchesRenderAndGenerate) {
  if (!std::filesystem::exists(task_model_path())) GTEST_SKIP() << "no task model at " << task_model_path();
  EngineConfig ec;
  ec.model_path = task_model_path();
  ec.backend.threads = 1;
  ec.max_sequences = 4;
  ServerConfig cfg;
  cfg.history_budget = 96;
  cfg.response_budget = 24;
  Rig rig(cfg, {}, "continuous", {}, Engine::create(ec).value());
  auto ref_engine = Engine::create(ec).value();
  const Tokenizer& tok = *ref_engine->tokenizer();

  std::ifstream in(testing::source_dir() + "/experiments/support-desk/test.jsonl");
  std::string line;
  std::getline(in, line);
  const json conv = json::parse(line);
  json messages = json::array({{{"role", "system"}, {"content", conv["system"]}}});
  Conversation c;
  c.system = conv["system"];
  for (const auto& t : conv["turns"]) {
    messages.push_back({{"role", t["role"]}, {"content", t["content"]}});
    c.turns.push_back({t["role"] == "user" ? ChatRole::kUser : ChatRole::kAssistant, t["content"]});
  }
  messages.push_back({{"role", "user"}, {"content", conv["question"]}});
  c.question = conv["question"];

  auto rendered = render_with_budget(ChatFormat::kSupportDesk, tok, c, {96, 24}).value();
  ASSERT_GT(rendered.history_tokens_dropped, 0) << "the budget should drop history in this test";
  DecodingConfig d;
  d.max_new_tokens = 24;
  auto ref = generate(*ref_engine, rendered.tokens, d).value();

  Reply r = post(rig.port, "/v1/chat/completions", {{"messages", messages}, {"temperature", 0}, {"max_tokens", 64}});
  ASSERT_EQ(r.status, 200) << r.body;
  const json j = r.j();
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_EQ(j["choices"][0]["message"]["role"], "assistant");
  EXPECT_EQ(j["choices"][0]["message"]["content"], ref.text);
  EXPECT_EQ(ids_of(j["choices"][0]["token_ids"]), ref.token_ids);
  EXPECT_EQ(j["choices"][0]["finish_reason"], finish_reason_name(ref.finish_reason));
  EXPECT_EQ(j["usage"]["prompt_tokens"], static_cast<int>(rendered.tokens.size()));
  EXPECT_EQ(j["usage"]["history_tokens_dropped"], rendered.history_tokens_dropped);

  // Streamed: the deltas concatenate to the same text.
  Reply s = post(rig.port, "/v1/chat/completions",
                 {{"messages", messages}, {"temperature", 0}, {"max_tokens", 64}, {"stream", true}});
  ASSERT_EQ(s.status, 200);
  std::string text;
  auto events = sse_events(s.body);
  ASSERT_EQ(events.back(), "[DONE]");
  EXPECT_EQ(json::parse(events.front())["choices"][0]["delta"]["role"], "assistant");
  for (size_t i = 0; i + 1 < events.size(); ++i) {
    const json chunk = json::parse(events[i]);
    const json& delta = chunk["choices"][0]["delta"];
    if (delta.contains("content")) text += delta["content"].get<std::string>();
  }
  EXPECT_EQ(text, ref.text);

  // A text prompt on /v1/completions is tokenized with BOS, as generate's caller would.
  Reply t = post(rig.port, "/v1/completions", {{"prompt", "Hello"}, {"max_tokens", 5}, {"temperature", 0}});
  ASSERT_EQ(t.status, 200) << t.body;
  DecodingConfig d5;
  d5.max_new_tokens = 5;
  auto ref5 = generate(*ref_engine, tok.encode("Hello", true), d5).value();
  EXPECT_EQ(t.j()["choices"][0]["text"], ref5.text);
}

// ---- SIGTERM to a child `effitune serve`: exit code 0, the in-flight stream ends with [DONE].
struct Child {
  pid_t pid = -1;
  int out_fd = -1;
  uint16_t port = 0;
};

Child spawn_serve(const std::vector<std::string>& extra) {
  const std::string exe = testing::binary_dir() + "/cli/effitune";
  Child c;
  int fds[2];
  EFFITUNE_CHECK(pipe(fds) == 0, "pipe");
  c.pid = fork();
  if (c.pid == 0) {
    dup2(fds[1], 1);
    close(fds[0]);
    std::vector<std::string> args = {exe, "serve", "--port", "0", "--threads", "1"};
    args.insert(args.end(), extra.begin(), extra.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(exe.c_str(), argv.data());
    _exit(127);
  }
  close(fds[1]);
  c.out_fd = fds[0];
  std::string out;
  char buf[256];
  while (out.find('\n') == std::string::npos) {
    const ssize_t n = read(c.out_fd, buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  const size_t at = out.find("127.0.0.1:");
  if (at != std::string::npos) c.port = static_cast<uint16_t>(std::stoi(out.substr(at + 10)));
  return c;
}

int wait_exit(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

void sigterm_mid_stream(const std::string& grace_ms, bool expect_complete) {
  const std::string exe = testing::binary_dir() + "/cli/effitune";
  if (!std::filesystem::exists(exe)) GTEST_SKIP() << "build the effitune target first: " << exe;
  if (!std::filesystem::exists(task_model_path())) GTEST_SKIP() << "no task model";
  Child c = spawn_serve({"--model", task_model_path(), "--shutdown-grace-ms", grace_ms});
  ASSERT_GT(c.port, 0) << "the child did not report its port";
  net::io_context ioc;
  tcp::socket s(ioc);
  s.connect({net::ip::make_address("127.0.0.1"), c.port});
  // 400 tokens with EOS ignored: long enough that SIGTERM lands mid-stream.
  http::request<http::string_body> req{http::verb::post, "/v1/completions", 11};
  req.set(http::field::host, "x");
  req.body() = json{{"prompt", "Hello"}, {"max_tokens", 400}, {"ignore_eos", true}, {"stream", true}}.dump();
  req.prepare_payload();
  http::write(s, req);
  beast::flat_buffer buf;
  http::response_parser<http::string_body> p;
  http::read_header(s, buf, p);
  ASSERT_EQ(p.get().result_int(), 200);
  std::string body;
  auto on_chunk = [&](uint64_t, beast::string_view data, beast::error_code&) {
    body.append(data.data(), data.size());
    return data.size();
  };
  p.on_chunk_body(on_chunk);
  beast::error_code ec;
  while (body.find("data: ") == std::string::npos && !p.is_done()) http::read_some(s, buf, p, ec);
  ASSERT_EQ(kill(c.pid, SIGTERM), 0);
  while (!p.is_done() && !ec) http::read_some(s, buf, p, ec);
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_EQ(wait_exit(c.pid), 0);
  close(c.out_fd);
  auto events = sse_events(body);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back(), "[DONE]") << "the stream must end properly, not be cut";
  const json last = json::parse(events[events.size() - 2]);
  if (expect_complete) {
    EXPECT_EQ(last["choices"][0]["finish_reason"], "length") << events[events.size() - 2];
  } else {
    ASSERT_TRUE(last.contains("error")) << "400 tokens cannot finish before a zero grace period ends";
    EXPECT_EQ(last["error"]["code"], "cancelled");
  }
}

TEST(ServerSigterm, InFlightStreamFinishesWithinTheGracePeriodAndExitIsZero) { sigterm_mid_stream("20000", true); }
TEST(ServerSigterm, PastTheGracePeriodTheStreamEndsWithAnErrorAndExitIsZero) { sigterm_mid_stream("0", false); }

// ---- incremental detokenization for SSE
TEST(ServerTextStream, HoldsBackHalfCharactersAndStopStringPrefixes) {
  testing::FakeByteTokenizer tok({}, "", "");
  server::TextStream ts(&tok, {"END"});
  std::string out;
  for (unsigned char c : std::string("caf\xC3\xA9 E")) out += ts.push(c);
  EXPECT_EQ(out, "caf\xC3\xA9 ");  // "E" might start "END"
  EXPECT_EQ(ts.push('N'), "");
  EXPECT_EQ(ts.push('D'), "");      // the stop string is never streamed
  EXPECT_EQ(ts.finish("caf\xC3\xA9 "), "");
  server::TextStream ts2(&tok, {});
  EXPECT_EQ(ts2.push(0xE2), "");
  EXPECT_EQ(ts2.push(0x82), "");
  EXPECT_EQ(ts2.push(0xAC), "\xE2\x82\xAC");  // the euro sign, whole
  EXPECT_EQ(server::incomplete_utf8_tail("a\xF0\x9F"), 2u);
  EXPECT_EQ(server::incomplete_utf8_tail("a\xF0\x9F\x98\x80"), 0u);
}

TEST(ServerApi, ParseAcceptsOpenAiShapes) {
  auto a = parse_api_request(R"({"prompt": [[1, 2, 3]], "max_tokens": 5, "stop": "x", "seed": 7, "temperature": 0.5})", false);
  ASSERT_TRUE(a.request) << a.error.message;
  EXPECT_EQ(a.request->prompt_ids, (std::vector<int32_t>{1, 2, 3}));
  EXPECT_EQ(a.request->max_tokens, 5);
  EXPECT_EQ(a.request->decoding.strategy, DecodingStrategy::kSample);
  EXPECT_FLOAT_EQ(a.request->decoding.temperature, 0.5f);
  EXPECT_TRUE(a.request->has_seed);
  EXPECT_EQ(a.request->decoding.stop_strings, (std::vector<std::string>{"x"}));
  auto b = parse_api_request(
      R"({"messages": [{"role": "system", "content": "S"}, {"role": "user", "content": [{"type": "text", "text": "a"}]},
          {"role": "assistant", "content": "b"}, {"role": "user", "content": "q"}], "max_completion_tokens": 9})",
      true);
  ASSERT_TRUE(b.request) << b.error.message;
  EXPECT_EQ(b.request->conversation.system, "S");
  ASSERT_EQ(b.request->conversation.turns.size(), 2u);
  EXPECT_EQ(b.request->conversation.turns[0].content, "a");
  EXPECT_EQ(b.request->conversation.turns[1].role, ChatRole::kAssistant);
  EXPECT_EQ(b.request->conversation.question, "q");
  EXPECT_EQ(b.request->max_tokens, 9);
  EXPECT_EQ(b.request->decoding.strategy, DecodingStrategy::kSample);  // OpenAI's default temperature is 1
  auto c = parse_api_request(R"({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]})", true);
  ASSERT_FALSE(c.request);
  EXPECT_EQ(c.error.http_status, 422);
  EXPECT_EQ(ApiError{}.to_json(), R"({"error":{"code":null,"message":"","param":null,"type":"invalid_request_error"}})");
}

}  // namespace
}  // namespace effitune::engine
