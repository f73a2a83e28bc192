// Fuzz target for the load-probe parsers of untrusted text: the trace JSONL reader, SLO strings,
// synthetic workload specs, rate profiles and target URLs. The first byte picks the parser.
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>

#include "effitune/probes/arrivals.h"
#include "effitune/probes/cost.h"
#include "effitune/probes/http_target.h"
#include "effitune/probes/slo.h"
#include "effitune/probes/workload.h"

using namespace effitune::probes;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 6) {
    case 0: {
      std::istringstream in(text);
      TraceOptions o;
      o.max_line_bytes = 512;
      o.max_entries = 1000;
      const auto r = parse_trace(in, "fuzz.jsonl", o);
      if (r.ok()) {
        double prev = 0;
        for (const auto& e : *r) {
          if (e.timestamp_s < prev || e.input_tokens < 1 || e.output_tokens < 1) __builtin_trap();
          prev = e.timestamp_s;
        }
        if (!Workload::from_trace(*r).ok()) __builtin_trap();
      } else if (r.status().message().rfind("fuzz.jsonl", 0) != 0) {
        __builtin_trap();  // every error names the source
      }
      break;
    }
    case 1: {
      const auto r = parse_slos(text);
      if (r.ok()) {
        for (const auto& s : *r)
          if (!(s.threshold_ms > 0) || !(s.percentile > 0 && s.percentile <= 100)) __builtin_trap();
        if (!parse_slos(format_slos(*r)).ok()) __builtin_trap();  // round trip
      }
      break;
    }
    case 2: {
      const auto r = parse_synthetic_spec(text);
      if (r.ok()) {
        SyntheticSpec s = *r;
        s.count = std::min<size_t>(s.count, 64);
        if (!Workload::synthetic(s, 1).ok()) __builtin_trap();
      }
      break;
    }
    case 3: {
      const auto r = parse_rate_phases(text);
      if (r.ok()) {
        ArrivalSpec s;
        s.kind = ArrivalKind::kConstant;
        s.phases = *r;
        (void)schedule_arrivals(s, 5.0, 1, 10000);
      }
      break;
    }
    case 4:
      (void)parse_http_url(text);
      break;
    default:
      (void)parse_price_table(text);
      break;
  }
  return 0;
}
