// Running cost from a price table, measured power and good tokens.
#include "effitune/probes/cost.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>

namespace effitune::probes {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string known_models(const PriceTable& t) {
  std::string s;
  for (const auto& [k, v] : t.usd_per_gpu_hour) s += (s.empty() ? "" : ", ") + k;
  return s.empty() ? "none" : s;
}

}  // namespace

Result<PriceTable> parse_price_table(std::string_view text) {
  PriceTable t;
  std::string_view rest = text;
  bool any = false;
  while (!rest.empty()) {
    const size_t comma = rest.find(',');
    const std::string_view item = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    const std::string err = "price item '" + std::string(item.substr(0, 40)) +
                            "': expected NAME=USD, e.g. H100=2.49,cpu_core=0.04,kwh=0.15";
    const size_t eq = item.find('=');
    if (eq == std::string_view::npos || eq == 0) return invalid_argument(err);
    const std::string_view key = item.substr(0, eq), value = item.substr(eq + 1);
    double v = 0;
    const auto r = std::from_chars(value.data(), value.data() + value.size(), v);
    if (value.empty() || r.ec != std::errc() || r.ptr != value.data() + value.size() || !std::isfinite(v) || v < 0)
      return invalid_argument(err + " (the price must be a non-negative number)");
    const std::string k(key);
    if (k == "cpu_core") {
      t.usd_per_cpu_core_hour = v;
    } else if (k == "kwh") {
      if (t.usd_per_kwh) return invalid_argument("price key 'kwh' given twice");
      t.usd_per_kwh = v;
    } else if (!t.usd_per_gpu_hour.emplace(k, v).second) {
      return invalid_argument("price key '" + k + "' given twice");
    }
    any = true;
  }
  if (!any) return invalid_argument("empty price table; write e.g. H100=2.49,cpu_core=0.04,kwh=0.15");
  return t;
}

Result<double> gpu_price_per_hour(const PriceTable& table, std::string_view gpu_name) {
  const auto exact = table.usd_per_gpu_hour.find(std::string(gpu_name));
  if (exact != table.usd_per_gpu_hour.end()) return exact->second;
  const std::string name = lower(gpu_name);
  size_t best_len = 0;
  double best = 0;
  for (const auto& [k, v] : table.usd_per_gpu_hour) {
    if (k.size() > best_len && name.find(lower(k)) != std::string::npos) {
      best_len = k.size();
      best = v;
    }
  }
  if (best_len == 0)
    return not_found("no price for GPU '" + std::string(gpu_name) + "' (priced models: " + known_models(table) +
                     "); add it with --price " + std::string(gpu_name) + "=USD_PER_HOUR");
  return best;
}

Result<CostReport> compute_cost(const PriceTable& prices, const CostInput& in) {
  const Deployment& d = in.deployment;
  if (d.gpus_per_replica < 0 || d.cpu_cores_per_replica < 0 || d.replicas < 1)
    return invalid_argument("deployment: GPU and core counts must be >= 0 and replicas >= 1");
  if (in.good_output_tokens < 0 || (in.good_output_tokens > 0 && !(in.measured_s > 0)))
    return invalid_argument("cost: good tokens need a positive measured span");
  CostReport r;
  double gpu_price = 0;
  if (d.gpus_per_replica > 0) {
    EFFITUNE_ASSIGN_OR_RETURN(gpu_price, gpu_price_per_hour(prices, d.gpu_model));
  }
  r.hardware_usd_per_hour =
      d.replicas * (d.gpus_per_replica * gpu_price + d.cpu_cores_per_replica * prices.usd_per_cpu_core_hour);
  if (in.mean_power_w && prices.usd_per_kwh) {
    r.energy_known = true;
    r.energy_usd_per_hour = d.replicas * (*in.mean_power_w / 1000.0) * *prices.usd_per_kwh;
  }
  r.usd_per_hour = r.hardware_usd_per_hour + r.energy_usd_per_hour.value_or(0.0);
  if (in.good_output_tokens > 0) {
    // One replica produced the measured tokens; every replica costs usd_per_hour / replicas.
    const double tokens_per_hour = in.good_output_tokens / in.measured_s * 3600.0;
    r.usd_per_million_good_tokens = (r.usd_per_hour / d.replicas) / tokens_per_hour * 1e6;
  }
  return r;
}

}  // namespace effitune::probes
