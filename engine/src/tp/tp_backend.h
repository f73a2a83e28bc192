// The tensor-parallel backend: N shard backends (one per GPU, or per thread group on the CPU) that
// run every forward step together, one host thread per rank, and sum through a Communicator. A CUDA
// group's greedy decode steps that replay captured graphs run from the caller's thread instead
// (GraphReplayShard in cuda/cuda_backend_factory.h): the rank threads' meetings cost more host time
// than preparing and launching every rank in turn.
//
// Threads, not processes: the scheduler, the KV block manager and the HTTP server stay single
// instances in one address space, token ids and logits need no IPC, and NCCL's single-process
// ncclCommInitAll sets the group up without a rendezvous. The cost is that a fault on one GPU ends
// the whole engine, which the tuner already isolates in a child process per trial.
#pragma once

#include <cstdint>
#include <memory>

#include "cuda/cuda_backend_factory.h"
#include "effitune/engine/backend.h"

namespace effitune::engine::tp {

// Validates options.gpu_count against the model (tp/shard.h check_degree) and, for CUDA, against the
// visible devices, before anything is allocated; then builds the shards on devices
// options.device .. options.device + gpu_count - 1. Rank 0's logits (the LM head is replicated) are
// the step's result. KV blocks hold each rank's KV heads; kv_bytes_per_block() sums the ranks.
// `cuda` carries the CUDA-only knobs (rank r's random weights use seed + r).
Result<std::unique_ptr<Backend>> make_tensor_parallel_backend(std::shared_ptr<const ModelWeights> weights,
                                                              const BackendOptions& options,
                                                              const CudaBackendExtras& cuda = {});

// Greedy steps a tensor-parallel backend ran from the caller's thread (graph replays of CUDA
// ranks); 0 for any other backend. For tests.
int64_t replayed_steps(const Backend& b);

}  // namespace effitune::engine::tp
