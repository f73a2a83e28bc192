#include "commands.h"

namespace effitune::cli {

const std::vector<Command>& commands() {
  static const std::vector<Command> kCommands = {
      {"generate", "generate text or token ids from a prompt with a decoding strategy", run_generate},
      {"perplexity", "teacher-forced negative log-likelihood and perplexity of a text", run_perplexity},
      {"tokenize", "turn text into token ids with the model's tokenizer", run_tokenize},
      {"bench", "measure prefill and decode speed (tokens/s, median and spread)", run_bench},
      {"serve", "serve the model over an OpenAI-compatible HTTP API (completions, chat, SSE, metrics)", run_serve},
      {"loadtest", "load-test a target (inproc, http, null): latency percentiles, goodput, P, capacity, cost", run_loadtest},
      {"status", "the study's best configuration so far and its progress", run_status},
      {"trials", "list the study's trials (a table, or JSON with --format json)", run_trials},
      {"show", "one trial: configuration, indicators with intervals, cost, verdict", run_show},
      {"compare", "two trials side by side, saying where their intervals separate", run_compare},
      {"export", "export the study as JSON or CSV", run_export},
      {"feedback", "import end users' ratings (ICS) into the study: feedback import FILE", run_feedback},
      {"run", "run a tuning study from an experiment file (--db FILE, --resume after a kill)", run_run},
      {"trial", "(internal) measure one configuration in a child process for `run`", run_trial},
      {"report", "the recommendation report of a study: --format html|md|json --out FILE", run_report},
      {"nightly", "nightly job: re-measure the best configurations, flag drift, continue the search (exit 3/4/5 on alerts)", run_nightly},
      {"eval", "quality probe on an evaluation set: accuracy, completeness, consistency with intervals", run_eval},
  };
  return kCommands;
}

}  // namespace effitune::cli
