// The hyper-parameters of a Llama-architecture model, whatever file it came from.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace effitune::engine {

struct ModelConfig {
  std::string name;          // general.name, or the file stem
  int32_t dim = 0;           // embedding length d
  int32_t hidden_dim = 0;    // feed-forward length
  int32_t n_layers = 0;
  int32_t n_heads = 0;
  int32_t n_kv_heads = 0;    // grouped-query attention when < n_heads
  int32_t vocab_size = 0;
  int32_t max_seq_len = 0;   // context length the model was trained for
  float rms_eps = 1e-5f;
  float rope_theta = 10000.0f;
  // Llama-3 RoPE scaling: per-pair frequency divisors (length head_dim/2) from `rope_freqs.weight`;
  // empty when absent. RoPE rotates interleaved pairs (x[2i], x[2i+1]) as llama.cpp stores Q/K rows.
  std::vector<float> rope_freq_factors;
  bool tied_output = false;  // output projection shares the token embedding
  int32_t bos_id = 1;
  int32_t eos_id = 2;        // -1 when the model has none
  // Set (> 0) when head_dim is not dim / n_heads: a tensor-parallel shard holds n_heads / N heads of
  // the full model's width.
  int32_t head_dim_override = 0;

  int32_t head_dim() const { return head_dim_override > 0 ? head_dim_override : (n_heads > 0 ? dim / n_heads : 0); }
  int32_t q_dim() const { return head_dim() * n_heads; }
  int32_t kv_dim() const { return head_dim() * n_kv_heads; }
  // Parameter count of the weights (not counting a tied output twice).
  int64_t parameter_count() const;
};

}  // namespace effitune::engine
