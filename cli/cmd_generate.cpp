// effitune generate: one prompt through the engine with a decoding strategy.
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli_util.h"
#include "commands.h"
#include "effitune/engine/generate.h"

namespace effitune::cli {
namespace {

Result<engine::DecodingConfig> decoding_from(const po::variables_map& vm) {
  engine::DecodingConfig d;
  const std::string s = vm["decoding"].as<std::string>();
  if (s == "greedy") d.strategy = engine::DecodingStrategy::kGreedy;
  else if (s == "sample") d.strategy = engine::DecodingStrategy::kSample;
  else if (s == "beam") d.strategy = engine::DecodingStrategy::kBeam;
  else return invalid_argument("--decoding must be greedy, sample or beam; got '" + s + "'");
  d.max_new_tokens = vm["max-new-tokens"].as<int>();
  d.temperature = vm["temperature"].as<float>();
  d.top_k = vm["top-k"].as<int>();
  d.top_p = vm["top-p"].as<float>();
  d.beam_width = vm["beam-width"].as<int>();
  d.length_penalty = vm["length-penalty"].as<float>();
  d.seed = vm["seed"].as<uint64_t>();
  d.stop_at_eos = !vm.count("ignore-eos");
  if (vm.count("stop")) d.stop_strings = vm["stop"].as<std::vector<std::string>>();
  EFFITUNE_RETURN_IF_ERROR(engine::validate(d));
  return d;
}

}  // namespace

int run_generate(int argc, char** argv) {
  po::options_description desc("options");
  desc.add_options()("help,h", "show this help");
  add_engine_options(desc);
  desc.add_options()
      ("prompt", po::value<std::string>(), "prompt text (needs a model with a tokenizer)")
      ("prompt-ids", po::value<std::string>(), "prompt as comma-separated token ids, e.g. 1 for BOS")
      ("max-new-tokens", po::value<int>()->default_value(64), "response budget in tokens")
      ("decoding", po::value<std::string>()->default_value("greedy"), "greedy | sample | beam")
      ("temperature", po::value<float>()->default_value(1.0f), "sample: softmax temperature (0 = greedy)")
      ("top-k", po::value<int>()->default_value(0), "sample: keep the k most likely tokens (0 = all)")
      ("top-p", po::value<float>()->default_value(1.0f), "sample: nucleus mass in (0, 1]")
      ("beam-width", po::value<int>()->default_value(4), "beam: number of beams")
      ("length-penalty", po::value<float>()->default_value(1.0f), "beam: score = logprob / length^penalty")
      ("seed", po::value<uint64_t>()->default_value(0), "sampling seed: the same seed gives the same output")
      ("stop", po::value<std::vector<std::string>>(), "stop string (repeatable)")
      ("ignore-eos", "keep generating past the end-of-sequence token")
      ("format", po::value<std::string>()->default_value("text"), "text | json");
  int code = 0;
  auto vm = parse_args(argc, argv, desc,
                       "effitune generate --model PATH (--prompt TEXT | --prompt-ids 1,2,3) [--max-new-tokens N] "
                       "[--decoding greedy|sample|beam] [--format text|json]",
                       "Runs one prompt through the engine. Example:\n"
                       "  effitune generate --model ../shared/data/stories260K.bin --prompt-ids 1 --max-new-tokens 50\n"
                       "The finish reason is 'stop' (end-of-sequence or a stop string) or 'length' (the budget ran out).",
                       code);
  if (!vm) return code;
  const std::string format = (*vm)["format"].as<std::string>();
  if (format != "text" && format != "json") return usage_error("generate", "--format must be text or json");
  if (vm->count("prompt") == vm->count("prompt-ids"))
    return usage_error("generate", "give exactly one of --prompt or --prompt-ids");
  auto config = engine_config_from(*vm);
  if (!config.ok()) return usage_error("generate", config.status());
  auto decoding = decoding_from(*vm);
  if (!decoding.ok()) return usage_error("generate", decoding.status());
  auto eng = engine::Engine::create(*config);
  if (!eng.ok()) return report_error("generate", eng.status());
  engine::Engine& e = **eng;

  std::vector<int32_t> prompt;
  if (vm->count("prompt-ids")) {
    auto ids = parse_id_list((*vm)["prompt-ids"].as<std::string>(), "--prompt-ids");
    if (!ids.ok()) return usage_error("generate", ids.status());
    prompt = *ids;
  } else {
    if (!e.tokenizer())
      return report_error("generate", failed_precondition(config->model_path +
                                                          " has no tokenizer; pass token ids with --prompt-ids instead"));
    prompt = e.tokenizer()->encode((*vm)["prompt"].as<std::string>(), true);
  }
  auto result = engine::generate(e, prompt, *decoding);
  if (!result.ok()) return report_error("generate", result.status());
  const auto& r = *result;
  const double decode_tok_s = r.decode_ms > 0 ? r.token_ids.size() / (r.decode_ms / 1000.0) : 0.0;
  if (format == "json") {
    nlohmann::json j;
    j["token_ids"] = r.token_ids;
    if (e.tokenizer()) j["text"] = r.text;
    j["finish_reason"] = engine::finish_reason_name(r.finish_reason);
    j["prompt_tokens"] = r.prompt_tokens;
    j["generated_tokens"] = r.token_ids.size();
    j["prefill_ms"] = r.prefill_ms;
    j["decode_ms"] = r.decode_ms;
    j["ttft_ms"] = r.ttft_ms;
    j["decode_tok_s"] = decode_tok_s;
    j["score"] = r.score;
    j["decoding"] = engine::strategy_name(decoding->strategy);
    std::cout << j.dump() << "\n";
  } else {
    if (e.tokenizer()) {
      std::cout << r.text << "\n";
    } else {
      for (size_t i = 0; i < r.token_ids.size(); ++i) std::cout << (i ? "," : "") << r.token_ids[i];
      std::cout << "\n";
    }
    std::fprintf(stderr, "[%zu tokens, finish_reason=%s, prefill %.1f ms, decode %.1f tok/s]\n", r.token_ids.size(),
                 engine::finish_reason_name(r.finish_reason), r.prefill_ms, decode_tok_s);
  }
  return kExitOk;
}

}  // namespace effitune::cli
