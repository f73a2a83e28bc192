// Server: the acceptor, the I/O threads, the scheduler's loop thread, and the graceful shutdown.
#include "effitune/engine/server.h"

#include <boost/asio.hpp>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "server/http_session.h"
#include "server/server_core.h"

namespace effitune::engine {

namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {
constexpr double kLoopWaitMs = 20;            // an idle loop wakes this often to notice shutdown
constexpr auto kPolicyWaitSleep = std::chrono::microseconds(500);  // requests held back by the policy
constexpr auto kCancelAnswerWait = std::chrono::seconds(5);  // for cancelled requests' error answers
}  // namespace

struct Server::Impl {
  server::ServerCore core;
  // After core: its handlers (the sessions) use the scheduler when destroyed. Reset at shutdown, so
  // that the handlers still pending then (reads of idle or lingering connections) free their
  // sessions and sockets at once instead of when the Server is destroyed.
  std::optional<net::io_context> ioc{std::in_place};
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work;
  std::optional<tcp::acceptor> acceptor;
  std::optional<net::steady_timer> accept_retry;
  uint16_t port = 0;
  std::vector<std::thread> io_threads;
  std::thread loop_thread;
  std::atomic<bool> loop_stop{false};
  std::atomic<bool> cancel_all_requested{false};

  std::mutex state_mu;
  std::condition_variable state_cv;
  bool started = false, shutting_down = false, stopped = false;

  void accept();
  void loop();
};

void Server::Impl::accept() {
  acceptor->async_accept(net::make_strand(*ioc), [this](boost::system::error_code ec, tcp::socket socket) {
    if (ec == net::error::operation_aborted || !acceptor->is_open()) return;
    if (ec) {  // e.g. out of file descriptors: back off instead of spinning
      accept_retry->expires_after(std::chrono::milliseconds(50));
      accept_retry->async_wait([this](boost::system::error_code) {
        if (acceptor->is_open()) accept();
      });
      return;
    }
    boost::system::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);  // SSE chunks go out as they are made
    server::start_session(std::move(socket), core);
    accept();
  });
}

void Server::Impl::loop() {
  Scheduler& sched = *core.scheduler;
  const auto t0 = std::chrono::steady_clock::now();
  auto now_ms = [&] { return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count(); };
  while (!loop_stop.load()) {
    if (cancel_all_requested.exchange(false)) sched.cancel_all();
    if (!sched.wait_for_work(kLoopWaitMs)) {
      core.metrics.on_progress(now_ms(), sched.stats().generated_tokens);
      continue;
    }
    const StepReport r = sched.step();
    core.metrics.on_step(r);
    core.metrics.on_progress(now_ms(), sched.stats().generated_tokens);
    // wait_for_work returns at once while the policy holds requests back (a window, a static batch).
    if (!r.dispatched) std::this_thread::sleep_for(kPolicyWaitSleep);
  }
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() {
  bool need;
  {
    std::lock_guard<std::mutex> lock(impl_->state_mu);
    need = impl_->started;
  }
  if (need) shutdown();
}

Result<std::unique_ptr<Server>> Server::create(Engine& engine, const SchedulerConfig& scheduler_config,
                                               std::unique_ptr<BatchPolicy> policy, const ServerConfig& config) {
  if (config.io_threads < 1 || config.io_threads > 64)
    return invalid_argument("server io_threads must be in [1, 64], got " + std::to_string(config.io_threads));
  if (config.max_body_bytes < 1024) return invalid_argument("server max_body_bytes must be >= 1024");
  if (config.history_budget < 0 || config.response_budget < 0)
    return invalid_argument("--history-budget and --response-budget must be >= 0");
  if (!(config.shutdown_grace_ms >= 0)) return invalid_argument("server shutdown_grace_ms must be >= 0");
  if (!(config.idle_timeout_ms > 0)) return invalid_argument("server idle_timeout_ms must be > 0");
  auto impl = std::make_unique<Impl>();
  server::ServerCore& core = impl->core;
  EFFITUNE_ASSIGN_OR_RETURN(core.scheduler, Scheduler::create(engine, scheduler_config, std::move(policy)));
  core.engine = &engine;
  core.config = config;
  core.model_name = config.model_name.empty() ? engine.model().name : config.model_name;
  if (core.model_name.empty()) core.model_name = "effitune";
  ModelLimits& l = core.limits;
  l.vocab_size = engine.model().vocab_size;
  l.context_length = engine.context_length();
  l.tokenizer = engine.tokenizer();
  l.history_budget = config.history_budget;
  l.response_budget = config.response_budget;
  l.chat_format = config.chat_format;
  if (!l.chat_format && l.tokenizer && engine.gguf()) {
    auto detected = detect_chat_format(*engine.gguf());
    if (detected.ok()) l.chat_format = detected.value();
  }
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

Status Server::start() {
  Impl& s = *impl_;
  {
    std::lock_guard<std::mutex> lock(s.state_mu);
    if (s.started) return failed_precondition("the server is already started");
  }
  boost::system::error_code ec;
  const auto address = net::ip::make_address(s.core.config.host, ec);
  if (ec) return invalid_argument("--host '" + s.core.config.host + "' is not an IP address: " + ec.message());
  const tcp::endpoint endpoint(address, s.core.config.port);
  const std::string where = s.core.config.host + ":" + std::to_string(s.core.config.port);
  s.acceptor.emplace(*s.ioc);
  s.accept_retry.emplace(*s.ioc);
  if (s.acceptor->open(endpoint.protocol(), ec); ec) return unavailable("cannot open a socket for " + where + ": " + ec.message());
  s.acceptor->set_option(net::socket_base::reuse_address(true), ec);
  if (s.acceptor->bind(endpoint, ec); ec)
    return unavailable("cannot bind " + where + ": " + ec.message() + " (is another server on that port?)");
  if (s.acceptor->listen(net::socket_base::max_listen_connections, ec); ec)
    return unavailable("cannot listen on " + where + ": " + ec.message());
  s.port = s.acceptor->local_endpoint().port();
  s.work.emplace(s.ioc->get_executor());
  s.accept();
  for (int i = 0; i < s.core.config.io_threads; ++i) s.io_threads.emplace_back([&s] { s.ioc->run(); });
  s.loop_thread = std::thread([&s] { s.loop(); });
  std::lock_guard<std::mutex> lock(s.state_mu);
  s.started = true;
  return {};
}

uint16_t Server::port() const { return impl_->port; }

void Server::shutdown() {
  Impl& s = *impl_;
  {
    std::unique_lock<std::mutex> lock(s.state_mu);
    if (!s.started || s.stopped) return;
    if (s.shutting_down) {
      s.state_cv.wait(lock, [&] { return s.stopped; });
      return;
    }
    s.shutting_down = true;
  }
  s.core.draining.store(true);
  net::post(*s.ioc, [&s] {
    boost::system::error_code ignored;
    s.acceptor->close(ignored);
    s.accept_retry->cancel();
  });
  auto wait_idle = [&](std::chrono::steady_clock::duration limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (s.core.in_flight.load() > 0 && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
  };
  wait_idle(std::chrono::microseconds(static_cast<int64_t>(s.core.config.shutdown_grace_ms * 1000)));
  if (s.core.in_flight.load() > 0) {
    // Past the grace period: the rest are cancelled and answered with an error (none is dropped).
    s.cancel_all_requested.store(true);
    wait_idle(kCancelAnswerWait);
  }
  s.loop_stop.store(true);
  if (s.loop_thread.joinable()) s.loop_thread.join();
  s.core.scheduler->cancel_all();  // nothing is left to step; frees any KV a late request took
  s.work.reset();
  s.ioc->stop();
  for (auto& t : s.io_threads) t.join();
  s.io_threads.clear();
  s.acceptor.reset();
  s.accept_retry.reset();
  s.ioc.reset();  // destroys the pending handlers: every session ends here
  std::lock_guard<std::mutex> lock(s.state_mu);
  s.stopped = true;
  s.state_cv.notify_all();
}

void Server::wait() {
  std::unique_lock<std::mutex> lock(impl_->state_mu);
  impl_->state_cv.wait(lock, [&] { return impl_->stopped || !impl_->started; });
}

SchedulerStats Server::scheduler_stats() const { return impl_->core.scheduler->stats(); }
int64_t Server::in_flight() const { return impl_->core.in_flight.load(); }
int64_t Server::open_connections() const { return impl_->core.open_connections.load(); }
std::string Server::metrics_text() const {
  return impl_->core.metrics.render(impl_->core.scheduler->stats(), impl_->core.in_flight.load());
}

}  // namespace effitune::engine
