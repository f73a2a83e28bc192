// Service-level objectives for a load test, parsed from strings such as
//   "ttft_p95_ms=500,tpot_p95_ms=50,e2e_p99_ms=3000"
// Each key is <metric>_p<percentile>_ms: metric is ttft (time to first token), itl (inter-token
// latency), tpot (time per output token after the first) or e2e (end-to-end); the percentile is in
// (0, 100] ("p99.9" is allowed). The value is a positive number of milliseconds.
//
// How an SLO is judged (load_test.h):
// - per request: a request is good when it finished without error within the request timeout and
//   each of its metrics is within every threshold (its largest inter-token gap for itl; tpot and itl
//   hold vacuously for a request with fewer than 2 tokens). Goodput and performance P count those.
// - per run: the SLO is met when the percentile of the metric over offered requests, with failed
//   requests counting as infinitely slow, is within the threshold.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "effitune/common/status.h"

namespace effitune::probes {

enum class SloMetric { kTtft, kItl, kTpot, kE2e };
const char* slo_metric_name(SloMetric metric);  // "ttft", "itl", "tpot", "e2e"

struct Slo {
  SloMetric metric = SloMetric::kTtft;
  double percentile = 95;  // in (0, 100]
  double threshold_ms = 0;
  std::string key;         // as written, e.g. "ttft_p95_ms"
};

// Parses a comma-separated list. kInvalidArgument naming the bad item and what is expected for an
// empty list, an item without '=', an unknown metric, a bad percentile, a value that is not a
// positive finite number, or a key given twice.
Result<std::vector<Slo>> parse_slos(std::string_view text);

// "ttft_p95_ms=500,..." (round-trips through parse_slos).
std::string format_slos(const std::vector<Slo>& slos);

}  // namespace effitune::probes
