// Fuzz target for the experiment YAML reader: any bytes give an experiment or a positioned error,
// never a crash, a hang or an exception.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "effitune/orchestrator/experiment.h"
#include "effitune/orchestrator/study_json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  // check_files = false: the fuzzer exercises the schema, not the file system.
  const auto e = effitune::orchestrator::parse_experiment(text, "fuzz.yaml", "/fuzz", false);
  if (!e.ok()) {
    // Every error names the source so that a user can find it.
    if (e.status().message().rfind("fuzz.yaml", 0) != 0) __builtin_trap();
    return 0;
  }
  if (e->name.empty() || e->space.empty() || e->strategy.max_trials < 1) __builtin_trap();
  if (e->yaml_text != text) __builtin_trap();
  if (!(e->objective.r0_usd_per_hour > 0) || e->objective.quality_split < 0 || e->objective.quality_split > 1) __builtin_trap();
  if (!e->goal.users && !e->goal.requests_per_s) __builtin_trap();
  if (effitune::orchestrator::experiment_to_json(*e).empty()) __builtin_trap();
  return 0;
}
