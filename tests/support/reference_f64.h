// An independent float64 Llama forward pass, written from the math with no engine kernel: the
// reference every backend's numerics are checked against. Slow and simple on purpose.
#pragma once

#include <cstdint>
#include <vector>

#include "effitune/engine/weights.h"

namespace effitune::testing {

// Decodes a tensor to row-major doubles (own decoders for f32/f16/bf16/q8_0/q4_0; other types via
// the engine's dequantize_row, whose exactness the dtype tests cover).
std::vector<double> tensor_to_f64(const engine::TensorView& t);

// IEEE half -> double, written from the format definition.
double half_to_f64(uint16_t h);

class ReferenceLlama {
 public:
  // Copies the weights (as doubles); `w` need not outlive the reference.
  explicit ReferenceLlama(const engine::ModelWeights& w);

  // Appends `token` at position length() and returns its next-token logits (vocab_size values).
  std::vector<double> step(int32_t token);
  // Forgets the sequence.
  void reset();
  int32_t length() const { return pos_; }

 private:
  struct Layer {
    std::vector<double> attn_norm, wq, wk, wv, wo, ffn_norm, w1, w2, w3;
  };
  engine::ModelConfig cfg_;
  std::vector<double> embedding_, output_norm_, output_;
  std::vector<Layer> layers_;
  // key_cache_[layer][pos * kv_dim + i]
  std::vector<std::vector<double>> key_cache_, value_cache_;
  int32_t pos_ = 0;
};

}  // namespace effitune::testing
