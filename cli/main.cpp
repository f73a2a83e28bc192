// effitune: thin entry point. Each subcommand lives in its own cmd_*.cpp and registers in commands.h.
#include <cstdio>
#include <cstring>
#include <string>

#include "commands.h"
#include "git_commit.h"

namespace {

void print_usage(FILE* out) {
  std::fprintf(out,
               "effitune %s: tunes how a large language model is served\n\n"
               "usage: effitune <command> [options]   (effitune <command> --help for its options)\n\n"
               "commands:\n",
               effitune_git_commit());
  for (const auto& c : effitune::cli::commands()) std::fprintf(out, "  %-12s %s\n", c.name, c.summary);
  std::fprintf(out, "\nexit codes: 0 success, 1 runtime error, 2 usage error\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0 ||
      std::strcmp(argv[1], "help") == 0) {
    print_usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  if (std::strcmp(argv[1], "--version") == 0) {
    std::printf("effitune %s\n", effitune_git_commit());
    return 0;
  }
  for (const auto& c : effitune::cli::commands()) {
    if (argv[1] == std::string(c.name)) return c.run(argc - 1, argv + 1);
  }
  std::fprintf(stderr, "effitune: unknown command '%s' (try 'effitune --help')\n", argv[1]);
  return 2;
}
