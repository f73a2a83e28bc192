// `effitune run` and `effitune nightly` on an experiment whose backend cannot run on this machine (CUDA
// in a build without nvcc, or no GPU): refused once, before any trial, naming the file and the key,
// instead of failing every trial of the study the same way. Skips where a GPU is usable.
#include <gtest/gtest.h>

#include <filesystem>

#include "effitune/engine/backend.h"
#include "support/paths.h"
#include "support/run_command.h"

namespace effitune::orchestrator {
namespace {

TEST(BackendRefusal, CudaExperimentWithoutAGpuIsRefusedBeforeAnyTrial) {
  if (engine::backend_available("cuda")) GTEST_SKIP() << "a GPU is usable here";
  const std::string exe = testing::binary_dir() + "/cli/effitune";
  ASSERT_TRUE(std::filesystem::exists(exe)) << exe << " is missing: build the `effitune` target first";
  const std::string dir = testing::make_temp_dir("backend-refusal");
  const std::string yaml = testing::source_dir() + "/experiments/gpu-quickstart.yaml";
  const std::string db = dir + "/study.db";
  const auto [code, out] = testing::run_command(exe + " run " + yaml + " --db " + db + " --quiet", dir + "/run.log");
  EXPECT_EQ(code, 1) << out;
  EXPECT_NE(out.find("gpu-quickstart.yaml: engine.backend 'cuda' cannot run here"), std::string::npos) << out;
  EXPECT_EQ(out.find("trial 0"), std::string::npos) << "a trial ran: " << out;
  const auto [ncode, nout] = testing::run_command(exe + " nightly " + yaml + " --db " + db, dir + "/nightly.log");
  EXPECT_EQ(ncode, 1) << nout;
  EXPECT_NE(nout.find("cannot run here"), std::string::npos) << nout;
}

}  // namespace
}  // namespace effitune::orchestrator
