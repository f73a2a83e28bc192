// Helpers shared by the GGUF model builder and the random model: owned weight buffers, row-parallel
// loops, type conversion and the config sanity checks every Llama model must pass.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "effitune/common/status.h"
#include "effitune/engine/weights.h"

namespace effitune::engine::model_detail {

// Largest values accepted from any model file: far above real models (Llama-3 405B: d=16384,
// ff=53248, 126 layers, vocab 128256), small enough that every product of two stays below 2^62.
constexpr int64_t kMaxDim = 1 << 16;
constexpr int64_t kMaxHidden = 1 << 18;
constexpr int64_t kMaxLayers = 1 << 10;
constexpr int64_t kMaxVocab = 1 << 22;
constexpr int64_t kMaxSeqLen = 1 << 24;

// An uninitialised 64-byte aligned buffer of `bytes` (callers overwrite all of it; zeroing 16 GB
// of an 8B model first would double the cost), freed when the last shared_ptr goes.
// Returns nullptr when the allocation fails.
std::shared_ptr<void> alloc_buffer(size_t bytes);

// Calls fn(begin, end) over [0, n) split into chunks on up to hardware_concurrency threads;
// small jobs (n * cost_per_item < ~1M) run inline on the caller.
void parallel_for(int64_t n, int64_t cost_per_item, const std::function<void(int64_t, int64_t)>& fn);

// Checks the shape fields of `c` (positive, within the limits above, heads divide dim, kv heads
// divide heads, even head_dim). `name` prefixes messages. kInvalidArgument on failure.
Status validate_config(const ModelConfig& c, const std::string& name);

// Converts `src` to `type` into a new buffer appended to `storage`. Rows whose length is not a
// multiple of the type's block size fall back to f16 (as llama.cpp's quantizer does), matching the
// llama2.c loader. Returns kResourceExhausted when the buffer cannot be allocated.
Result<TensorView> convert_view(const TensorView& src, DType type, std::vector<std::shared_ptr<const void>>& storage,
                                const std::string& what);

}  // namespace effitune::engine::model_detail
