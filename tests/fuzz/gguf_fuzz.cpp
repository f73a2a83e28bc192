// Fuzz target for the GGUF reader and the GGUF -> Llama weights builder. The input size picks a
// weight conversion so the dequantize/quantize paths run on fuzzed tensors too.
#include <cstddef>
#include <cstdint>
#include <memory>

#include "effitune/engine/gguf.h"
#include "effitune/engine/model_loader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace effitune::engine;
  auto file = GgufFile::parse(data, size, "fuzz.gguf");
  if (!file.ok()) return 0;
  for (const auto& t : (*file)->tensors()) {
    // Every tensor's bytes must lie inside the image: touch the first and last.
    volatile uint8_t first = static_cast<const uint8_t*>(t.data)[0];
    volatile uint8_t last = static_cast<const uint8_t*>(t.data)[t.n_bytes - 1];
    (void)first;
    (void)last;
  }
  LoadOptions options;
  static constexpr DType kTargets[] = {DType::kF32, DType::kQ8_0, DType::kQ4_0};
  if (size % 4 != 0) options.weight_type = kTargets[size % 4 - 1];
  auto weights = load_gguf_model(std::shared_ptr<const GgufFile>(std::move(file).value()), options);
  if (weights.ok()) {
    const ModelWeights& w = **weights;
    volatile int64_t bytes = w.bytes();
    (void)bytes;
  }
  return 0;
}
