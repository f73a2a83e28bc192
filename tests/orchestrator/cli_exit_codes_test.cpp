// The exit-code contract of the README ("0 success, 1 runtime error, 2 usage error"): option values a
// command rejects after parsing exit 2 and point at --help, like options it cannot parse at all;
// failures of the work itself (a missing model or study) exit 1. No model is loaded: every usage case
// is refused before the engine starts.
#include <gtest/gtest.h>

#include <filesystem>
#include <sstream>
#include <string>

#include "support/paths.h"
#include "support/run_command.h"

namespace effitune::orchestrator {
namespace {

struct Case {
  const char* args;
  int exit_code;
  const char* says;  // a piece of the one-line reason on stderr
};

TEST(CliExitCodes, UsageErrorsExitTwoAndRuntimeErrorsOne) {
  const std::string exe = testing::binary_dir() + "/cli/effitune";
  ASSERT_TRUE(std::filesystem::exists(exe)) << exe << " is missing: build the `effitune` target first";
  const std::string dir = testing::make_temp_dir("cli-exit");
  const std::string missing = dir + "/missing.gguf";
  const Case cases[] = {
      {"bench --model M --gen -1", 2, "--gen >= 0"},
      {"bench --model M --batch 1,x", 2, "--batch: 'x' is not a token id"},
      {"bench --model M --backend tpu", 2, "--backend must be cpu or cuda"},
      {"bench --model M --quant q3", 2, "--quant must be one of"},
      {"generate --model M --prompt hi --prompt-ids 1", 2, "give exactly one of --prompt or --prompt-ids"},
      {"generate --model M --prompt hi --decoding fast", 2, "--decoding must be greedy, sample or beam"},
      {"perplexity --model M --token-ids 1,2 --text-file F", 2, "give exactly one of --text-file or --token-ids"},
      {"serve --model M --port 70000", 2, "--port must be in [0, 65535]"},
      {"serve --model M --policy-param window_ms", 2, "--policy-param 'window_ms'"},
      {"tokenize --model M", 2, "--model and --text-file are required"},
      {"report --db D --format pdf --out R", 2, "--format 'pdf' is unknown"},
      {"show abc --db D", 2, "'abc' is not a trial id"},
      {"bench --nonsense", 2, "nonsense"},
      // Runtime errors: the options are fine, the work fails.
      {"bench --model M --gen 1", 1, "missing.gguf"},
      {"report --db D --out R", 1, "no study at"},
  };
  // The placeholders M, D, R and F (whole words) name files in a fresh directory; none exists.
  auto expand = [&](const std::string& args) {
    std::istringstream words(args);
    std::string out, w;
    for (; words >> w; out += ' ') {
      if (w == "M") out += missing;
      else if (w == "D") out += dir + "/none.db";
      else if (w == "R") out += dir + "/r.html";
      else if (w == "F") out += dir + "/f.txt";
      else out += w;
    }
    return out;
  };
  int i = 0;
  for (const Case& c : cases) {
    const std::string args = expand(c.args);
    const auto [code, out] = testing::run_command(exe + " " + args, dir + "/case" + std::to_string(i++) + ".log");
    EXPECT_EQ(code, c.exit_code) << "effitune " << args << "\n" << out;
    EXPECT_NE(out.find(c.says), std::string::npos) << "effitune " << args << " said:\n" << out;
    if (c.exit_code == 2) EXPECT_NE(out.find("--help"), std::string::npos) << "effitune " << args << " said:\n" << out;
  }
}

}  // namespace
}  // namespace effitune::orchestrator
