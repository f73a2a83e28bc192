#include "common.cuh"
#include "tp_argmax.cuh"

namespace effitune::engine::cuda {
namespace {

__global__ void keys_to_gather_kernel(unsigned long long* keys, int32_t rows, int32_t rank, int32_t n, int64_t col0,
                                      float* gather) {
  pdl_trigger();
  pdl_wait();
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;  // (q, r)
  if (i >= static_cast<int64_t>(n) * rows) return;
  const int32_t q = static_cast<int32_t>(i / rows), r = static_cast<int32_t>(i % rows);
  float4 out = make_float4(0.f, 0.f, 0.f, 0.f);
  if (q == rank) {
    unsigned long long key = keys[r];
    // Low half: the complemented local index; as a global id it is ~(local + col0).
    const uint32_t local = ~static_cast<uint32_t>(key & 0xFFFFFFFFull);
    key = (key & 0xFFFFFFFF00000000ull) | (~static_cast<uint32_t>(local + static_cast<uint32_t>(col0)));
    out = make_float4(static_cast<float>(key & 0xFFFF), static_cast<float>((key >> 16) & 0xFFFF),
                      static_cast<float>((key >> 32) & 0xFFFF), static_cast<float>(key >> 48));
    keys[r] = 0;
  }
  reinterpret_cast<float4*>(gather)[i] = out;
}

__global__ void gather_to_tokens_kernel(const float* gather, int32_t rows, int32_t n, int32_t* out) {
  pdl_trigger();
  pdl_wait();
  const int32_t r = static_cast<int32_t>(blockIdx.x * blockDim.x + threadIdx.x);
  if (r >= rows) return;
  unsigned long long best = 0;
  for (int32_t q = 0; q < n; ++q) {
    const float4 p = reinterpret_cast<const float4*>(gather)[static_cast<int64_t>(q) * rows + r];
    const unsigned long long key = static_cast<unsigned long long>(p.x) | (static_cast<unsigned long long>(p.y) << 16) |
                                   (static_cast<unsigned long long>(p.z) << 32) |
                                   (static_cast<unsigned long long>(p.w) << 48);
    best = max(best, key);
  }
  out[r] = static_cast<int32_t>(~static_cast<uint32_t>(best & 0xFFFFFFFFull));
}

}  // namespace

void launch_keys_to_gather(unsigned long long* keys, int32_t rows, int32_t rank, int32_t n, int64_t col0,
                           float* gather, cudaStream_t s) {
  const int64_t items = static_cast<int64_t>(rows) * n;
  if (items > 0)
    launch_pdl(keys_to_gather_kernel, static_cast<unsigned>(ceil_div(items, 256)), 256, 0, s, keys, rows, rank, n, col0,
               gather);
}

void launch_gather_to_tokens(const float* gather, int32_t rows, int32_t n, int32_t* out, cudaStream_t s) {
  if (rows > 0) launch_pdl(gather_to_tokens_kernel, static_cast<unsigned>(ceil_div(rows, 128)), 128, 0, s, gather, rows, n, out);
}

}  // namespace effitune::engine::cuda
