// The CUDA backend: owns the device weights, the paged KV storage, scratch buffers and the decode
// graphs; runs one Llama forward pass per call on its own stream.
#pragma once

#include <cuda_runtime.h>

#include <array>
#include <chrono>
#include <map>
#include <memory>
#include <vector>

#include "cuda_backend_factory.h"
#include "elementwise.cuh"
#include "gemm.cuh"
#include "sampling.cuh"
#include "weights.cuh"

namespace effitune::engine::cuda {

class NormingCommunicator;  // p2p_comm.h

// Device scratch for one step, sized for a number of tokens / logits rows / steps / splits.
struct StepShape {
  int64_t tokens = 0, rows = 0, steps = 0, splits = 1, meta_ints = 0;
};

class CudaBackend final : public Backend, public DeviceSampler, public GraphReplayShard {
 public:
  static Result<std::unique_ptr<Backend>> create(std::shared_ptr<const ModelWeights> weights,
                                                 const BackendOptions& options, const CudaBackendExtras& extras);
  ~CudaBackend() override;

  std::string name() const override { return "cuda"; }
  std::string device_name() const override { return device_name_; }
  std::string accelerator_model() const override { return device_name_; }
  Status forward(std::span<const SequenceStep> steps, std::vector<float>& logits) override;
  Status forward_greedy(std::span<const SequenceStep> steps, std::vector<int32_t>& tokens) override;
  // Defined in cuda_backend_sampling.cu.
  Status forward_sample(std::span<const SequenceStep> steps, std::span<const RowSampling> params,
                        std::vector<int32_t>& tokens) override;
  Status forward_topk(std::span<const SequenceStep> steps, int32_t k, std::vector<int32_t>& ids,
                      std::vector<float>& logprobs) override;
  void synchronize() override;
  // GraphReplayShard (tensor-parallel ranks).
  Status stage_greedy(std::span<const SequenceStep> steps, bool& replay) override;
  Status launch_staged() override;
  Status finish_greedy(std::span<const SequenceStep> steps, std::vector<int32_t>& tokens) override;
  bool routes_argmax_to_greedy() const override { return sample_argmax_route_; }
  void copy_block(int32_t src, int32_t dst) override;
  int64_t kv_bytes_per_block() const override { return kv_block_bytes_; }
  int64_t weight_bytes() const override { return model_->bytes(); }

 private:
  // Host-side description of one step: metadata offsets (in int32s) and counts.
  struct Plan {
    int32_t tokens = 0, steps = 0, rows = 0, tiles = 0, stride = 0, splits = 1, chunk = 64;
    int32_t live_splits = 1;  // decode: splits holding positions of the longest sequence (not in the graph key)
    bool decode = false;  // one token per step: the split-K decode attention
    int64_t off_tok = 0, off_pos = 0, off_seq = 0, off_len = 0, off_bt = 0, off_rows = 0, off_tiles = 0, ints = 0;
  };
  CudaBackend() = default;
  // One forward pass, launched after the step gate; `before` is the caller's own preparation (an
  // allocation), which the gate must hear of too: a rank may not return before it.
  Status run(std::span<const SequenceStep> steps, bool greedy, const Status& before = {});
  Status finish_step(const char* what);
  // Everything before the first launch: plan, workspace, metadata upload, and the step's graph,
  // returned in `exec`: for decode steps with CUDA graphs (cached per shape) and, under tensor
  // parallelism, for every step (one-shot; see run()). Null exec: run() enqueues kernel by kernel.
  // may_capture false (stage_greedy): a step that would capture its graph or grow the workspace
  // returns with a null exec and nothing enqueued but the metadata copy.
  Status prepare(std::span<const SequenceStep> steps, bool greedy, Plan& plan, cudaGraphExec_t& exec,
                 bool may_capture = true);
  // The tokens of a greedy step (copied back, stream synchronized): one per step.
  Status greedy_tokens(std::span<const SequenceStep> steps, std::vector<int32_t>& tokens);
  // The step's kernels captured into `out`: a new executable graph, or with `update` the existing
  // one updated in place when the topology allows (cudaGraphExecUpdate), else a new one.
  Status capture(const Plan& plan, bool greedy, cudaGraphExec_t& out, bool update);
  Status build_plan(std::span<const SequenceStep> steps, Plan& plan);
  Status ensure_workspace(const Plan& plan);
  Status enqueue(const Plan& plan, bool greedy);
  Status normed_matmul(const float* norm, const DeviceMatrix& w, int32_t rows, MatArgs a, bool normed, cudaStream_t s);
  // A row-parallel projection (O, down) of input x into the residual stream: where it writes its
  // product and how; then the all-reduce after it, which also writes RMSNorm(x) * next_norm to xn_
  // where the communicator can (then `normed`).
  MatArgs row_parallel(const Plan& plan, const void* x, int64_t ldx, MatIn in) const;
  Status end_partial_sum(const Plan& plan, const float* next_norm, const DeviceMatrix& next_w, bool& normed,
                         cudaStream_t s);
  // The communicator when this step's residual updates go through NormingCommunicator::all_reduce_add.
  NormingCommunicator* adder(const Plan& plan) const;

  std::shared_ptr<const ModelWeights> weights_;
  ModelConfig cfg_;
  BackendOptions options_;
  CudaBackendExtras extras_;
  std::string device_name_;
  cudaStream_t stream_ = nullptr;
  std::unique_ptr<DeviceModel> model_;
  MatmulContext mm_;
  ActType act_ = ActType::kF32;
  // EFFITUNE_CUDA_FUSE=0 turns the fused decode kernels off (A/B timing and bisecting).
  bool fuse_decode_ = true;
  // EFFITUNE_TP_GREEDY_KEYS=0: greedy steps with a vocab-parallel head all-reduce the logits instead
  // of exchanging argmax keys (A/B timing).
  bool tp_greedy_keys_ = true;
  bool sample_argmax_route_ = true;  // forward_sample with every row argmax runs forward_greedy
  ActType part_type_ = ActType::kF32;  // row-parallel partials for NormingCommunicator::all_reduce_add
  bool direct_partials_ = true;        // ... written into NormingCommunicator::partial_buffer
  int64_t tp_prefetch_bytes_ = 0;      // of the next projection, pulled into L2 by each residual update

  void* kv_ = nullptr;           // [layer][K|V][blocks + 1][block_size][kv_dim]
  int64_t kv_layer_bytes_ = 0;   // one layer's K (or V) over all blocks
  int64_t kv_block_bytes_ = 0;   // one block, K and V, all layers
  int32_t trash_block_ = 0;      // the extra block padded graph slots write into
  double* inv_freq_ = nullptr;

  void* ws_ = nullptr;  // scratch arena
  StepShape ws_cap_;
  int64_t ws_generation_ = 0;
  float* x_ = nullptr;
  void* xn_ = nullptr;
  void* part_ = nullptr;  // [tokens, dim] row-parallel partials when !direct_partials_
  void* qkv_ = nullptr;
  void* attn_ = nullptr;
  void* gu_ = nullptr;
  void* h_ = nullptr;
  void* sel_ = nullptr;
  float* logits_ = nullptr;
  int32_t* tokens_out_ = nullptr;
  unsigned long long* argmax_keys_ = nullptr;  // [rows] for the argmax fused into the head GEMV
  float* key_gather_ = nullptr;                // [ranks][rows][4]: tp_argmax.cuh
  float* part_o_ = nullptr;
  float* part_ml_ = nullptr;
  int32_t* meta_ = nullptr;
  int32_t* meta_host_ = nullptr;  // pinned
  int32_t* tokens_host_ = nullptr;  // pinned, after meta_host_'s ints: greedy_tokens' copy back
  SamplingBuffers sampling_;      // forward_sample / forward_topk

  // Executable step graphs, keyed by everything a step's launches take from the host (its plan and
  // whether greedy; the rest is device data: meta_, weights, KV): equal keys replay one graph.
  // Decode steps have a few shapes (batch buckets); non-decode ones (tensor parallelism only) many,
  // so at most kMaxStepGraphs of those are kept and a new shape takes over the least recently used
  // one's executable graph, updated in place.
  using GraphKey = std::array<int64_t, 17>;
  static GraphKey graph_key(const Plan& p, bool greedy);
  struct Graph {
    cudaGraphExec_t exec = nullptr;
    int64_t generation = 0;  // ws_generation_ when captured
    uint64_t last_use = 0;
    bool decode = false;
  };
  static constexpr int32_t kMaxStepGraphs = 16;
  std::map<GraphKey, Graph> graphs_;
  uint64_t graph_uses_ = 0;

  // EFFITUNE_TP_PROFILE (TP=1 too, for comparison): this rank's host time per decode step that
  // replayed a graph (no capture), seconds summed (printed when the backend goes): preparing (plan,
  // metadata copy), the two step gates, the launch, the step's end (results copied back, stream
  // synchronized) and the time outside the backend before the step (the engine, the rank threads).
  struct HostProfile {
    double prepare = 0, gate1 = 0, launch = 0, gate2 = 0, finish = 0, outside = 0;
    int64_t steps = 0;
    std::chrono::steady_clock::time_point run_end{}, last_end{};
    bool captured = false, counted = false;  // of the step in progress
  };
  std::unique_ptr<HostProfile> host_prof_;
  // Profile bookkeeping of a decode step that replayed a graph, from the time `t` run() or
  // stage_greedy started (`lapped`: its prepare, gate and launch times so far).
  void profile_replay(const HostProfile& lapped, std::chrono::steady_clock::time_point t);
  cudaGraphExec_t staged_exec_ = nullptr;  // stage_greedy's graph, for launch_staged
  HostProfile staged_lap_;                 // its profile times (prepare, outside), when profiling
};

}  // namespace effitune::engine::cuda
