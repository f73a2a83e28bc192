// What the CUDA backend asks of a tensor-parallel communicator beyond Communicator: the residual
// update from every rank's partial product, which also applies the next RMSNorm (implemented by the
// p2p one-shot all-reduce in p2p_comm.cu).
#pragma once

#include <cstdint>

#include "device_types.cuh"
#include "effitune/engine/communicator.h"

namespace effitune::engine::cuda {

class NormingCommunicator : public Communicator {
 public:
  // Whether all_reduce_add takes a [rows, dim] message.
  virtual bool adds_partials(int32_t rows, int32_t dim) const = 0;
  // The residual update of a row-parallel projection: x[rows, dim] (the residual stream, the same on
  // every rank) += the sum over ranks of their partial[rows, dim] (type `part`), added in rank order
  // in f32, so every rank gets the same bits; with norm_w, also xn[rows, dim] = RMSNorm(x) * norm_w
  // in `act` (rmsnorm_kernel's formula), in the same kernel: the norm that follows every residual
  // all-reduce was a kernel per rank whose time did not shrink with the GPU count. Partials in the
  // activation type move half the bytes of f32 ones for 16-bit models; f32 partials give exactly
  // all_reduce_sum over (x + rank 0's partial, the other ranks' partials).
  // `prefetch`: up to `prefetch_bytes` of device memory (the next projection's weights) that the
  // kernel also pulls into L2 while it waits on the other ranks, when HBM would otherwise be idle.
  virtual Status all_reduce_add(const void* partial, ActType part, float* x, int32_t rows, int32_t dim,
                                const float* norm_w, float eps, ActType act, void* xn, void* stream,
                                const void* prefetch = nullptr, int64_t prefetch_bytes = 0) = 0;
  // Device memory (rows * dim f32 at most) where the projection before the next all_reduce_add may
  // write its partial product, so that the all-reduce need not copy it into place: pass the same
  // pointer as `partial`. The buffer alternates between two from one all_reduce_add call to the
  // next, so a CUDA graph must capture an even number of all_reduce_add calls (a decode step makes
  // two per layer) for its replays to keep alternating.
  virtual void* partial_buffer() = 0;
  // An error once an exchange on this rank gave up waiting for a peer (a watchdog in the spinning
  // kernels: a peer whose launch failed or whose host thread stalled no longer hangs the group); it
  // stays an error, since the staging slots are then out of step. Read it after the step's sync.
  virtual Status check() const { return {}; }
  // How long an exchange waits for a peer before giving up (EFFITUNE_TP_TIMEOUT_S, default 10 s);
  // for tests. Takes effect for later calls.
  virtual void set_exchange_timeout(double seconds) { (void)seconds; }
  // Whether the fused RMSNorm writes xn from each thread's registers where a row fits (on by
  // default) or from a second pass over the row: the same bits either way; for tests.
  virtual void set_norm_from_registers(bool on) { (void)on; }
  // Whether residual updates push partials into the peers' memory (the default) or pull them from
  // it (EFFITUNE_TP_PUSH=0): the same bits either way; for tests.
  virtual void set_push_exchange(bool on) { (void)on; }
  // Whether every residual update that can (pushed 16-bit partials with the norm from registers) is
  // two-shot (p2p_kernels.cu two_shot_rows: a reduce-scatter to the rows' owners, then their rounded
  // sums to every rank), at any group size, or none (false); by default only groups of 4 ranks or
  // more and updates of EFFITUNE_TP_TWO_SHOT_MIN_ROWS (8) rows or more are; for tests.
  virtual void set_two_shot(bool on) { (void)on; }
};

// The type row-parallel partials travel in for a model whose activations are `act`: bf16 for bf16
// models (half the bytes; vLLM and TensorRT-LLM all-reduce in the activation type too), f32 otherwise
// (an f16 partial could overflow where the f32 residual does not). EFFITUNE_TP_PARTIAL=f32 keeps f32
// for bf16 models too (A/B timing).
ActType tp_partial_type(ActType act);

}  // namespace effitune::engine::cuda
