// effitune tokenize: text to token ids with the model's tokenizer (no weights are needed).
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli_util.h"
#include "commands.h"
#include "effitune/engine/gguf.h"
#include "effitune/engine/tokenizer.h"

namespace effitune::cli {

int run_tokenize(int argc, char** argv) {
  po::options_description desc("options");
  desc.add_options()
      ("help,h", "show this help")
      ("model", po::value<std::string>(), "a GGUF file with tokenizer metadata (a vocabulary-only file works)")
      ("text-file", po::value<std::string>(), "the text to tokenize")
      ("add-bos", "prepend the beginning-of-sequence token")
      ("format", po::value<std::string>()->default_value("text"), "text | json");
  int code = 0;
  auto vm = parse_args(argc, argv, desc, "effitune tokenize --model PATH --text-file F [--add-bos] [--format json]",
                       "Special-token text is not parsed; it is tokenized as plain text.", code);
  if (!vm) return code;
  if (!vm->count("model") || !vm->count("text-file"))
    return usage_error("tokenize", "--model and --text-file are required");
  auto file = engine::GgufFile::open((*vm)["model"].as<std::string>());
  if (!file.ok()) return report_error("tokenize", file.status());
  auto tok = engine::make_tokenizer(**file);
  if (!tok.ok()) return report_error("tokenize", tok.status().with_context((*vm)["model"].as<std::string>()));
  auto text = read_text_file((*vm)["text-file"].as<std::string>());
  if (!text.ok()) return report_error("tokenize", text.status());
  auto ids = (*tok)->encode(*text, vm->count("add-bos") > 0);
  if ((*vm)["format"].as<std::string>() == "json") {
    nlohmann::json j;
    j["token_ids"] = ids;
    std::cout << j.dump() << "\n";
  } else {
    for (size_t i = 0; i < ids.size(); ++i) std::cout << (i ? " " : "") << ids[i];
    std::cout << "\n";
  }
  return kExitOk;
}

}  // namespace effitune::cli
