// effitune perplexity: teacher-forced NLL per position and perplexity.
#include <cmath>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli_util.h"
#include "commands.h"
#include "effitune/engine/generate.h"

namespace effitune::cli {

int run_perplexity(int argc, char** argv) {
  po::options_description desc("options");
  desc.add_options()("help,h", "show this help");
  add_engine_options(desc);
  desc.add_options()
      ("text-file", po::value<std::string>(), "text to score (needs a tokenizer; BOS is prepended)")
      ("token-ids", po::value<std::string>(), "comma-separated token ids to score")
      ("format", po::value<std::string>()->default_value("text"), "text | json");
  int code = 0;
  auto vm = parse_args(argc, argv, desc, "effitune perplexity --model PATH (--text-file F | --token-ids 1,2,3) [--format json]",
                       "nll[i] is the negative log-likelihood (natural log) of token i+1 given tokens 0..i;\n"
                       "ppl = exp(mean nll).",
                       code);
  if (!vm) return code;
  if (vm->count("text-file") == vm->count("token-ids"))
    return usage_error("perplexity", "give exactly one of --text-file or --token-ids");
  auto config = engine_config_from(*vm);
  if (!config.ok()) return usage_error("perplexity", config.status());
  auto eng = engine::Engine::create(*config);
  if (!eng.ok()) return report_error("perplexity", eng.status());
  std::vector<int32_t> tokens;
  if (vm->count("token-ids")) {
    auto ids = parse_id_list((*vm)["token-ids"].as<std::string>(), "--token-ids");
    if (!ids.ok()) return usage_error("perplexity", ids.status());
    tokens = *ids;
  } else {
    if (!(*eng)->tokenizer())
      return report_error("perplexity", failed_precondition(config->model_path + " has no tokenizer; use --token-ids"));
    auto text = read_text_file((*vm)["text-file"].as<std::string>());
    if (!text.ok()) return report_error("perplexity", text.status());
    tokens = (*eng)->tokenizer()->encode(*text, true);
  }
  auto nll = engine::score_tokens(**eng, tokens);
  if (!nll.ok()) return report_error("perplexity", nll.status());
  double sum = 0;
  for (double v : *nll) sum += v;
  const double ppl = std::exp(sum / nll->size());
  if ((*vm)["format"].as<std::string>() == "json") {
    nlohmann::json j;
    j["nll"] = *nll;
    j["ppl"] = ppl;
    j["tokens"] = tokens.size();
    std::cout << j.dump() << "\n";
  } else {
    std::cout << "tokens " << tokens.size() << "  mean nll " << sum / nll->size() << "  ppl " << ppl << "\n";
  }
  return kExitOk;
}

}  // namespace effitune::cli
