// SLO string parser: "ttft_p95_ms=500,tpot_p95_ms=50,e2e_p99_ms=3000".
#include "effitune/probes/slo.h"

#include <charconv>
#include <cmath>
#include <set>

namespace effitune::probes {
namespace {

constexpr const char* kExample = "write e.g. ttft_p95_ms=500,tpot_p95_ms=50,e2e_p99_ms=3000";
constexpr size_t kMaxItems = 64;

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// A decimal number written in plain digits with an optional fraction (no sign, exponent or hex).
bool parse_plain_number(std::string_view s, double& out) {
  if (s.empty() || s.size() > 32) return false;
  int dots = 0;
  for (char c : s) {
    if (c == '.') ++dots;
    else if (c < '0' || c > '9') return false;
  }
  if (dots > 1 || s == ".") return false;
  const auto r = std::from_chars(s.data(), s.data() + s.size(), out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size() && std::isfinite(out);
}

Status item_error(std::string_view item, const std::string& what) {
  return invalid_argument("SLO '" + std::string(item.substr(0, 80)) + "': " + what + "; " + kExample);
}

Result<Slo> parse_item(std::string_view item) {
  const size_t eq = item.find('=');
  if (eq == std::string_view::npos) return item_error(item, "expected key=value");
  const std::string_view key = trim(item.substr(0, eq));
  const std::string_view value = trim(item.substr(eq + 1));
  Slo slo;
  slo.key = std::string(key);
  const size_t u1 = key.find('_');
  if (u1 == std::string_view::npos) return item_error(item, "key must look like <metric>_p<percentile>_ms");
  const std::string_view metric = key.substr(0, u1);
  if (metric == "ttft") slo.metric = SloMetric::kTtft;
  else if (metric == "itl") slo.metric = SloMetric::kItl;
  else if (metric == "tpot") slo.metric = SloMetric::kTpot;
  else if (metric == "e2e") slo.metric = SloMetric::kE2e;
  else return item_error(item, "unknown metric '" + std::string(metric) + "' (known: ttft, itl, tpot, e2e)");
  std::string_view rest = key.substr(u1 + 1);
  if (rest.size() < 5 || rest.front() != 'p' || rest.substr(rest.size() - 3) != "_ms")
    return item_error(item, "key must look like <metric>_p<percentile>_ms");
  const std::string_view pct = rest.substr(1, rest.size() - 4);
  double p = 0;
  if (!parse_plain_number(pct, p) || !(p > 0 && p <= 100))
    return item_error(item, "percentile '" + std::string(pct) + "' must be a number in (0, 100]");
  slo.percentile = p;
  double v = 0;
  if (!parse_plain_number(value, v) || !(v > 0))
    return item_error(item, "value '" + std::string(value.substr(0, 40)) + "' must be a positive number of milliseconds");
  slo.threshold_ms = v;
  return slo;
}

}  // namespace

const char* slo_metric_name(SloMetric metric) {
  switch (metric) {
    case SloMetric::kTtft: return "ttft";
    case SloMetric::kItl: return "itl";
    case SloMetric::kTpot: return "tpot";
    case SloMetric::kE2e: return "e2e";
  }
  return "?";
}

Result<std::vector<Slo>> parse_slos(std::string_view text) {
  if (trim(text).empty()) return invalid_argument(std::string("empty SLO list; ") + kExample);
  std::vector<Slo> out;
  std::set<std::string> keys;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    if (comma == std::string_view::npos) comma = text.size();
    const std::string_view item = trim(text.substr(start, comma - start));
    if (item.empty()) return invalid_argument("empty item at character " + std::to_string(start + 1) + " of the SLO list; " + kExample);
    if (out.size() == kMaxItems) return invalid_argument("more than " + std::to_string(kMaxItems) + " SLOs");
    EFFITUNE_ASSIGN_OR_RETURN(Slo slo, parse_item(item));
    if (!keys.insert(slo.key).second) return item_error(item, "key given twice");
    out.push_back(std::move(slo));
    start = comma + 1;
  }
  return out;
}

std::string format_slos(const std::vector<Slo>& slos) {
  std::string s;
  for (const Slo& slo : slos) {
    if (!s.empty()) s += ',';
    char buf[64];
    auto r = std::to_chars(buf, buf + sizeof buf, slo.threshold_ms, std::chars_format::fixed);
    s += slo.key + "=" + std::string(buf, r.ptr);
  }
  return s;
}

}  // namespace effitune::probes
