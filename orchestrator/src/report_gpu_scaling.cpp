// The GPU-count chart: what one more GPU per replica (tensor parallelism) buys, from the trials that
// measured it. Tensor parallelism shortens each step but adds an all-reduce per layer, so past some
// degree the capacity per GPU falls faster than latency improves; that degree is the E1 of the
// GPU-count dimension (issue "Tensor-parallel runs on 4 and 8 GPUs"): beyond it, volume is cheaper as
// more replicas.
#include <algorithm>
#include <cmath>
#include <limits>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>

#include "report_util.h"

namespace effitune::orchestrator::report_detail {
namespace {

// The best a tensor-parallel degree reached over the complete trials that used it.
struct Degree {
  int32_t gpus = 0;
  const TrialRecord* by_capacity = nullptr;  // highest capacity per replica
  const TrialRecord* by_efficiency = nullptr;  // highest E
  double light_e2e_ms = std::numeric_limits<double>::infinity();  // lowest e2e p95 at the lightest load tested
  // The batch-1 probe (measurements "batch1_decode") with the lowest time per token: one request
  // alone, and the share of its forward time the tensor-parallel all-reduces took.
  double b1_ms_per_token = std::numeric_limits<double>::infinity();
  double b1_allreduce_share = 0;
  int64_t trials = 0;
};

// The trial's batch-1 probe, if its measurements hold one: {ms per token, all-reduce share}.
std::optional<std::pair<double, double>> batch1_of(const TrialRecord& t) {
  const auto j = nlohmann::json::parse(t.measurements_json, nullptr, false);
  if (!j.is_object() || !j.contains("batch1_decode")) return std::nullopt;
  const auto& b = j["batch1_decode"];
  if (!b.is_object() || !b.contains("ms_per_token") || !b["ms_per_token"].is_number()) return std::nullopt;
  const double ms = b["ms_per_token"].get<double>();
  const double share = b.contains("allreduce_share") && b["allreduce_share"].is_number() ? b["allreduce_share"].get<double>() : 0;
  if (!(ms > 0) || !std::isfinite(ms)) return std::nullopt;
  return std::make_pair(ms, std::clamp(share, 0.0, 1.0));
}

// A doubling of the degree that cuts the batch-1 time per token by less than this counts as buying
// no latency: 5%, about the run-to-run spread of one probe.
constexpr double kLatencyGain = 1.05;

std::string joined(const std::vector<Degree>& d, const std::function<std::string(const Degree&)>& f) {
  std::string s;
  for (const auto& x : d) s += (s.empty() ? "" : " -> ") + f(x);
  return s;
}

bool all_probed(const std::vector<Degree>& d) {
  return std::all_of(d.begin(), d.end(), [](const Degree& x) { return std::isfinite(x.b1_ms_per_token); });
}

// Where all-reduce latency makes more GPUs per replica stop paying back at batch 1: the first degree
// whose step from the one before it cut the time per token by less than kLatencyGain. Needs every
// degree's batch-1 probe (all_probed; studies recorded before it existed have none).
std::string batch1_reading(const std::vector<Degree>& d) {
  std::string s = "At batch 1 a token takes " + joined(d, [](const Degree& x) { return format_number(x.b1_ms_per_token); }) +
                  " ms, the all-reduces " +
                  joined(d, [](const Degree& x) { return format_number(100 * x.b1_allreduce_share) + "%"; }) + " of it. ";
  for (size_t i = 1; i < d.size(); ++i) {
    const double gain = d[i - 1].b1_ms_per_token / d[i].b1_ms_per_token;
    if (gain < kLatencyGain)
      return s + "From " + count_of(d[i - 1].gpus, "GPU") + " to " + std::to_string(d[i].gpus) +
             " the time per token changed " + format_number(gain) + "x: all-reduce latency takes what the added GPUs "
             "give, so beyond " + count_of(d[i - 1].gpus, "GPU") + " per replica more GPUs stop paying back even for latency.";
  }
  const double last = d[d.size() - 2].b1_ms_per_token / d.back().b1_ms_per_token;
  return s + "Each step up still cut it (" + format_number(last) + "x for the last, against " +
         format_number(static_cast<double>(d.back().gpus) / d[d.size() - 2].gpus) +
         "x with free all-reduces): latency keeps paying back up to " + count_of(d.back().gpus, "GPU") + " per replica.";
}

// The best of every tensor-parallel degree the complete trials measured, fewest GPUs first.
std::vector<Degree> degrees(const std::vector<TrialRecord>& trials) {
  std::map<int32_t, Degree> by_gpus;
  for (const auto& t : trials) {
    if (t.state != TrialState::kComplete || t.cost.gpus_per_replica <= 0 || !(t.cost.capacity_rps > 0)) continue;
    Degree& d = by_gpus[t.cost.gpus_per_replica];
    d.gpus = t.cost.gpus_per_replica;
    ++d.trials;
    if (d.by_capacity == nullptr || t.cost.capacity_rps > d.by_capacity->cost.capacity_rps) d.by_capacity = &t;
    if (std::isfinite(t.efficiency) && (d.by_efficiency == nullptr || t.efficiency > d.by_efficiency->efficiency))
      d.by_efficiency = &t;
    if (auto b1 = batch1_of(t); b1 && b1->first < d.b1_ms_per_token) {
      d.b1_ms_per_token = b1->first;
      d.b1_allreduce_share = b1->second;
    }
    if (!t.load_curve.empty()) {
      const auto lightest = std::min_element(t.load_curve.begin(), t.load_curve.end(), [](const LoadPoint& a, const LoadPoint& b) {
        return a.offered_rps < b.offered_rps;
      });
      if (lightest->e2e_p95_ms > 0) d.light_e2e_ms = std::min(d.light_e2e_ms, lightest->e2e_p95_ms);
    }
  }
  std::vector<Degree> d;
  for (auto& [_, x] : by_gpus) d.push_back(x);
  return d;
}

// Batch-1 time per token per degree, its all-reduce part, and what it would be with free all-reduces
// (the one-GPU time divided by the degree): the gap between the last two is what the exchanges cost.
Chart batch1_chart(const std::vector<Degree>& d) {
  Chart c;
  c.id = "gpu-latency";
  c.title = "What more GPUs per replica do for one request";
  c.x_label = "GPUs per replica (tensor-parallel degree)";
  c.y_label = "batch-1 time per token (ms)";
  c.y_from_zero = true;
  ChartSeries token{"time per token (ms)", MarkKind::kBars, 0, {}}, exchange{"of which all-reduce (ms)", MarkKind::kBars, 3, {}},
      ideal{"with free all-reduces (ms)", MarkKind::kLine, 6, {}};
  const double first = d.front().b1_ms_per_token * d.front().gpus;
  for (size_t i = 0; i < d.size(); ++i) {
    const double ms = d[i].b1_ms_per_token, ar = ms * d[i].b1_allreduce_share, free_ms = first / d[i].gpus;
    const std::string who = count_of(d[i].gpus, "GPU") + " per replica: ";
    token.points.push_back({static_cast<double>(i), ms, {}, {}, {}, who + format_number(ms) + " ms per token alone", false});
    exchange.points.push_back({static_cast<double>(i), ar, {}, {}, {}, who + format_number(ar) + " ms of it in all-reduces (" +
                               format_number(100 * d[i].b1_allreduce_share) + "%)", false});
    ideal.points.push_back({static_cast<double>(i), free_ms, {}, {}, {}, who + format_number(free_ms) +
                            " ms if the GPUs split the work with no exchange", false});
    c.categories.push_back(count_of(d[i].gpus, "GPU"));
  }
  c.series = {std::move(token), std::move(exchange), std::move(ideal)};
  c.reading = batch1_reading(d);
  return c;
}

}  // namespace

std::vector<Chart> gpu_scaling_charts(const std::vector<TrialRecord>& trials, const ChartContext& ctx) {
  const std::vector<Degree> d = degrees(trials);
  if (d.size() < 2) return {};

  Chart c;
  c.id = "gpu-scaling";
  c.title = "What more GPUs per replica buy";
  c.x_label = "GPUs per replica (tensor-parallel degree)";
  c.y_label = "capacity per GPU (req/s under the SLOs)";
  // E1 of this dimension: the last degree after which the best E no longer rises.
  size_t e1 = d.size() - 1;
  for (size_t i = 0; i + 1 < d.size(); ++i) {
    const TrialRecord *a = d[i].by_efficiency, *b = d[i + 1].by_efficiency;
    if (a != nullptr && b != nullptr && b->efficiency <= a->efficiency) {
      e1 = i;
      break;
    }
  }
  ChartSeries bars{"best capacity per GPU", MarkKind::kBars, 1, {}};
  for (size_t i = 0; i < d.size(); ++i) {
    const TrialRecord& t = *d[i].by_capacity;
    const double per_gpu = t.cost.capacity_rps / d[i].gpus;
    std::string tip = count_of(d[i].gpus, "GPU") + " per replica, trial " + std::to_string(t.id) + ": " +
                      format_number(t.cost.capacity_rps) + " req/s per replica, " + format_number(per_gpu) + " per GPU";
    if (std::isfinite(d[i].light_e2e_ms)) tip += "; lightest-load e2e p95 " + format_number(d[i].light_e2e_ms) + " ms";
    if (std::isfinite(d[i].b1_ms_per_token))
      tip += "; batch 1 " + format_number(d[i].b1_ms_per_token) + " ms per token, all-reduce " +
             format_number(100 * d[i].b1_allreduce_share) + "% of it";
    bars.points.push_back({static_cast<double>(i), per_gpu, {}, {}, t.id, tip, t.id == ctx.recommended});
    // The E1 degree is named on its bar (a rule cannot sit on a categorical axis).
    c.categories.push_back(count_of(d[i].gpus, "GPU") + " (n=" + std::to_string(d[i].trials) + ")" +
                           (i == e1 && e1 + 1 < d.size() ? ", E1" : ""));
  }
  c.series.push_back(std::move(bars));

  std::string s = "At " + joined(d, [](const Degree& x) { return std::to_string(x.gpus); }) +
                  " GPUs per replica the best capacity per GPU is " +
                  joined(d, [](const Degree& x) { return format_number(x.by_capacity->cost.capacity_rps / x.gpus); }) +
                  " req/s";
  const bool all_latency = std::all_of(d.begin(), d.end(), [](const Degree& x) { return std::isfinite(x.light_e2e_ms); });
  if (all_latency)
    s += ", the lightest-load end-to-end p95 " + joined(d, [](const Degree& x) { return format_number(x.light_e2e_ms); }) + " ms";
  const bool all_e = std::all_of(d.begin(), d.end(), [](const Degree& x) { return x.by_efficiency != nullptr; });
  if (all_e) s += ", the best E " + joined(d, [](const Degree& x) { return format_number(x.by_efficiency->efficiency); });
  s += ". ";
  if (!all_e) {
    s += "Not every degree has a finite E, so where more GPUs stop paying back cannot be told yet.";
  } else if (e1 + 1 == d.size()) {
    s += "E still rises at " + count_of(d.back().gpus, "GPU") +
         " per replica: more GPUs per replica paid back over the tested range (the E1 of the GPU count is not reached).";
  } else {
    s += "Beyond " + count_of(d[e1].gpus, "GPU") +
         " per replica E stops rising: that is the E1 of the GPU count. More GPUs per replica buy latency there, "
         "not efficiency; reach more volume with replicas of " +
         count_of(d[e1].gpus, "GPU") + ".";
  }
  c.reading = s;
  std::vector<Chart> out{std::move(c)};
  if (all_probed(d)) out.push_back(batch1_chart(d));
  return out;
}

}  // namespace effitune::orchestrator::report_detail
