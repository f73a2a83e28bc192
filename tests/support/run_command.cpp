#include "support/run_command.h"

#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace effitune::testing {

CommandResult run_command(const std::string& command, const std::string& log_path) {
  const int status = std::system((command + " > " + log_path + " 2>&1").c_str());
  CommandResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream in(log_path);
  std::stringstream s;
  s << in.rdbuf();
  r.output = s.str();
  return r;
}

}  // namespace effitune::testing
