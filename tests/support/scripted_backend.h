// A Backend whose next-token logits are a scripted function of the whole token history, for testing
// decoding and scheduling without a real model. It stores the tokens written into each KV block slot,
// so forks and copy-on-write behave as with real K/V.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "effitune/engine/backend.h"
#include "effitune/engine/weights.h"

namespace effitune::testing {

// Logits for the token after `history` (size vocab).
using ScriptFn = std::function<std::vector<float>(const std::vector<int32_t>& history)>;

class ScriptedBackend : public engine::Backend {
 public:
  ScriptedBackend(int32_t vocab, int32_t n_blocks, int32_t block_size, ScriptFn script);
  std::string name() const override { return "scripted"; }
  std::string device_name() const override { return "test"; }
  Status forward(std::span<const engine::SequenceStep> steps, std::vector<float>& logits) override;
  void copy_block(int32_t src, int32_t dst) override;
  int64_t kv_bytes_per_block() const override { return block_size_ * 4; }
  int64_t weight_bytes() const override { return 0; }
  int64_t forward_calls() const { return calls_; }
  int64_t tokens_processed() const { return tokens_; }

 private:
  int32_t vocab_, block_size_;
  ScriptFn script_;
  std::vector<std::vector<int32_t>> slots_;  // [block][slot] token id, -1 empty
  int64_t calls_ = 0, tokens_ = 0;
};

// Weights with only a config (vocab, context) for engines built on a ScriptedBackend.
std::shared_ptr<const engine::ModelWeights> config_only_weights(int32_t vocab, int32_t max_seq_len, int32_t eos_id);

}  // namespace effitune::testing
