// Fuzz target for the ICS ratings reader (CSV and JSONL) and its aggregation.
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>

#include "effitune/probes/ics.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::istringstream in(std::string(reinterpret_cast<const char*>(data), size));
  effitune::probes::RatingReadOptions options;
  options.max_line_bytes = 4096;
  const auto r = effitune::probes::parse_ratings(in, "fuzz", options);
  if (!r.ok()) return 0;
  if (r->scale == effitune::probes::RatingScale::kAuto) __builtin_trap();
  for (const auto& rating : r->ratings) {
    if (rating.key.empty() || rating.value < 0 || rating.value > 5) __builtin_trap();
  }
  if (r->ratings.size() <= 32) {  // bounded: each key runs a 1000-resample bootstrap
    effitune::probes::BootstrapOptions b;
    b.resamples = 1000;
    const auto agg = effitune::probes::aggregate_ratings(*r, b);
    if (!agg.ok()) __builtin_trap();
    for (const auto& a : *agg) {
      if (!(a.normalized.ci_low >= 0 && a.normalized.ci_high <= 1 && a.normalized.ci_low <= a.normalized.ci_high))
        __builtin_trap();
    }
  }
  return 0;
}
