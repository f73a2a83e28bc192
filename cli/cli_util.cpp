#include "cli_util.h"

#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "commands.h"

namespace effitune::cli {

void add_engine_options(po::options_description& desc) {
  desc.add_options()
      ("model", po::value<std::string>(), "model file (.gguf or llama2.c .bin), or synthetic:llama-1b|llama-8b|llama-8b-tp2-rank|llama-8b-tp4-rank|bench-134m|tiny")
      ("tokenizer", po::value<std::string>(), "a .gguf whose tokenizer and chat template to use instead of the model's "
       "(for a llama2.c .bin or a synthetic shape, which carry none); its vocabulary must fit the model's")
      ("backend", po::value<std::string>()->default_value("cpu"), "compute backend: cpu or cuda")
      ("quant", po::value<std::string>(), "convert weights at load: f32|f16|bf16|q8_0|q4_0 (default: as stored)")
      ("threads", po::value<int>()->default_value(0), "CPU threads (0 = all cores)")
      ("device", po::value<int>()->default_value(0), "CUDA device ordinal")
      ("gpu-count", po::value<int>()->default_value(1), "tensor-parallel degree (GPUs per replica)")
      ("context", po::value<int>()->default_value(0), "context length in tokens (0 = the model's)")
      ("kv-block-size", po::value<int>()->default_value(16), "tokens per KV-cache block");
}

Result<engine::EngineConfig> engine_config_from(const po::variables_map& vm) {
  engine::EngineConfig c;
  if (!vm.count("model")) return invalid_argument("--model is required (a .gguf or .bin file, or synthetic:NAME)");
  c.model_path = vm["model"].as<std::string>();
  if (vm.count("tokenizer")) c.tokenizer_path = vm["tokenizer"].as<std::string>();
  c.backend.kind = vm["backend"].as<std::string>();
  if (c.backend.kind != "cpu" && c.backend.kind != "cuda")
    return invalid_argument("--backend must be cpu or cuda, got '" + c.backend.kind + "'");
  if (vm.count("quant")) {
    auto t = engine::parse_dtype(vm["quant"].as<std::string>());
    if (!t) return invalid_argument("--quant must be one of f32, f16, bf16, q8_0, q4_0; got '" + vm["quant"].as<std::string>() + "'");
    c.weight_type = *t;
  }
  c.backend.threads = vm["threads"].as<int>();
  if (c.backend.threads < 0) return invalid_argument("--threads must be >= 0");
  c.backend.device = vm["device"].as<int>();
  c.backend.gpu_count = vm["gpu-count"].as<int>();
  if (c.backend.gpu_count < 1) return invalid_argument("--gpu-count must be >= 1");
  c.context_length = vm["context"].as<int>();
  if (c.context_length < 0) return invalid_argument("--context must be >= 0");
  c.backend.kv_block_size = vm["kv-block-size"].as<int>();
  c.max_sequences = 1;
  return c;
}

std::optional<po::variables_map> parse_args(int argc, char** argv, const po::options_description& desc,
                                            const char* usage, const char* teaching, int& exit_code) {
  return parse_args(argc, argv, desc, po::positional_options_description(), usage, teaching, exit_code);
}

std::optional<po::variables_map> parse_args(int argc, char** argv, const po::options_description& desc,
                                            const po::positional_options_description& pos, const char* usage,
                                            const char* teaching, int& exit_code) {
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv).options(desc).positional(pos).run(), vm);
    // --help before notify(): notify enforces the required options, which someone asking for help
    // has not given yet (`effitune loadtest --help` used to answer "'--slo' is required").
    if (vm.count("help")) {
      std::cout << "usage: " << usage << "\n\n" << teaching << "\n\n" << desc << "\n";
      exit_code = kExitOk;
      return std::nullopt;
    }
    po::notify(vm);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "effitune %s: %s\nusage: %s\n(try 'effitune %s --help')\n", argv[0], e.what(), usage, argv[0]);
    exit_code = kExitUsage;
    return std::nullopt;
  }
  return vm;
}

Result<std::vector<int32_t>> parse_id_list(const std::string& text, const std::string& option) {
  std::vector<int32_t> ids;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    try {
      size_t used = 0;
      long v = std::stol(item, &used);
      if (used != item.size() || v < 0 || v > INT32_MAX) throw std::invalid_argument("range");
      ids.push_back(static_cast<int32_t>(v));
    } catch (const std::exception&) {
      return invalid_argument(option + ": '" + item + "' is not a token id (expected comma-separated non-negative integers)");
    }
  }
  if (ids.empty()) return invalid_argument(option + " is empty");
  return ids;
}

int report_error(const char* command, const Status& status) {
  std::fprintf(stderr, "effitune %s: %s\n", command, status.to_string().c_str());
  return kExitRuntimeError;
}

int usage_error(const char* command, const std::string& message) {
  std::fprintf(stderr, "effitune %s: %s (try 'effitune %s --help')\n", command, message.c_str(), command);
  return kExitUsage;
}

int usage_error(const char* command, const Status& status) { return usage_error(command, status.message()); }

Result<std::string> read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return not_found(path + ": cannot open (check the path)");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace effitune::cli
