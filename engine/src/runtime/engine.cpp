#include "effitune/engine/engine.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string_view>

#include "cuda/cuda_backend_factory.h"
#include "effitune/engine/model_loader.h"

namespace effitune::engine {
namespace {

bool has_gguf_magic(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  in.read(magic, 4);
  return in.gcount() == 4 && std::string(magic, 4) == "GGUF";
}

Result<std::shared_ptr<const ModelWeights>> load_weights(const EngineConfig& config) {
  constexpr std::string_view kSynthetic = "synthetic:";
  if (config.model_path.rfind(kSynthetic, 0) == 0) {
    std::string shape = config.model_path.substr(kSynthetic.size());
    auto model_config = synthetic_model_config(shape);
    if (!model_config) {
      return invalid_argument("unknown synthetic model '" + shape +
                              "' (expected synthetic:llama-1b, synthetic:llama-8b, synthetic:llama-8b-tp2-rank, synthetic:llama-8b-tp4-rank, synthetic:bench-134m or synthetic:tiny)");
    }
    return make_random_model(*model_config, config.weight_type.value_or(DType::kF16), config.synthetic_seed);
  }
  LoadOptions options;
  options.weight_type = config.weight_type;
  return load_model(config.model_path, options);
}

}  // namespace

// The tokenizer and chat template of a GGUF: the model file's own (absent keys are fine: the engine
// then has no tokenizer), or a separate file's (EngineConfig::tokenizer_path: it must exist, be a GGUF
// and carry the keys). Either way its ids must all exist in the model, or a named error comes before
// the backend starts.
Status Engine::attach_tokenizer(Engine& engine, const std::string& path, bool separate, int32_t model_vocab) {
  const std::string what = separate ? "tokenizer file " + path : path;
  if (separate && !std::filesystem::exists(path))
    return not_found(what + " does not exist; give a .gguf that carries tokenizer.ggml.* keys");
  if (!has_gguf_magic(path)) {
    if (!separate) return {};  // a llama2.c checkpoint
    return invalid_argument(what + " is not a GGUF file; give a model or vocab-only .gguf that carries "
                            "tokenizer.ggml.* keys");
  }
  EFFITUNE_ASSIGN_OR_RETURN(engine.gguf_, GgufFile::open(path));
  auto tokenizer = make_tokenizer(*engine.gguf_);
  if (!tokenizer.ok()) {
    if (tokenizer.status().code() != StatusCode::kNotFound) return tokenizer.status().with_context(path);
    if (!separate) return {};
    return invalid_argument(what + " has no tokenizer.ggml.* keys; give a .gguf that carries them");
  }
  if (tokenizer.value()->vocab_size() > model_vocab)
    return invalid_argument(what + " has a tokenizer of " + std::to_string(tokenizer.value()->vocab_size()) +
                            " tokens but the model's vocabulary has " + std::to_string(model_vocab) +
                            "; its ids would index past the embedding. Give a tokenizer whose vocabulary fits the model");
  engine.tokenizer_ = std::move(tokenizer).value();
  return {};
}

Result<std::unique_ptr<Engine>> Engine::create(const EngineConfig& config) {
  if (config.max_sequences < 1) return invalid_argument("max_sequences must be >= 1");
  if (config.backend.kv_block_size < 1 || config.backend.kv_block_size > 1024)
    return invalid_argument("kv_block_size must be in [1, 1024]");
  std::unique_ptr<Engine> engine(new Engine());
  EFFITUNE_ASSIGN_OR_RETURN(engine->weights_, load_weights(config));
  const ModelConfig& model = engine->weights_->config;

  const bool separate = !config.tokenizer_path.empty();
  EFFITUNE_RETURN_IF_ERROR(
      attach_tokenizer(*engine, separate ? config.tokenizer_path : config.model_path, separate, model.vocab_size));

  engine->context_length_ = config.context_length > 0 ? config.context_length : model.max_seq_len;
  if (engine->context_length_ <= 0) return invalid_argument("the model has no context length; pass one");
  const int64_t kv_tokens = config.kv_cache_tokens > 0
                                ? config.kv_cache_tokens
                                : static_cast<int64_t>(config.max_sequences) * engine->context_length_;
  BackendOptions backend_options = config.backend;
  const int64_t blocks = (kv_tokens + backend_options.kv_block_size - 1) / backend_options.kv_block_size +
                         config.max_sequences;  // one partly filled block per sequence
  if (blocks > (1 << 30)) return resource_exhausted("KV cache of " + std::to_string(kv_tokens) + " tokens is too large");
  backend_options.kv_blocks = static_cast<int32_t>(blocks);
  EFFITUNE_ASSIGN_OR_RETURN(engine->backend_, make_backend(engine->weights_, backend_options));

  Backend* backend = engine->backend_.get();
  engine->kv_ = std::make_unique<KvBlockManager>(
      backend_options.kv_blocks, backend_options.kv_block_size, backend->kv_bytes_per_block(),
      [backend](int32_t src, int32_t dst) { backend->copy_block(src, dst); });
  return engine;
}

Result<std::unique_ptr<Engine>> Engine::create_with_backend(std::shared_ptr<const ModelWeights> weights,
                                                            std::unique_ptr<Backend> backend, int32_t context_length,
                                                            int32_t kv_blocks, int32_t kv_block_size) {
  if (!weights || !backend) return invalid_argument("create_with_backend needs weights and a backend");
  if (context_length < 1 || kv_blocks < 1 || kv_block_size < 1) return invalid_argument("context, blocks and block size must be >= 1");
  std::unique_ptr<Engine> engine(new Engine());
  engine->weights_ = std::move(weights);
  engine->backend_ = std::move(backend);
  engine->context_length_ = context_length;
  Backend* b = engine->backend_.get();
  engine->kv_ = std::make_unique<KvBlockManager>(kv_blocks, kv_block_size, b->kv_bytes_per_block(),
                                                 [b](int32_t src, int32_t dst) { b->copy_block(src, dst); });
  return engine;
}

Status Engine::step(std::span<const StepRequest> requests, std::vector<float>& logits) {
  return run_step(requests, [&](std::span<const SequenceStep> steps) { return backend_->forward(steps, logits); });
}

bool Engine::samples_on_device() const {
  static const bool enabled = [] {
    const char* v = std::getenv("EFFITUNE_DEVICE_SAMPLING");
    return v == nullptr || std::string_view(v) != "0";
  }();
  const auto* sampler = dynamic_cast<const DeviceSampler*>(backend_.get());
  return enabled && sampler != nullptr && sampler->samples_on_device();
}

Status Engine::step_sample(std::span<const StepRequest> requests, std::span<const RowSampling> params,
                           std::vector<int32_t>& tokens) {
  if (!samples_on_device())
    return unimplemented("step_sample: the " + backend_->name() +
                         " backend does not sample on the device (or EFFITUNE_DEVICE_SAMPLING=0); use step()");
  if (params.size() != requests.size())
    return invalid_argument("step_sample: " + std::to_string(params.size()) + " sampling params for " +
                            std::to_string(requests.size()) + " requests (one per request)");
  auto* sampler = dynamic_cast<DeviceSampler*>(backend_.get());
  return run_step(requests, [&](std::span<const SequenceStep> steps) {
    return sampler->forward_sample(steps, params, tokens);
  });
}

Status Engine::step_topk(std::span<const StepRequest> requests, int32_t k, std::vector<int32_t>& ids,
                         std::vector<float>& logprobs) {
  if (!samples_on_device())
    return unimplemented("step_topk: the " + backend_->name() +
                         " backend does not sample on the device (or EFFITUNE_DEVICE_SAMPLING=0); use step()");
  if (k < 1 || k > 128 || k > model().vocab_size)
    return invalid_argument("step_topk: k must be in [1, min(128, vocab)], got " + std::to_string(k));
  auto* sampler = dynamic_cast<DeviceSampler*>(backend_.get());
  return run_step(requests, [&](std::span<const SequenceStep> steps) {
    return sampler->forward_topk(steps, k, ids, logprobs);
  });
}

Status Engine::run_step(std::span<const StepRequest> requests,
                        const std::function<Status(std::span<const SequenceStep>)>& forward) {
  if (requests.empty()) return invalid_argument("step() needs at least one request");
  const int32_t vocab = model().vocab_size;
  for (size_t i = 0; i < requests.size(); ++i) {
    const StepRequest& r = requests[i];
    if (!kv_->contains(r.seq)) return not_found("unknown sequence " + std::to_string(r.seq));
    if (r.tokens.empty()) return invalid_argument("request " + std::to_string(i) + " has no tokens");
    for (int32_t t : r.tokens) {
      if (t < 0 || t >= vocab)
        return invalid_argument("token id " + std::to_string(t) + " is outside the vocabulary [0, " +
                                std::to_string(vocab) + ")");
    }
    if (kv_->length(r.seq) + static_cast<int64_t>(r.tokens.size()) > context_length_) {
      return out_of_range("sequence " + std::to_string(r.seq) + " would reach " +
                          std::to_string(kv_->length(r.seq) + r.tokens.size()) + " tokens, past the context length " +
                          std::to_string(context_length_));
    }
    for (size_t j = 0; j < i; ++j) {
      if (requests[j].seq == r.seq) return invalid_argument("sequence listed twice in one step");
    }
  }
  // Reserve blocks for every request; undo the reservations if any one does not fit.
  std::vector<int32_t> old_lengths;
  old_lengths.reserve(requests.size());
  for (const StepRequest& r : requests) {
    old_lengths.push_back(kv_->length(r.seq));
    Status s = kv_->reserve(r.seq, static_cast<int32_t>(r.tokens.size()));
    if (!s.ok()) {
      for (size_t j = 0; j + 1 < old_lengths.size(); ++j) kv_->truncate(requests[j].seq, old_lengths[j]);
      return s;
    }
  }
  std::vector<SequenceStep> steps(requests.size());
  for (size_t i = 0; i < requests.size(); ++i) {
    steps[i].tokens = requests[i].tokens;
    steps[i].start_pos = old_lengths[i];
    steps[i].block_table = kv_->block_table(requests[i].seq);
    steps[i].all_logits = requests[i].all_logits;
  }
  Status s = forward(steps);
  if (!s.ok()) {
    for (size_t i = 0; i < requests.size(); ++i) kv_->truncate(requests[i].seq, old_lengths[i]);
    return s;
  }
  for (const StepRequest& r : requests) kv_->commit(r.seq, static_cast<int32_t>(r.tokens.size()));
  return {};
}

}  // namespace effitune::engine
