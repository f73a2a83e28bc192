#include <cfloat>

#include "common.cuh"
#include "sampling.cuh"

namespace effitune::engine::cuda {
namespace {

__device__ __forceinline__ void better(float& v, int& i, float ov, int oi) {
  if (ov > v || (ov == v && oi < i)) {
    v = ov;
    i = oi;
  }
}

__global__ void argmax_kernel(const float* logits, int32_t vocab, int32_t* out) {
  __shared__ float sv[32];
  __shared__ int si[32];
  const float* row = logits + static_cast<int64_t>(blockIdx.x) * vocab;
  float v = -FLT_MAX;
  int idx = vocab;
  for (int i = threadIdx.x; i < vocab; i += blockDim.x) better(v, idx, row[i], i);
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) better(v, idx, __shfl_xor_sync(0xffffffffu, v, o), __shfl_xor_sync(0xffffffffu, idx, o));
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) {
    sv[warp] = v;
    si[warp] = idx;
  }
  __syncthreads();
  if (warp != 0) return;
  v = lane < static_cast<int>(blockDim.x >> 5) ? sv[lane] : -FLT_MAX;
  idx = lane < static_cast<int>(blockDim.x >> 5) ? si[lane] : vocab;
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) better(v, idx, __shfl_xor_sync(0xffffffffu, v, o), __shfl_xor_sync(0xffffffffu, idx, o));
  if (lane == 0) out[blockIdx.x] = idx < vocab ? idx : 0;
}

}  // namespace

void launch_argmax(const float* logits, int32_t rows, int32_t vocab, int32_t* out, cudaStream_t s) {
  if (rows > 0) argmax_kernel<<<rows, 1024, 0, s>>>(logits, vocab, out);
}

}  // namespace effitune::engine::cuda
