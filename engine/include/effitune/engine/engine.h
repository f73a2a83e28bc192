// The engine: a loaded model, a backend, its paged KV cache and (when the file has one) a tokenizer.
// The scheduler, `generate` and the probes' in-process target all drive it through step().
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "effitune/common/status.h"
#include "effitune/engine/backend.h"
#include "effitune/engine/dtype.h"
#include "effitune/engine/kv_cache.h"
#include "effitune/engine/model_config.h"
#include "effitune/engine/sampling.h"
#include "effitune/engine/tokenizer.h"

namespace effitune::engine {

struct EngineConfig {
  // A .gguf or llama2.c .bin path, or "synthetic:llama-1b" / "synthetic:llama-8b" /
  // "synthetic:bench-134m" for random-weight models of those shapes.
  std::string model_path;
  // A GGUF whose tokenizer (tokenizer.ggml.* keys) and chat template the engine uses instead of the
  // model file's: for a llama2.c checkpoint or a synthetic shape, which carry none. Its vocabulary
  // must fit the model's. Empty: the model file's own, if it has one.
  std::string tokenizer_path;
  std::optional<DType> weight_type;  // quantization knob; nullopt keeps the stored types
  BackendOptions backend;
  // KV cache size in tokens over all sequences; 0 = max_sequences * context_length.
  int64_t kv_cache_tokens = 0;
  int32_t max_sequences = 8;
  int32_t context_length = 0;  // 0 = the model's max_seq_len
  uint64_t synthetic_seed = 1234;
};

struct StepRequest {
  SeqId seq = 0;
  std::span<const int32_t> tokens;  // appended to the sequence
  bool all_logits = false;
};

class Engine {
 public:
  // Loads the model and starts the backend. kNotFound for a missing model, kResourceExhausted when
  // weights + KV cache do not fit, kInvalidArgument for a bad knob. The caller owns the engine.
  static Result<std::unique_ptr<Engine>> create(const EngineConfig& config);

  // Wraps an existing backend (tests' scripted backends, or a caller's own). `kv_blocks` and
  // `kv_block_size` must match the backend's storage. The caller owns the engine.
  static Result<std::unique_ptr<Engine>> create_with_backend(std::shared_ptr<const ModelWeights> weights,
                                                             std::unique_ptr<Backend> backend, int32_t context_length,
                                                             int32_t kv_blocks, int32_t kv_block_size);

  const ModelConfig& model() const { return weights_->config; }
  const ModelWeights& weights() const { return *weights_; }
  // Null when the model file carries no tokenizer (e.g. llama2.c checkpoints) and none was given.
  const Tokenizer* tokenizer() const { return tokenizer_.get(); }
  Backend& backend() { return *backend_; }
  int32_t context_length() const { return context_length_; }
  // The GGUF the tokenizer and chat template come from (EngineConfig::tokenizer_path, else the model
  // file); null when there is none.
  const GgufFile* gguf() const { return gguf_.get(); }

  SeqId add_sequence() { return kv_->create_sequence(); }
  Result<SeqId> fork_sequence(SeqId src) { return kv_->fork_sequence(src); }
  void remove_sequence(SeqId seq) { kv_->free_sequence(seq); }
  int32_t sequence_length(SeqId seq) const { return kv_->length(seq); }
  // Forgets tokens past n (used to recompute after preemption or to rewind).
  void truncate_sequence(SeqId seq, int32_t n) { kv_->truncate(seq, n); }

  // Appends each request's tokens to its sequence and runs one forward pass over all of them.
  // `logits` rows follow the requests (all tokens or the last one per request), vocab wide.
  // kResourceExhausted (nothing changed) when KV blocks run out; kOutOfRange past the context length.
  Status step(std::span<const StepRequest> requests, std::vector<float>& logits);

  // Whether the backend picks tokens on the device (CUDA: DeviceSampler), so that step_sample()
  // moves one id per request instead of a vocab-wide logits row. EFFITUNE_DEVICE_SAMPLING=0 says
  // false (A/B timing against the host path).
  bool samples_on_device() const;
  // step(), then one token per request drawn on the device from its last row with params[i]
  // (one per request). Same errors as step(); kUnimplemented when !samples_on_device().
  Status step_sample(std::span<const StepRequest> requests, std::span<const RowSampling> params,
                     std::vector<int32_t>& tokens);
  // step(), then each request's k (1..128) most likely next tokens from its last row, computed on
  // the device: ids and logprobs (log-softmax) get requests.size() x k entries, descending, lower id
  // first on ties. What beam search needs, without moving vocab-wide rows. Same errors as
  // step_sample().
  Status step_topk(std::span<const StepRequest> requests, int32_t k, std::vector<int32_t>& ids,
                   std::vector<float>& logprobs);

  KvBlockManager& kv() { return *kv_; }
  KvStats kv_stats() const { return kv_->stats(); }

 private:
  Engine() = default;
  static Status attach_tokenizer(Engine& engine, const std::string& path, bool separate, int32_t model_vocab);
  // Validates the requests, reserves their KV slots, runs `forward` over their steps, then commits
  // the slots (or rolls every reservation back when it fails).
  Status run_step(std::span<const StepRequest> requests,
                  const std::function<Status(std::span<const SequenceStep>)>& forward);
  std::shared_ptr<const ModelWeights> weights_;
  std::unique_ptr<GgufFile> gguf_;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::unique_ptr<Backend> backend_;
  std::unique_ptr<KvBlockManager> kv_;
  int32_t context_length_ = 0;
};

}  // namespace effitune::engine
