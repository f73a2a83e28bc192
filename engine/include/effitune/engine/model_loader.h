// Loads a Llama-architecture model from a GGUF file or a llama2.c checkpoint.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "effitune/common/status.h"
#include "effitune/engine/dtype.h"
#include "effitune/engine/weights.h"

namespace effitune::engine {

struct LoadOptions {
  // When set, every 2-D projection (and the embedding/output) whose stored type differs is converted
  // once at load to this type: the quantization knob. Norms stay f32.
  std::optional<DType> weight_type;
};

// Detects the format by magic ("GGUF" or a llama2.c header) and loads it. GGUF weights are used in
// place from the mapping when no conversion is needed. Returns kNotFound for a missing file,
// kInvalidArgument/kDataLoss for malformed files (naming the file and field), kUnimplemented for a
// non-Llama architecture or an unsupported tensor type.
Result<std::shared_ptr<const ModelWeights>> load_model(const std::string& path, const LoadOptions& options = {});

class GgufFile;
// Builds Llama weights from a parsed GGUF (load_model's GGUF path; also used by tests and the fuzz
// target). The weights keep `file` (and so its mapping) alive. Same errors as load_model.
Result<std::shared_ptr<const ModelWeights>> load_gguf_model(std::shared_ptr<const GgufFile> file,
                                                            const LoadOptions& options = {});

// llama2.c legacy (version 0) checkpoint; exposed for tests and the fuzz target.
Result<std::shared_ptr<const ModelWeights>> load_llama2c(const std::string& path, const LoadOptions& options = {});
Result<std::shared_ptr<const ModelWeights>> parse_llama2c(const void* data, size_t size, const std::string& name,
                                                          const LoadOptions& options = {});

// The shapes of the synthetic models ("llama-1b", "llama-8b", "bench-134m", "tiny"); nullopt for others.
std::optional<ModelConfig> synthetic_model_config(std::string_view name);

// Builds a random-weight model of `config` directly in memory (synthetic:llama-1b etc.), in `type`.
// Weights are drawn from a seeded normal scaled like a trained model (std 0.02).
Result<std::shared_ptr<const ModelWeights>> make_random_model(const ModelConfig& config, DType type, uint64_t seed);

}  // namespace effitune::engine
