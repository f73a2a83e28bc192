// The CUDA backend's entry points for the backend registry, the one place outside src/cuda/ that
// knows CUDA exists. Implemented in src/cuda/ (cuda_fallback.cpp in builds without nvcc).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "effitune/engine/backend.h"
#include "effitune/engine/communicator.h"
#include "effitune/engine/sampling.h"

namespace effitune::engine {

// CUDA-only knobs that BackendOptions does not carry.
struct CudaBackendExtras {
  bool cuda_graphs = true;      // capture decode steps in CUDA graphs
  bool random_weights = false;  // fill device weights from `seed` on the GPU instead of uploading
  uint64_t seed = 0;
  // Set by the tensor-parallel backend: the weights are this rank's shard, and the attention-output
  // and down projections are summed over the group. Not owned.
  Communicator* comm = nullptr;
  // Set by the tensor-parallel backend: every rank calls it twice per step, with whether it prepared
  // the step (before its launch) and whether it launched (after); it returns whether every rank did
  // (see CudaBackend::run).
  std::function<bool(bool ready)> step_gate;
};

// A backend that can pick greedy tokens on the device, returning ids instead of logits.
class DeviceGreedy {
 public:
  virtual ~DeviceGreedy() = default;
  // One token id per logits row the same steps would produce in forward().
  virtual Status forward_greedy(std::span<const SequenceStep> steps, std::vector<int32_t>& tokens) = 0;
  // Waits for all queued device work.
  virtual void synchronize() = 0;
};

// A backend that also samples on the device (greedy, temperature / top-k / top-p, and the top-k
// log-probabilities beam search needs), so that only ids and a few floats cross the bus.
class DeviceSampler : public DeviceGreedy {
 public:
  // False when forward_sample / forward_topk would return kUnimplemented (a tensor-parallel group of
  // CPU shards).
  virtual bool samples_on_device() const { return true; }
  // One token per step, drawn from the row of its last token with params[i] (RowSampling in
  // effitune/engine/sampling.h; one per step). kInvalidArgument for a size mismatch or a bad knob.
  virtual Status forward_sample(std::span<const SequenceStep> steps, std::span<const RowSampling> params,
                                std::vector<int32_t>& tokens) = 0;
  // The k (1..128, <= vocab) largest log-softmax values of each step's last row, descending (lower
  // id first on ties): ids and logprobs get steps.size() x k entries.
  virtual Status forward_topk(std::span<const SequenceStep> steps, int32_t k, std::vector<int32_t>& ids,
                              std::vector<float>& logprobs) = 0;
};

// A CUDA rank of a tensor-parallel group whose greedy step can be driven from the caller's thread
// when it replays a graph already captured: the group stages every rank, launches every rank, then
// finishes every rank, instead of waking one thread per rank and meeting them twice a step (the host
// overhead of tensor parallelism: bench/README.md, session 10). Launching every rank before any call
// that can wait for a device keeps the rule of CudaBackend::run: a peer's exchange spins until all
// have launched.
class GraphReplayShard {
 public:
  virtual ~GraphReplayShard() = default;
  // The host work of a greedy step up to its launch (plan, metadata copy) when it replays a graph
  // already captured for its shape: replay = true. replay = false when it would capture or grow its
  // workspace: nothing was launched, and the caller runs the step the usual way. An error: nothing
  // was launched either.
  virtual Status stage_greedy(std::span<const SequenceStep> steps, bool& replay) = 0;
  // Launches the staged graph.
  virtual Status launch_staged() = 0;
  // After every rank's launch: the tokens copied back (one per step) and the stream synchronized.
  virtual Status finish_greedy(std::span<const SequenceStep> steps, std::vector<int32_t>& tokens) = 0;
  // Whether forward_sample takes the greedy path when every row is argmax (EFFITUNE_SAMPLE_GREEDY_ROUTE).
  virtual bool routes_argmax_to_greedy() const = 0;
};

// Creates the CUDA backend (contract of make_backend: kUnavailable when no device exists,
// kResourceExhausted when weights + KV cache do not fit on the device, kInvalidArgument for a bad knob).
// gpu_count > 1 builds the tensor-parallel backend over devices device .. device + gpu_count - 1.
Result<std::unique_ptr<Backend>> make_cuda_backend(std::shared_ptr<const ModelWeights> weights,
                                                   const BackendOptions& options);
Result<std::unique_ptr<Backend>> make_cuda_backend(std::shared_ptr<const ModelWeights> weights,
                                                   const BackendOptions& options, const CudaBackendExtras& extras);

// True when at least one CUDA device can be used by this process.
bool cuda_backend_available();
// CUDA devices visible to this process (0 without CUDA).
int32_t cuda_device_count();

// One NCCL communicator per device first_device .. first_device + n - 1, for one thread each,
// through libnccl.so.2 loaded at run time (EFFITUNE_NCCL_LIBRARY names another path). Sets
// NCCL_NVLS_ENABLE=0 first: NVLink multicast can take a shared host's GPUs out of service.
// kUnavailable without CUDA or NCCL.
Result<std::vector<std::unique_ptr<Communicator>>> make_nccl_group(int32_t first_device, int32_t n);
// The tensor-parallel backend's group: NCCL, plus (when every pair of devices has peer access) a
// one-shot peer-to-peer all-reduce for messages up to 8 MiB (p2p_comm.cu), which is what decode
// sends. EFFITUNE_TP_ALLREDUCE=nccl keeps NCCL for everything (A/B timing).
Result<std::vector<std::unique_ptr<Communicator>>> make_cuda_tp_group(int32_t first_device, int32_t n);
// Seconds per all-reduce of `count` floats over those devices through make_cuda_tp_group (eager
// launches, the slowest rank, after a warm-up): the communication cost of one tensor-parallel projection.
Result<double> cuda_all_reduce_seconds(int32_t first_device, int32_t n, int64_t count, int32_t reps);
// The same for the residual update that decode steps of up to 256 rows use instead (p2p_comm.h
// all_reduce_add with the next RMSNorm; [rows, dim] partials in the type the backend picks for bf16
// or f32 activations); kUnavailable without peer access.
Result<double> cuda_residual_add_seconds(int32_t first_device, int32_t n, int32_t rows, int32_t dim,
                                         bool bf16_activations, int32_t reps);

// Device-to-device copy bandwidth of `device` in bytes/s (bytes read + written), measured once with
// 1 GiB copies: the roofline of memory-bound decode. 0 without CUDA.
double cuda_measured_copy_bandwidth(int32_t device);

}  // namespace effitune::engine
