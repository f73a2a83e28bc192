// State shared by the server's connections and its threads (private to src/server).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "effitune/engine/server.h"
#include "server/metrics.h"

namespace effitune::engine::server {

struct ServerCore {
  Engine* engine = nullptr;
  std::unique_ptr<Scheduler> scheduler;
  ServerConfig config;
  ModelLimits limits;
  std::string model_name;
  Metrics metrics;
  std::atomic<bool> draining{false};
  std::atomic<int64_t> in_flight{0};
  std::atomic<int64_t> open_connections{0};  // live sessions, each holding one socket
  std::atomic<uint64_t> next_response_id{1};
  std::atomic<uint64_t> seed_counter{0x9e3779b97f4a7c15ull};
};

}  // namespace effitune::engine::server
