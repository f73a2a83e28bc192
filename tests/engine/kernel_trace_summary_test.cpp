// EFFITUNE_CUDA_TRACE's summary (engine/src/cuda/kernel_trace_summary.h) on hand-made timelines:
// per-kernel totals, a GPU's busy time as the union of its kernels (overlaps once), idle gaps split
// at the limit, and the spread of the ranks' k-th exchange kernels.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "../../engine/src/cuda/kernel_trace_summary.h"

namespace effitune::engine::cuda {
namespace {

constexpr uint64_t kUs = 1000;

std::vector<nlohmann::json> parse(const std::vector<std::string>& lines) {
  std::vector<nlohmann::json> out;
  for (const std::string& l : lines) out.push_back(nlohmann::json::parse(l));
  return out;
}

TEST(KernelTraceSummary, BusyTimeIsTheUnionAndGapsSplitAtTheLimit) {
  const std::vector<std::string> names = {"gemm", "norm", "attn"};
  std::map<uint32_t, std::vector<TracedKernel>> trace;
  // Out of order on purpose: the summary sorts by start.
  trace[0] = {{100 * kUs, 110 * kUs, 0}, {0, 10 * kUs, 0}, {15 * kUs, 18 * kUs, 2}, {12 * kUs, 20 * kUs, 1}};
  const auto lines = parse(summarize_kernel_trace(trace, names, 50 * kUs));
  ASSERT_EQ(lines.size(), 4u);  // three kernel names, one GPU line, no exchange line with one GPU
  std::map<std::string, nlohmann::json> by_name;
  for (size_t i = 0; i < 3; ++i) by_name[lines[i]["kernel"].get<std::string>()] = lines[i];
  EXPECT_EQ(by_name["gemm"]["launches"], 2);
  EXPECT_DOUBLE_EQ(by_name["gemm"]["total_us"].get<double>(), 20.0);
  EXPECT_DOUBLE_EQ(by_name["gemm"]["mean_us"].get<double>(), 10.0);
  EXPECT_DOUBLE_EQ(by_name["norm"]["total_us"].get<double>(), 8.0);
  EXPECT_DOUBLE_EQ(by_name["attn"]["total_us"].get<double>(), 3.0);
  const nlohmann::json& gpu = lines[3];
  EXPECT_EQ(gpu["kernels"], 4);
  EXPECT_DOUBLE_EQ(gpu["busy_us"].get<double>(), 28.0);  // 0-10, 12-20 (attn inside), 100-110
  EXPECT_EQ(gpu["short_gaps"], 1);                        // 10 -> 12
  EXPECT_DOUBLE_EQ(gpu["short_gaps_us"].get<double>(), 2.0);
  EXPECT_EQ(gpu["long_gaps"], 1);  // 20 -> 100
  EXPECT_DOUBLE_EQ(gpu["long_gaps_us"].get<double>(), 80.0);
  EXPECT_EQ(trace[0][0].start, 0u);  // sorted in place for the caller's tail
}

TEST(KernelTraceSummary, ExchangeSpreadLinesUpTheRanksKthCalls) {
  const std::vector<std::string> names = {"void p2p_add_kernel<bf16>(P2pArgs)", "gemm"};
  std::map<uint32_t, std::vector<TracedKernel>> trace;
  trace[0] = {{10 * kUs, 20 * kUs, 0}, {25 * kUs, 40 * kUs, 1}, {50 * kUs, 60 * kUs, 0}};
  trace[1] = {{13 * kUs, 21 * kUs, 0}, {24 * kUs, 41 * kUs, 1}, {50 * kUs, 61 * kUs, 0}};
  auto lines = parse(summarize_kernel_trace(trace, names, 50 * kUs));
  ASSERT_FALSE(lines.empty());
  const nlohmann::json& x = lines.back();
  ASSERT_TRUE(x.contains("exchange_calls")) << x.dump();
  EXPECT_EQ(x["exchange_calls"], 2);
  EXPECT_DOUBLE_EQ(x["mean_start_spread_us"].get<double>(), 1.5);  // (3 + 0) / 2
  EXPECT_DOUBLE_EQ(x["mean_end_spread_us"].get<double>(), 1.0);    // (1 + 1) / 2
  // A GPU with a different number of exchange kernels: the k-th calls are not the same call.
  trace[1].push_back({70 * kUs, 80 * kUs, 0});
  lines = parse(summarize_kernel_trace(trace, names, 50 * kUs));
  EXPECT_FALSE(lines.back().contains("exchange_calls"));
}

}  // namespace
}  // namespace effitune::engine::cuda
