// Fuzz target for the evaluation-set JSONL reader: any bytes must give items or a clean error.
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>

#include "effitune/probes/dataset.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::istringstream in(std::string(reinterpret_cast<const char*>(data), size));
  effitune::probes::DatasetOptions options;
  options.max_line_bytes = 4096;  // small, so the over-long-line path is reachable
  const auto r = effitune::probes::parse_dataset(in, "fuzz.jsonl", options);
  if (r.ok()) {
    for (const auto& item : *r) {
      if (item.fact_turn && *item.fact_turn >= item.turns.size()) __builtin_trap();
      if (item.id.empty()) __builtin_trap();
    }
  } else if (r.status().message().rfind("fuzz.jsonl:", 0) != 0) {
    __builtin_trap();  // every error names the source and line
  }
  return 0;
}
