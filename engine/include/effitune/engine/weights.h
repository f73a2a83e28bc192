// Model weights as typed views into memory that ModelWeights owns (a file mapping or converted buffers).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "effitune/engine/dtype.h"
#include "effitune/engine/model_config.h"

namespace effitune::engine {

// A row-major matrix of `rows` rows of `cols` elements (ggml's ne[1] x ne[0]). A projection
// y = W x has W.rows = output size and W.cols = input size. 1-D tensors have rows == 1.
struct TensorView {
  DType type = DType::kF32;
  const void* data = nullptr;
  int64_t rows = 0;
  int64_t cols = 0;

  int64_t row_bytes() const { return dtype_row_bytes(type, cols); }
  int64_t bytes() const { return row_bytes() * rows; }
  const uint8_t* row(int64_t r) const { return static_cast<const uint8_t*>(data) + r * row_bytes(); }
  const float* f32() const { return static_cast<const float*>(data); }
};

struct LayerWeights {
  TensorView attn_norm;  // [dim] f32
  TensorView wq;         // [n_heads*head_dim, dim]
  TensorView wk;         // [n_kv_heads*head_dim, dim]
  TensorView wv;         // [n_kv_heads*head_dim, dim]
  TensorView wo;         // [dim, n_heads*head_dim]
  TensorView ffn_norm;   // [dim] f32
  TensorView w_gate;     // [hidden, dim]  (llama2.c w1, GGUF ffn_gate)
  TensorView w_down;     // [dim, hidden]  (llama2.c w2, GGUF ffn_down)
  TensorView w_up;       // [hidden, dim]  (llama2.c w3, GGUF ffn_up)
};

// Owns the bytes every TensorView points into. Norm weights are always f32.
struct ModelWeights {
  ModelConfig config;
  TensorView token_embedding;  // [vocab, dim]
  std::vector<LayerWeights> layers;
  TensorView output_norm;      // [dim] f32
  TensorView output;           // [vocab, dim]; equals token_embedding when tied

  // Storage keep-alive: the file mapping and any converted buffers.
  std::vector<std::shared_ptr<const void>> storage;

  // Total bytes of all weight tensors (a tied output counted once).
  int64_t bytes() const;
};

}  // namespace effitune::engine
