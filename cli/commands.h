// The subcommand table. Each cmd_*.cpp defines one run function; commands.cpp lists them.
#pragma once

#include <vector>

namespace effitune::cli {

// Exit codes shared by every command.
constexpr int kExitOk = 0;
constexpr int kExitRuntimeError = 1;
constexpr int kExitUsage = 2;

struct Command {
  const char* name;
  const char* summary;
  int (*run)(int argc, char** argv);  // argv[0] is the command name
};

const std::vector<Command>& commands();

int run_generate(int argc, char** argv);
int run_perplexity(int argc, char** argv);
int run_tokenize(int argc, char** argv);
int run_bench(int argc, char** argv);
int run_serve(int argc, char** argv);

}  // namespace effitune::cli
