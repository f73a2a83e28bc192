// The CPU reference backend: the Llama forward pass over a batch of sequences, f32 activations and
// accumulation, weights used in their stored type, K/V in f32 paged blocks in host memory.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "effitune/engine/backend.h"
#include "effitune/engine/communicator.h"
#include "attention.h"
#include "matmul.h"
#include "packed.h"
#include "thread_pool.h"

namespace effitune::engine::cpu {

class CpuBackend final : public Backend {
 public:
  // kInvalidArgument for a bad knob or a weight type the kernels lack; kResourceExhausted when the
  // KV storage does not fit in the memory available now (checked before allocating). With `comm`
  // (not owned; outlives the backend) the weights are one tensor-parallel shard (tp/shard.h) and the
  // attention-output and down projections are summed over the ranks.
  static Result<std::unique_ptr<CpuBackend>> create(std::shared_ptr<const ModelWeights> weights,
                                                    const BackendOptions& options, Communicator* comm = nullptr);

  std::string name() const override { return "cpu"; }
  std::string device_name() const override;
  Status forward(std::span<const SequenceStep> steps, std::vector<float>& logits) override;
  void copy_block(int32_t src, int32_t dst) override;
  int64_t kv_bytes_per_block() const override;
  int64_t weight_bytes() const override;

 private:
  CpuBackend(std::shared_ptr<const ModelWeights> weights, const BackendOptions& options, KvLayout layout);
  Status validate(std::span<const SequenceStep> steps) const;
  void attention_layer(int32_t layer, std::span<const SequenceStep> steps);
  // Repacks every q8_0/q4_0 projection for the interleaved kernels (packed.h) when this build has
  // them; the environment variable EFFITUNE_CPU_NO_REPACK=1 keeps the row-major kernels (A/B timing).
  void pack_weights();

  // The repacked copies of one layer's projections; empty (rows() == 0) when not packed.
  struct PackedLayer {
    PackedMatrix wq, wk, wv, wo, gate, up, down;
  };

  std::shared_ptr<const ModelWeights> weights_;
  BackendOptions options_;
  Communicator* comm_ = nullptr;
  KvLayout layout_;
  ThreadPool pool_;
  std::unique_ptr<float[]> k_cache_;
  std::unique_ptr<float[]> v_cache_;
  std::vector<PackedLayer> packed_;
  PackedMatrix packed_output_;
  struct FreeArena {
    void operator()(uint8_t* p) const { std::free(p); }
  };
  std::unique_ptr<uint8_t[], FreeArena> packed_arena_;  // every PackedMatrix above points into it

  // Per-token bookkeeping and activations of the current step, reused across calls.
  std::vector<int32_t> tok_pos_, tok_step_;
  std::vector<float> rope_cs_;
  std::vector<float> x_, xn_, q_, k_, v_, att_, tmp_, gate_, up_;
  std::vector<float> scores_;  // [threads][max positions]
  std::vector<ActBlockQ8> q8_;
};

}  // namespace effitune::engine::cpu
