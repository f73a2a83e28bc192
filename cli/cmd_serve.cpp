// effitune serve: the OpenAI-compatible HTTP server over the engine and the scheduler.
#include <pthread.h>

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "cli_util.h"
#include "commands.h"
#include "effitune/engine/server.h"

namespace effitune::cli {
namespace {

// "k=v" -> (k, number); kInvalidArgument names the bad item.
Result<std::pair<std::string, double>> parse_policy_param(const std::string& item) {
  const size_t eq = item.find('=');
  if (eq == std::string::npos || eq == 0)
    return invalid_argument("--policy-param '" + item + "' must look like name=number (e.g. window_ms=20)");
  const std::string value = item.substr(eq + 1);
  try {
    size_t used = 0;
    const double v = std::stod(value, &used);
    if (used != value.size()) throw std::invalid_argument("trailing");
    return std::make_pair(item.substr(0, eq), v);
  } catch (const std::exception&) {
    return invalid_argument("--policy-param '" + item + "': '" + value + "' is not a number");
  }
}

}  // namespace

int run_serve(int argc, char** argv) {
  po::options_description desc("options");
  desc.add_options()("help,h", "show this help");
  add_engine_options(desc);
  desc.add_options()
      ("batch-policy", po::value<std::string>()->default_value("continuous"),
       "static | continuous | adaptive | time_window | load | predictive | priority | hybrid")
      ("policy-param", po::value<std::vector<std::string>>(), "a batch-policy parameter name=number (repeatable)")
      ("max-batch", po::value<int>()->default_value(8),
       "running-sequence cap (also sizes the KV cache); 8 suits the CPU engine, a GPU engine serves far more at "
       "once (e.g. 64)")
      ("max-batched-tokens", po::value<int>()->default_value(512), "per-step token budget (chunked prefill)")
      ("max-queue", po::value<int>()->default_value(256), "waiting-queue bound; beyond it requests get 429")
      ("kv-cache-tokens", po::value<long>()->default_value(0), "KV cache size in tokens (0 = max-batch x context)")
      ("history-budget", po::value<int>()->default_value(0), "chat: prompt tokens kept (0 = context - response)")
      ("response-budget", po::value<int>()->default_value(0), "cap on generated tokens per request (0 = none)")
      ("chat-format", po::value<std::string>(), "support-desk | chatml | llama2 | llama3 (default: from the model)")
      ("host", po::value<std::string>()->default_value("127.0.0.1"), "address to bind (loopback by default)")
      ("port", po::value<int>()->default_value(8080), "TCP port (0 = any free port, printed at start)")
      ("api-key", po::value<std::string>(), "require 'Authorization: Bearer KEY' (also read from EFFITUNE_API_KEY)")
      ("model-name", po::value<std::string>(), "the model id in /v1/models (default: the file name)")
      ("io-threads", po::value<int>()->default_value(2), "HTTP I/O threads")
      ("max-body-bytes", po::value<long>()->default_value(1 << 20), "request bodies over this get 413")
      ("shutdown-grace-ms", po::value<double>()->default_value(10000),
       "on SIGTERM/SIGINT, in-flight requests get this long to finish before being answered with an error");
  int code = 0;
  auto vm = parse_args(argc, argv, desc,
                       "effitune serve --model PATH [engine knobs] [--batch-policy NAME --policy-param k=v ...] "
                       "[--max-batch N] [--max-queue N] [--host 127.0.0.1] [--port 8080] [--api-key KEY]",
                       "Serves the model over an OpenAI-compatible HTTP API:\n"
                       "  POST /v1/completions, POST /v1/chat/completions (\"stream\": true for SSE),\n"
                       "  GET /v1/models, GET /health, GET /metrics (Prometheus).\n"
                       "Example:\n"
                       "  effitune serve --model experiments/support-desk/model.gguf --port 8080\n"
                       "  curl -s localhost:8080/v1/completions -d '{\"prompt\": \"Hello\", \"max_tokens\": 8}'\n"
                       "SIGTERM or Ctrl-C drains in-flight requests (--shutdown-grace-ms) and exits 0.",
                       code);
  if (!vm) return code;

  auto engine_config = engine_config_from(*vm);
  if (!engine_config.ok()) return usage_error("serve", engine_config.status());
  engine::SchedulerConfig sched;
  sched.max_num_seqs = (*vm)["max-batch"].as<int>();
  sched.max_num_batched_tokens = (*vm)["max-batched-tokens"].as<int>();
  sched.max_waiting = (*vm)["max-queue"].as<int>();
  if (sched.max_num_seqs < 1) return usage_error("serve", "--max-batch must be >= 1");
  engine_config->max_sequences = sched.max_num_seqs;
  engine_config->kv_cache_tokens = (*vm)["kv-cache-tokens"].as<long>();

  engine::PolicyParams params;
  if (vm->count("policy-param")) {
    for (const auto& item : (*vm)["policy-param"].as<std::vector<std::string>>()) {
      auto kv = parse_policy_param(item);
      if (!kv.ok()) return usage_error("serve", kv.status());
      params[kv->first] = kv->second;
    }
  }
  auto policy = engine::make_batch_policy((*vm)["batch-policy"].as<std::string>(), params);
  if (!policy.ok()) return usage_error("serve", policy.status().with_context("--batch-policy"));

  engine::ServerConfig config;
  config.host = (*vm)["host"].as<std::string>();
  const int port = (*vm)["port"].as<int>();
  if (port < 0 || port > 65535) return usage_error("serve", "--port must be in [0, 65535]");
  config.port = static_cast<uint16_t>(port);
  if (vm->count("api-key")) config.api_key = (*vm)["api-key"].as<std::string>();
  else if (const char* k = std::getenv("EFFITUNE_API_KEY")) config.api_key = k;
  config.model_name = vm->count("model-name") ? (*vm)["model-name"].as<std::string>()
                                               : std::filesystem::path(engine_config->model_path).filename().string();
  config.io_threads = (*vm)["io-threads"].as<int>();
  const long body = (*vm)["max-body-bytes"].as<long>();
  if (body < 1024) return usage_error("serve", "--max-body-bytes must be >= 1024");
  config.max_body_bytes = static_cast<uint64_t>(body);
  config.shutdown_grace_ms = (*vm)["shutdown-grace-ms"].as<double>();
  config.history_budget = (*vm)["history-budget"].as<int>();
  config.response_budget = (*vm)["response-budget"].as<int>();
  if (vm->count("chat-format")) {
    auto f = engine::parse_chat_format((*vm)["chat-format"].as<std::string>());
    if (!f.ok()) return report_error("serve", f.status().with_context("--chat-format"));
    config.chat_format = f.value();
  }

  // Signals are taken by sigwait() on this thread; every thread started below inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto engine = engine::Engine::create(*engine_config);
  if (!engine.ok()) return report_error("serve", engine.status().with_context(engine_config->model_path));
  auto server = engine::Server::create(**engine, sched, std::move(policy).value(), config);
  if (!server.ok()) return report_error("serve", server.status());
  if (Status s = (*server)->start(); !s.ok()) return report_error("serve", s);
  std::printf("effitune serve: listening on http://%s:%u (model %s, policy %s)\n", config.host.c_str(),
              static_cast<unsigned>((*server)->port()), config.model_name.c_str(),
              (*vm)["batch-policy"].as<std::string>().c_str());
  std::fflush(stdout);

  int sig = 0;
  sigwait(&signals, &sig);
  std::printf("effitune serve: %s received; draining %lld in-flight request(s)\n", sig == SIGTERM ? "SIGTERM" : "SIGINT",
              static_cast<long long>((*server)->in_flight()));
  std::fflush(stdout);
  (*server)->shutdown();
  const engine::SchedulerStats st = (*server)->scheduler_stats();
  std::printf("effitune serve: stopped (%lld finished, %lld cancelled, %d KV blocks in use)\n",
              static_cast<long long>(st.finished), static_cast<long long>(st.cancelled), st.kv_used_blocks);
  return kExitOk;
}

}  // namespace effitune::cli
