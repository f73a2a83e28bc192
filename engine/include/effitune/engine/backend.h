// A compute backend runs the Llama forward pass over a batch of sequences whose K/V live in the
// backend's paged block storage. The CPU backend is the reference; CUDA registers itself when built.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "effitune/common/status.h"
#include "effitune/engine/communicator.h"
#include "effitune/engine/weights.h"

namespace effitune::engine {

// One sequence's share of a forward step.
struct SequenceStep {
  std::span<const int32_t> tokens;       // new tokens, appended at positions start_pos.. (>= 1)
  int32_t start_pos = 0;                 // tokens already in the cache for this sequence
  std::span<const int32_t> block_table;  // covers start_pos + tokens.size() positions
  bool all_logits = false;               // logits for every new token (teacher forcing), else the last only
};

struct BackendOptions {
  std::string kind = "cpu";  // "cpu" or "cuda"
  int32_t threads = 0;       // CPU threads; 0 = hardware concurrency
  int32_t device = 0;        // CUDA device ordinal
  int32_t gpu_count = 1;     // tensor-parallel degree
  int32_t kv_block_size = 16;
  int32_t kv_blocks = 0;     // blocks of storage to allocate
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;         // "cpu", "cuda"
  virtual std::string device_name() const = 0;  // e.g. "2-core x86_64" or "NVIDIA H200"
  // The accelerator model one GPU of this backend is (what a GPU-hour price is keyed by), e.g.
  // "NVIDIA H100 80GB HBM3"; "" for the CPU.
  virtual std::string accelerator_model() const { return ""; }
  // Runs the steps as one batch, writing K/V for the new tokens into their blocks. `logits` is
  // resized to (sum over steps of (all_logits ? tokens.size() : 1)) x vocab, rows in step order.
  // Returns kInvalidArgument for a token id out of range or a block table too short.
  virtual Status forward(std::span<const SequenceStep> steps, std::vector<float>& logits) = 0;
  // Copies block `src`'s K/V (all layers) to `dst` (copy-on-write for forks).
  virtual void copy_block(int32_t src, int32_t dst) = 0;
  // Bytes of one block's K and V over all layers.
  virtual int64_t kv_bytes_per_block() const = 0;
  // Bytes of weights held by the backend (device copies for GPUs).
  virtual int64_t weight_bytes() const = 0;
  // Tensor parallelism only (calls 0 otherwise): Communicator::start_timing on every rank, and rank
  // 0's Communicator::timing (effitune bench --collective-timing: the all-reduce time per step).
  virtual void start_collective_timing() {}
  virtual CollectiveTime collective_timing() const { return {}; }
};

// Creates the backend `options.kind` for `weights`. kInvalidArgument for an unknown kind or a
// bad knob, kUnavailable when CUDA is not compiled in or no device exists, kResourceExhausted when
// weights + KV cache do not fit (checked before allocating).
Result<std::unique_ptr<Backend>> make_backend(std::shared_ptr<const ModelWeights> weights, const BackendOptions& options);

// Whether a backend kind is compiled in and usable here (a CUDA build with no GPU says false).
bool backend_available(const std::string& kind);

}  // namespace effitune::engine
