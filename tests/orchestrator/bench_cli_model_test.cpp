// `effitune bench` on the shipped task model (CPU): --gen 0 times the prefill alone (its JSON line says
// so: no decode rate, roofline or peer ratio), and a negative --gen is refused naming the option.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "support/paths.h"
#include "support/run_command.h"

namespace effitune::orchestrator {
namespace {

TEST(BenchCli, GenZeroTimesThePrefillAlone) {
  const std::string exe = testing::binary_dir() + "/cli/effitune";
  ASSERT_TRUE(std::filesystem::exists(exe)) << exe << " is missing: build the `effitune` target first";
  const std::string dir = testing::make_temp_dir("bench-cli");
  const std::string model = testing::source_dir() + "/experiments/support-desk/model.gguf";
  const std::string base = exe + " bench --backend cpu --threads 1 --model " + model + " --prompt 16 --batch 1,2 --repetitions 1";
  const auto [code, out] = testing::run_command(base + " --gen 0 --format json", dir + "/gen0.log");
  ASSERT_EQ(code, 0) << out;
  std::istringstream lines(out);
  std::string line;
  int rows = 0;
  while (std::getline(lines, line)) {
    if (line.empty() || line[0] != '{') continue;
    const auto j = nlohmann::json::parse(line);
    ++rows;
    EXPECT_EQ(j["gen_tokens"], 0) << line;
    EXPECT_EQ(j["prompt_tokens"], 16) << line;
    EXPECT_GT(j["prefill_tok_s"].get<double>(), 0.0) << line;
    EXPECT_EQ(j["decode_tok_s"].get<double>(), 0.0) << line;
    EXPECT_TRUE(j["roofline_decode_tok_s"].is_null()) << line;
    EXPECT_TRUE(j["decode_vs_peer"].is_null()) << line;
  }
  EXPECT_EQ(rows, 2) << out;  // batch 1 and 2

  const auto [bad, msg] = testing::run_command(base + " --gen -1", dir + "/bad.log");
  EXPECT_EQ(bad, 2) << msg;  // a usage error (README: exit codes)
  EXPECT_NE(msg.find("--gen >= 0"), std::string::npos) << msg;
}

}  // namespace
}  // namespace effitune::orchestrator
