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
int run_run(int argc, char** argv);
int run_trial(int argc, char** argv);
int run_eval(int argc, char** argv);
int run_nightly(int argc, char** argv);
int run_serve(int argc, char** argv);
int run_loadtest(int argc, char** argv);
int run_status(int argc, char** argv);
int run_trials(int argc, char** argv);
int run_show(int argc, char** argv);
int run_compare(int argc, char** argv);
int run_export(int argc, char** argv);
int run_feedback(int argc, char** argv);
int run_report(int argc, char** argv);

}  // namespace effitune::cli
