// Runs a shell command (a CLI under test) with its stdout and stderr going to a log file.
#pragma once

#include <string>

namespace effitune::testing {
struct CommandResult {
  int exit_code = -1;  // -1 when the command did not exit normally
  std::string output;  // stdout and stderr together, as the log file holds them
};
CommandResult run_command(const std::string& command, const std::string& log_path);
}  // namespace effitune::testing
