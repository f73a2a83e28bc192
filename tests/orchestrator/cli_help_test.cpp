// `effitune <command> --help` for every command `effitune --help` lists: exit 0 and a usage line on
// stdout, even for commands with required options (boost's notify() used to reject the help request
// of `loadtest`, `eval` and `trial` for a missing option).
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "support/paths.h"

namespace effitune::orchestrator {
namespace {

// Runs `command` and returns its exit code and stdout (stderr discarded).
std::pair<int, std::string> capture(const std::string& command) {
  std::string out;
  FILE* p = popen((command + " 2>/dev/null").c_str(), "r");
  if (p == nullptr) return {-1, out};
  char buf[4096];
  size_t n = 0;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

TEST(CliHelp, EveryListedCommandAnswersHelpWithItsUsage) {
  const std::string exe = testing::binary_dir() + "/cli/effitune";
  ASSERT_TRUE(std::filesystem::exists(exe)) << exe << " is missing: build the `effitune` target first";
  const auto [code, top] = capture(exe + " --help");
  ASSERT_EQ(code, 0) << top;
  // The command table: the indented lines after "commands:", up to the first blank line.
  std::vector<std::string> commands;
  std::istringstream lines(top.substr(top.find("commands:") + 9));
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() && !commands.empty()) break;
    std::istringstream words(line);
    std::string name;
    if (line.rfind("  ", 0) == 0 && words >> name) commands.push_back(name);
  }
  ASSERT_GE(commands.size(), 10u) << "could not read the command table from:\n" << top;
  for (const std::string& c : commands) {
    const auto [rc, out] = capture(exe + " " + c + " --help");
    EXPECT_EQ(rc, 0) << "effitune " << c << " --help";
    EXPECT_NE(out.find("usage: effitune " + c), std::string::npos) << "effitune " << c << " --help printed:\n" << out;
  }
}

}  // namespace
}  // namespace effitune::orchestrator
