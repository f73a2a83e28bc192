// Shapes of the random-weight models used by benchmarks (mission.md's engine anchors).
#include "effitune/engine/model_loader.h"

namespace effitune::engine {

std::optional<ModelConfig> synthetic_model_config(std::string_view name) {
  ModelConfig c;
  c.name = "synthetic:" + std::string(name);
  c.rms_eps = 1e-5f;
  c.bos_id = 1;
  c.eos_id = 2;
  if (name == "llama-1b") {  // Llama-3.2-1B
    c.dim = 2048, c.hidden_dim = 8192, c.n_layers = 16, c.n_heads = 32, c.n_kv_heads = 8;
    c.vocab_size = 128256, c.max_seq_len = 4096, c.rope_theta = 500000.0f, c.tied_output = true;
  } else if (name == "llama-8b") {  // Llama-3-8B
    c.dim = 4096, c.hidden_dim = 14336, c.n_layers = 32, c.n_heads = 32, c.n_kv_heads = 8;
    c.vocab_size = 128256, c.max_seq_len = 4096, c.rope_theta = 500000.0f, c.tied_output = false;
  } else if (name == "llama-8b-tp2-rank" || name == "llama-8b-tp4-rank") {
    // What one rank of Llama-3-8B computes under tensor parallelism 2 or 4 (its share of the heads,
    // of the FFN and of the vocabulary-parallel head), as a model of its own: run on one GPU it gives
    // a rank's compute without the exchanges, to take a TP step apart with one GPU's tools.
    const int32_t n = name == "llama-8b-tp2-rank" ? 2 : 4;
    c.dim = 4096, c.hidden_dim = 14336 / n, c.n_layers = 32, c.n_heads = 32 / n, c.n_kv_heads = 8 / n;
    c.head_dim_override = 128;
    c.vocab_size = 128256 / n, c.max_seq_len = 4096, c.rope_theta = 500000.0f, c.tied_output = false;
  } else if (name == "bench-134m") {  // the CPU anchor of mission.md (llama.cpp tg64/pp128 on 2 cores)
    c.dim = 768, c.hidden_dim = 2048, c.n_layers = 12, c.n_heads = 12, c.n_kv_heads = 12;
    c.vocab_size = 32000, c.max_seq_len = 2048, c.rope_theta = 10000.0f, c.tied_output = false;
  } else if (name == "tiny") {  // unit tests: every code path, milliseconds per token
    c.dim = 64, c.hidden_dim = 160, c.n_layers = 2, c.n_heads = 4, c.n_kv_heads = 2;
    c.vocab_size = 96, c.max_seq_len = 256, c.rope_theta = 10000.0f, c.tied_output = false;
  } else {
    return std::nullopt;
  }
  return c;
}

}  // namespace effitune::engine
