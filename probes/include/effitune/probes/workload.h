// Workloads: the requests a load test sends, in order (they cycle when the schedule is longer).
//
// Three sources:
// - an evaluation set (dataset.h JSONL): each item becomes a chat request (system, turns, question);
// - synthetic input/output lengths: prompts of N tokens and exactly M output tokens (ignore_eos);
// - a trace (JSONL, one object per line) to replay with its own timestamps:
//     {"timestamp_s": 0.125, "input_tokens": 512, "output_tokens": 128}
//   timestamp_s >= 0 and non-decreasing; 1 <= input_tokens <= 1,048,576; 1 <= output_tokens <= 65,536.
//   Unknown fields are ignored; blank lines are skipped.
#pragma once

#include <cstddef>
#include <cstdint>
#include <istream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "effitune/common/status.h"
#include "effitune/probes/dataset.h"
#include "effitune/probes/target.h"

namespace effitune::probes {

inline constexpr int32_t kMaxTraceInputTokens = 1 << 20;
inline constexpr int32_t kMaxTraceOutputTokens = 1 << 16;

struct TraceEntry {
  double timestamp_s = 0;
  int32_t input_tokens = 0;
  int32_t output_tokens = 0;
  size_t line = 0;
};

struct TraceOptions {
  size_t max_line_bytes = 4096;
  size_t max_entries = 10'000'000;
};

// Parses a trace. kInvalidArgument on the first bad line, as "<source>:<line>: field 'x': expected ...,
// got ..." (bad UTF-8 or JSON, a missing or mistyped field, a value out of range, a timestamp before
// the previous one, an over-long line, too many entries). An empty trace is an error too (nothing to
// replay).
Result<std::vector<TraceEntry>> parse_trace(std::istream& in, std::string_view source, const TraceOptions& options = {});
Result<std::vector<TraceEntry>> read_trace(const std::string& path, const TraceOptions& options = {});

enum class LengthDist { kConstant, kUniform, kLognormal };

// A token-length distribution: constant (mean), uniform over [mean*(1-spread), mean*(1+spread)]
// rounded, or lognormal with the given mean and coefficient of variation cv. Draws are clamped to
// [1, max].
struct LengthSpec {
  LengthDist dist = LengthDist::kConstant;
  double mean = 128;
  double spread = 0.5;  // kUniform
  double cv = 0.5;      // kLognormal
  int32_t max = 1 << 16;
};

struct SyntheticSpec {
  LengthSpec input;
  LengthSpec output;
  size_t count = 1024;  // distinct requests drawn (they cycle)
};

// "in=128,out=64[,dist=constant|uniform|lognormal][,spread=0.5][,cv=0.5][,count=1024]" (dist, spread
// and cv apply to both lengths). kInvalidArgument naming the bad key or value.
Result<SyntheticSpec> parse_synthetic_spec(std::string_view text);

class Workload {
 public:
  // Chat requests from an evaluation set; each gets max_tokens and greedy decoding.
  static Result<Workload> from_eval_set(const std::vector<EvalItem>& items, int32_t max_tokens);
  // Synthetic prompts; the same seed draws the same lengths. kInvalidArgument for a mean < 1 or a
  // bad spread/cv.
  static Result<Workload> synthetic(const SyntheticSpec& spec, uint64_t seed);
  // A trace: requests with its lengths, and its timestamps (shifted so the first is 0) as the schedule.
  static Result<Workload> from_trace(const std::vector<TraceEntry>& entries);

  // Loads "synthetic:<spec>" or a JSONL file: a trace when the first record has "timestamp_s", else an
  // evaluation set. kNotFound for a missing file; the readers' errors otherwise.
  static Result<Workload> load(const std::string& spec_or_path, int32_t max_tokens, uint64_t seed);

  size_t size() const { return requests_.size(); }
  // The i-th request sent (cycling). Requires size() > 0.
  const TargetRequest& request(size_t i) const { return requests_[i % requests_.size()]; }
  // A trace's own schedule, seconds from the start; empty for other workloads.
  const std::vector<double>& trace_times_s() const { return trace_times_s_; }
  const std::string& description() const { return description_; }

 private:
  std::vector<TargetRequest> requests_;
  std::vector<double> trace_times_s_;
  std::string description_;
};

}  // namespace effitune::probes
