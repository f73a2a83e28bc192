#include "commands.h"

namespace effitune::cli {

const std::vector<Command>& commands() {
  static const std::vector<Command> kCommands = {
      {"generate", "generate text or token ids from a prompt with a decoding strategy", run_generate},
      {"perplexity", "teacher-forced negative log-likelihood and perplexity of a text", run_perplexity},
      {"tokenize", "turn text into token ids with the model's tokenizer", run_tokenize},
      {"bench", "measure prefill and decode speed (tokens/s, median and spread)", run_bench},
      {"serve", "serve the model over an OpenAI-compatible HTTP API (completions, chat, SSE, metrics)", run_serve},
  };
  return kCommands;
}

}  // namespace effitune::cli
