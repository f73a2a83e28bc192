// Workloads: evaluation sets, synthetic lengths and traces.
#include "effitune/probes/workload.h"

#include <charconv>
#include <cmath>
#include <fstream>

#include "json_line.h"
#include "line_reader.h"
#include "random_draws.h"

namespace effitune::probes {
namespace {

using nlohmann::json;

Status field_error(std::string_view source, size_t line, const std::string& field, const std::string& what) {
  return invalid_argument(detail::where(source, line) + "field '" + field + "': " + what);
}

Result<int32_t> int_field(const json& obj, const char* name, int64_t lo, int64_t hi, std::string_view source,
                          size_t line) {
  const auto it = obj.find(name);
  if (it == obj.end()) return field_error(source, line, name, "missing; expected an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  double v = 0;
  if (it->is_number_integer() || it->is_number_unsigned()) {
    if (it->is_number_unsigned() && it->get<uint64_t>() > static_cast<uint64_t>(hi))
      return field_error(source, line, name, "expected an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got " + detail::describe(*it));
    v = static_cast<double>(it->get<int64_t>());
  } else if (it->is_number_float() && std::isfinite(it->get<double>()) && it->get<double>() == std::floor(it->get<double>())) {
    v = it->get<double>();
  } else {
    return field_error(source, line, name, "expected an integer, got " + std::string(it->type_name()) + " " + detail::describe(*it));
  }
  if (v < static_cast<double>(lo) || v > static_cast<double>(hi))
    return field_error(source, line, name, "expected an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got " + detail::describe(*it));
  return static_cast<int32_t>(v);
}

int32_t draw_length(const LengthSpec& spec, detail::Draws& draws) {
  double x = spec.mean;
  if (spec.dist == LengthDist::kUniform) {
    x = spec.mean * (1 - spec.spread) + draws.uniform() * 2 * spec.spread * spec.mean;
  } else if (spec.dist == LengthDist::kLognormal) {
    // A lognormal with mean m and CV c has sigma^2 = ln(1 + c^2), mu = ln(m) - sigma^2 / 2.
    const double s2 = std::log1p(spec.cv * spec.cv);
    x = std::exp(std::log(spec.mean) - s2 / 2 + std::sqrt(s2) * draws.normal());
  }
  const double r = std::round(x);
  if (!(r >= 1)) return 1;
  return r > spec.max ? spec.max : static_cast<int32_t>(r);
}

Status check_length(const LengthSpec& s, const char* which) {
  if (!(std::isfinite(s.mean) && s.mean >= 1 && s.mean <= s.max) || s.max < 1)
    return invalid_argument(std::string(which) + " length mean must be in [1, " + std::to_string(s.max) + "]");
  if (s.dist == LengthDist::kUniform && !(s.spread >= 0 && s.spread <= 1))
    return invalid_argument(std::string(which) + " length spread must be in [0, 1]");
  if (s.dist == LengthDist::kLognormal && !(std::isfinite(s.cv) && s.cv > 0 && s.cv <= 10))
    return invalid_argument(std::string(which) + " length cv must be in (0, 10]");
  return {};
}

}  // namespace

Result<std::vector<TraceEntry>> parse_trace(std::istream& in, std::string_view source, const TraceOptions& options) {
  detail::LineReader reader(in, options.max_line_bytes);
  std::vector<TraceEntry> out;
  std::string line;
  while (true) {
    const auto next = reader.next(line);
    if (next == detail::LineReader::Next::kEof) break;
    const size_t n = reader.line_number();
    if (next == detail::LineReader::Next::kTooLong)
      return invalid_argument(detail::where(source, n) + "line longer than " + std::to_string(options.max_line_bytes) +
                              " bytes; a trace record is one short JSON object");
    if (detail::is_blank(line)) continue;
    EFFITUNE_ASSIGN_OR_RETURN(json obj, detail::parse_json_object_line(line, source, n));
    TraceEntry e;
    e.line = n;
    const auto ts = obj.find("timestamp_s");
    if (ts == obj.end()) return field_error(source, n, "timestamp_s", "missing; expected seconds >= 0");
    if (!ts->is_number() || !std::isfinite(ts->get<double>()) || ts->get<double>() < 0 || ts->get<double>() > 1e9)
      return field_error(source, n, "timestamp_s", "expected a number of seconds in [0, 1e9], got " + detail::describe(*ts));
    e.timestamp_s = ts->get<double>();
    if (!out.empty() && e.timestamp_s < out.back().timestamp_s)
      return field_error(source, n, "timestamp_s", "goes back in time (" + detail::describe(*ts) + " after line " +
                                                       std::to_string(out.back().line) + "); sort the trace by timestamp");
    EFFITUNE_ASSIGN_OR_RETURN(e.input_tokens, int_field(obj, "input_tokens", 1, kMaxTraceInputTokens, source, n));
    EFFITUNE_ASSIGN_OR_RETURN(e.output_tokens, int_field(obj, "output_tokens", 1, kMaxTraceOutputTokens, source, n));
    if (out.size() == options.max_entries)
      return invalid_argument(detail::where(source, n) + "more than " + std::to_string(options.max_entries) + " records");
    out.push_back(e);
  }
  if (out.empty()) return invalid_argument(std::string(source) + ": the trace has no records");
  return out;
}

Result<std::vector<TraceEntry>> read_trace(const std::string& path, const TraceOptions& options) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return not_found("cannot open trace '" + path + "'");
  return parse_trace(in, path, options);
}

Result<SyntheticSpec> parse_synthetic_spec(std::string_view text) {
  SyntheticSpec spec;
  bool have_in = false;
  std::string_view rest = text;
  while (!rest.empty()) {
    const size_t comma = rest.find(',');
    const std::string_view item = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    const size_t eq = item.find('=');
    const std::string err_prefix = "synthetic workload item '" + std::string(item.substr(0, 40)) + "': ";
    if (eq == std::string_view::npos) return invalid_argument(err_prefix + "expected key=value (keys: in, out, dist, spread, cv, count)");
    const std::string_view key = item.substr(0, eq), value = item.substr(eq + 1);
    if (key == "dist") {
      LengthDist d;
      if (value == "constant") d = LengthDist::kConstant;
      else if (value == "uniform") d = LengthDist::kUniform;
      else if (value == "lognormal") d = LengthDist::kLognormal;
      else return invalid_argument(err_prefix + "dist must be constant, uniform or lognormal");
      spec.input.dist = spec.output.dist = d;
      continue;
    }
    double v = 0;
    const auto r = std::from_chars(value.data(), value.data() + value.size(), v);
    if (value.empty() || r.ec != std::errc() || r.ptr != value.data() + value.size() || !std::isfinite(v))
      return invalid_argument(err_prefix + "value is not a number");
    if (key == "in") {
      spec.input.mean = v;
      have_in = true;
    } else if (key == "out") {
      spec.output.mean = v;
    } else if (key == "spread") {
      spec.input.spread = spec.output.spread = v;
    } else if (key == "cv") {
      spec.input.cv = spec.output.cv = v;
    } else if (key == "count") {
      if (!(v >= 1 && v <= 1e6)) return invalid_argument(err_prefix + "count must be in [1, 1000000]");
      spec.count = static_cast<size_t>(v);
    } else {
      return invalid_argument(err_prefix + "unknown key (keys: in, out, dist, spread, cv, count)");
    }
  }
  if (!have_in) return invalid_argument("synthetic workload needs in=<input tokens>, e.g. synthetic:in=128,out=64");
  EFFITUNE_RETURN_IF_ERROR(check_length(spec.input, "input"));
  EFFITUNE_RETURN_IF_ERROR(check_length(spec.output, "output"));
  return spec;
}

Result<Workload> Workload::from_eval_set(const std::vector<EvalItem>& items, int32_t max_tokens) {
  if (items.empty()) return invalid_argument("the evaluation set has no items");
  if (max_tokens < 1) return invalid_argument("max_tokens must be >= 1");
  Workload w;
  for (const EvalItem& item : items) {
    TargetRequest r;
    if (item.system) r.messages.push_back({"system", *item.system});
    for (const Turn& t : item.turns) r.messages.push_back({role_name(t.role), t.content});
    r.messages.push_back({"user", item.question});
    r.max_tokens = max_tokens;
    w.requests_.push_back(std::move(r));
  }
  w.description_ = "evaluation set, " + std::to_string(items.size()) + " conversations";
  return w;
}

Result<Workload> Workload::synthetic(const SyntheticSpec& spec, uint64_t seed) {
  EFFITUNE_RETURN_IF_ERROR(check_length(spec.input, "input"));
  EFFITUNE_RETURN_IF_ERROR(check_length(spec.output, "output"));
  if (spec.count < 1 || spec.count > 1'000'000) return invalid_argument("synthetic count must be in [1, 1000000]");
  detail::Draws draws(seed);
  Workload w;
  for (size_t i = 0; i < spec.count; ++i) {
    TargetRequest r;
    r.prompt_tokens = draw_length(spec.input, draws);
    r.max_tokens = draw_length(spec.output, draws);
    r.ignore_eos = true;
    w.requests_.push_back(std::move(r));
  }
  w.description_ = "synthetic, input mean " + std::to_string(spec.input.mean) + ", output mean " +
                   std::to_string(spec.output.mean);
  return w;
}

Result<Workload> Workload::from_trace(const std::vector<TraceEntry>& entries) {
  if (entries.empty()) return invalid_argument("the trace has no records");
  Workload w;
  const double t0 = entries.front().timestamp_s;
  for (const TraceEntry& e : entries) {
    TargetRequest r;
    r.prompt_tokens = e.input_tokens;
    r.max_tokens = e.output_tokens;
    r.ignore_eos = true;
    w.requests_.push_back(std::move(r));
    w.trace_times_s_.push_back(e.timestamp_s - t0);
  }
  w.description_ = "trace, " + std::to_string(entries.size()) + " requests";
  return w;
}

Result<Workload> Workload::load(const std::string& spec_or_path, int32_t max_tokens, uint64_t seed) {
  constexpr std::string_view kSynthetic = "synthetic:";
  if (spec_or_path.rfind(kSynthetic, 0) == 0) {
    EFFITUNE_ASSIGN_OR_RETURN(SyntheticSpec spec, parse_synthetic_spec(std::string_view(spec_or_path).substr(kSynthetic.size())));
    return synthetic(spec, seed);
  }
  std::ifstream in(spec_or_path, std::ios::binary);
  if (!in) return not_found("cannot open workload '" + spec_or_path + "' (a JSONL evaluation set or trace, or synthetic:in=N,out=M)");
  bool is_trace = false;
  {
    detail::LineReader reader(in, size_t{1} << 20);
    std::string line;
    while (reader.next(line) == detail::LineReader::Next::kLine) {
      if (detail::is_blank(line)) continue;
      auto obj = detail::parse_json_object_line(line, spec_or_path, reader.line_number());
      is_trace = obj.ok() && obj->contains("timestamp_s");
      break;
    }
  }
  if (is_trace) {
    EFFITUNE_ASSIGN_OR_RETURN(auto entries, read_trace(spec_or_path));
    return from_trace(entries);
  }
  EFFITUNE_ASSIGN_OR_RETURN(auto items, read_dataset(spec_or_path));
  return from_eval_set(items, max_tokens);
}

}  // namespace effitune::probes
