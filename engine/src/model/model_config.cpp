#include "effitune/engine/model_config.h"
#include "effitune/engine/weights.h"

namespace effitune::engine {

int64_t ModelConfig::parameter_count() const {
  const int64_t d = dim, q = int64_t{n_heads} * head_dim(), kv = kv_dim(), f = hidden_dim;
  const int64_t per_layer = 2 * d           // attention and ffn norms
                            + q * d         // wq
                            + 2 * kv * d    // wk, wv
                            + d * q         // wo
                            + 3 * f * d;    // gate, up, down
  const int64_t embedding = int64_t{vocab_size} * d;
  return embedding + n_layers * per_layer + d + (tied_output ? 0 : embedding);
}

int64_t ModelWeights::bytes() const {
  int64_t total = token_embedding.bytes() + output_norm.bytes();
  if (output.data != token_embedding.data || output.rows != token_embedding.rows) total += output.bytes();
  for (const auto& l : layers) {
    for (const TensorView* t : {&l.attn_norm, &l.wq, &l.wk, &l.wv, &l.wo, &l.ffn_norm, &l.w_gate, &l.w_down, &l.w_up}) {
      total += t->bytes();
    }
  }
  return total;
}

}  // namespace effitune::engine
