// Soak (issue 7 acceptance 4): 10,000 requests from 64 concurrent keep-alive clients over loopback
// against the CPU engine with the task model — completions (whole and streamed) and chat, with a few
// clients vanishing mid-request. Bounded in count and time. Every answer must be complete (200 with
// a finish reason and the usage it claims) or a documented error (429/503 JSON); at the end no KV
// block is held, nothing runs or waits, and the server still answers.
#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "effitune/engine/server.h"
#include "support/paths.h"

namespace effitune::engine {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using json = nlohmann::json;

constexpr int kRequests = 10000;
constexpr int kClients = 64;
constexpr int kMaxTokens = 4;
constexpr auto kTimeLimit = std::chrono::minutes(20);

struct Tally {
  std::atomic<int> ok{0}, streamed{0}, chat{0}, documented_errors{0}, disconnects{0}, bad{0};
  std::mutex mu;
  std::vector<std::string> bad_samples;
  void fail(const std::string& why) {
    ++bad;
    std::lock_guard<std::mutex> lock(mu);
    if (bad_samples.size() < 5) bad_samples.push_back(why);
  }
};

// A complete answer: the finish reason and the usage it claims agree with what was sent.
void check_answer(const json& j, bool chat, Tally& t, const std::string& raw) {
  if (!j.is_object() || !j.contains("choices") || !j.contains("usage")) return t.fail("no choices/usage: " + raw);
  const json& c = j["choices"][0];
  const std::string reason = c.value("finish_reason", "");
  const int n = j["usage"]["completion_tokens"];
  if (reason != "stop" && reason != "length") return t.fail("finish_reason: " + raw);
  if (n > kMaxTokens || (reason == "length" && n != kMaxTokens) || c["token_ids"].size() != static_cast<size_t>(n))
    return t.fail("usage: " + raw);
  if (chat && !c["message"]["content"].is_string()) return t.fail("chat content: " + raw);
  ++t.ok;
}

bool documented_error(int status, const std::string& body) {
  const json j = json::parse(body, nullptr, false);
  return (status == 429 || status == 503) && j.is_object() && j.contains("error") && j["error"].contains("message");
}

json make_body(int i) {
  static const char* kCities[] = {"Lyon", "Oslo", "Porto", "Graz"};
  const std::string order = std::to_string(10000 + (i * 7919) % 90000);
  if (i % 10 == 9) {
    return {{"messages",
             {{{"role", "system"}, {"content", "You are the support assistant of Cedar Goods."}},
              {{"role", "user"}, {"content", "My order number is " + order + "."}},
              {{"role", "assistant"}, {"content", "Thanks for the detail."}},
              {{"role", "user"}, {"content", "What is my order number?"}}}},
            {"max_tokens", kMaxTokens},
            {"temperature", 0}};
  }
  return {{"prompt", std::string("Order ") + order + " ships to " + kCities[i % 4] + "."},
          {"max_tokens", kMaxTokens},
          {"temperature", i % 3 == 0 ? 0.0 : 0.8},
          {"stream", i % 5 == 1}};
}

void client(uint16_t port, std::atomic<int>& next, Tally& t, std::chrono::steady_clock::time_point deadline) {
  net::io_context ioc;
  std::unique_ptr<tcp::socket> s;
  beast::flat_buffer buf;
  for (int i = next++; i < kRequests && std::chrono::steady_clock::now() < deadline; i = next++) {
    beast::error_code ec;
    if (!s) {
      s = std::make_unique<tcp::socket>(ioc);
      s->connect({net::ip::make_address("127.0.0.1"), port}, ec);
      if (ec) {
        t.fail("connect: " + ec.message());
        s.reset();
        continue;
      }
      buf.clear();
    }
    const json body = make_body(i);
    const bool chat = body.contains("messages");
    http::request<http::string_body> req{http::verb::post, chat ? "/v1/chat/completions" : "/v1/completions", 11};
    req.set(http::field::host, "127.0.0.1");
    req.set(http::field::content_type, "application/json");
    req.body() = body.dump();
    req.prepare_payload();
    http::write(*s, req, ec);
    if (ec) {
      t.fail("write: " + ec.message());
      s.reset();
      continue;
    }
    if (i % 97 == 13) {  // this client vanishes mid-request
      ++t.disconnects;
      s.reset();
      continue;
    }
    http::response<http::string_body> res;
    http::read(*s, buf, res, ec);
    if (ec) {
      t.fail("read: " + ec.message());
      s.reset();
      continue;
    }
    if (res.result_int() != 200) {
      if (documented_error(res.result_int(), res.body())) ++t.documented_errors;
      else t.fail(std::to_string(res.result_int()) + ": " + res.body());
    } else if (body.value("stream", false)) {
      // SSE: token chunks, a finish chunk, then [DONE].
      const std::string& b = res.body();
      const size_t done = b.rfind("data: [DONE]");
      const size_t fin = b.rfind("\"finish_reason\":\"");
      if (done == std::string::npos || fin == std::string::npos || done + 14 != b.size()) t.fail("stream: " + b);
      else ++t.ok, ++t.streamed;
    } else {
      check_answer(json::parse(res.body(), nullptr, false), chat, t, res.body());
      if (chat) ++t.chat;
    }
    if (!res.keep_alive()) s.reset();
  }
}

TEST(ServerSoak, TenThousandRequestsFromSixtyFourClients) {
  const std::string model = testing::source_dir() + "/experiments/support-desk/model.gguf";
  if (!std::filesystem::exists(model)) GTEST_SKIP() << "no task model at " << model;
  EngineConfig ec;
  ec.model_path = model;
  ec.backend.threads = 2;
  ec.max_sequences = 16;
  ec.context_length = 256;
  auto engine = Engine::create(ec).value();
  SchedulerConfig sc;
  sc.max_num_seqs = 16;
  sc.max_waiting = 128;
  ServerConfig cfg;
  cfg.port = 0;
  auto server = Server::create(*engine, sc, make_batch_policy("continuous").value(), cfg).value();
  ASSERT_TRUE(server->start().ok());

  Tally t;
  std::atomic<int> next{0};
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c)
    clients.emplace_back(client, server->port(), std::ref(next), std::ref(t), t0 + kTimeLimit);
  for (auto& th : clients) th.join();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  // Cancels of vanished clients land within a step; give the loop a moment to publish.
  for (int i = 0; i < 1000 && (server->in_flight() > 0 || server->scheduler_stats().running > 0); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const SchedulerStats st = server->scheduler_stats();
  std::printf("soak: %d requests in %.1f s: %d complete (%d streamed, %d chat), %d documented errors, "
              "%d disconnects, %d bad; %lld generated tokens, %lld cancelled, %lld preemptions\n",
              kRequests, secs, t.ok.load(), t.streamed.load(), t.chat.load(), t.documented_errors.load(),
              t.disconnects.load(), t.bad.load(), static_cast<long long>(st.generated_tokens),
              static_cast<long long>(st.cancelled), static_cast<long long>(st.preemptions));
  for (const auto& s : t.bad_samples) std::printf("  bad: %.300s\n", s.c_str());
  EXPECT_EQ(t.bad.load(), 0);
  EXPECT_EQ(t.ok + t.documented_errors + t.disconnects, kRequests) << "every request accounted for";
  EXPECT_GT(t.ok.load(), kRequests * 9 / 10);
  EXPECT_EQ(st.kv_used_blocks, 0) << "leaked KV blocks";
  EXPECT_EQ(st.running, 0);
  EXPECT_EQ(st.waiting, 0);
  EXPECT_EQ(server->in_flight(), 0);
  const std::string metrics = server->metrics_text();
  EXPECT_NE(metrics.find("effitune_kv_blocks_used 0"), std::string::npos);
  server->shutdown();
  EXPECT_EQ(server->scheduler_stats().kv_used_blocks, 0);
}

}  // namespace
}  // namespace effitune::engine
