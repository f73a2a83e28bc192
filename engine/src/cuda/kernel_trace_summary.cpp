// EFFITUNE_CUDA_TRACE's summary arithmetic (kernel_trace_summary.h). Plain C++: built with or without CUDA.
#include "cuda/kernel_trace_summary.h"

#include <algorithm>

#include <nlohmann/json.hpp>

namespace effitune::engine::cuda {

std::vector<std::string> summarize_kernel_trace(std::map<uint32_t, std::vector<TracedKernel>>& by_device,
                                                const std::vector<std::string>& names, uint64_t short_gap_ns,
                                                const std::string& exchange) {
  std::vector<std::string> lines;
  auto us = [](uint64_t ns) { return static_cast<double>(ns) * 1e-3; };
  auto name_of = [&](int32_t i) { return i >= 0 && static_cast<size_t>(i) < names.size() ? names[static_cast<size_t>(i)] : "?"; };
  std::vector<std::vector<const TracedKernel*>> exchanges;
  for (auto& [dev, ks] : by_device) {
    std::sort(ks.begin(), ks.end(), [](const TracedKernel& a, const TracedKernel& b) { return a.start < b.start; });
    std::map<int32_t, std::pair<int64_t, uint64_t>> per_name;  // launches, ns
    uint64_t busy = 0, short_gaps = 0, long_gaps = 0, covered = 0;
    int64_t n_short = 0, n_long = 0;
    bool first = true;
    exchanges.emplace_back();
    for (const TracedKernel& k : ks) {
      auto& [count, ns] = per_name[k.name];
      ++count;
      ns += k.end > k.start ? k.end - k.start : 0;
      if (first) {
        covered = k.start;
        first = false;
      } else if (k.start > covered) {
        const uint64_t gap = k.start - covered;
        (gap <= short_gap_ns ? short_gaps : long_gaps) += gap;
        ++(gap <= short_gap_ns ? n_short : n_long);
      }
      const uint64_t from = std::max(covered, k.start);
      busy += k.end > from ? k.end - from : 0;  // overlapping kernels count once
      covered = std::max(covered, k.end);
      if (name_of(k.name).find(exchange) != std::string::npos) exchanges.back().push_back(&k);
    }
    for (const auto& [name, cn] : per_name)
      lines.push_back(nlohmann::json{{"device", dev},
                                     {"kernel", name_of(name)},
                                     {"launches", cn.first},
                                     {"total_us", us(cn.second)},
                                     {"mean_us", us(cn.second) / static_cast<double>(cn.first)}}
                          .dump());
    lines.push_back(nlohmann::json{{"device", dev},
                                   {"kernels", ks.size()},
                                   {"busy_us", us(busy)},
                                   {"short_gaps_us", us(short_gaps)},
                                   {"short_gaps", n_short},
                                   {"long_gaps_us", us(long_gaps)},
                                   {"long_gaps", n_long},
                                   {"short_gap_limit_us", us(short_gap_ns)}}
                        .dump());
  }
  // The k-th exchange kernel of every GPU is the same call: the spread of their starts is what the
  // first rank to arrive waits for the last.
  const bool aligned = exchanges.size() > 1 && !exchanges[0].empty() &&
                       std::all_of(exchanges.begin(), exchanges.end(), [&](const auto& e) { return e.size() == exchanges[0].size(); });
  if (aligned) {
    uint64_t start_spread = 0, end_spread = 0;
    for (size_t c = 0; c < exchanges[0].size(); ++c) {
      uint64_t s_lo = UINT64_MAX, s_hi = 0, e_lo = UINT64_MAX, e_hi = 0;
      for (const auto& e : exchanges) {
        s_lo = std::min(s_lo, e[c]->start), s_hi = std::max(s_hi, e[c]->start);
        e_lo = std::min(e_lo, e[c]->end), e_hi = std::max(e_hi, e[c]->end);
      }
      start_spread += s_hi - s_lo, end_spread += e_hi - e_lo;
    }
    const double n = static_cast<double>(exchanges[0].size());
    lines.push_back(nlohmann::json{{"exchange_calls", exchanges[0].size()},
                                   {"mean_start_spread_us", us(start_spread) / n},
                                   {"mean_end_spread_us", us(end_spread) / n}}
                        .dump());
  }
  return lines;
}

}  // namespace effitune::engine::cuda
