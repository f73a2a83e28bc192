// What the CUDA backend asks of a tensor-parallel communicator beyond Communicator: the residual
// all-reduce that also applies the next RMSNorm (implemented by the p2p one-shot all-reduce in
// p2p_comm.cu).
#pragma once

#include <cstdint>

#include "device_types.cuh"
#include "effitune/engine/communicator.h"

namespace effitune::engine::cuda {

class NormingCommunicator : public Communicator {
 public:
  // Whether all_reduce_rmsnorm takes a [rows, dim] message.
  virtual bool fuses_rmsnorm(int32_t rows, int32_t dim) const = 0;
  // x[rows, dim] becomes the sum over ranks, exactly as all_reduce_sum leaves it, and xn[rows, dim]
  // = RMSNorm(x) * norm_w in `act` (rmsnorm_kernel's formula), in the same kernel: the norm that
  // follows every residual all-reduce was a kernel per rank whose time did not shrink with the GPU
  // count. Every rank gets the same bits in both.
  virtual Status all_reduce_rmsnorm(float* x, int32_t rows, int32_t dim, const float* norm_w, float eps, ActType act,
                                    void* xn, void* stream) = 0;
};

}  // namespace effitune::engine::cuda
