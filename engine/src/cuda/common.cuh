// Shared device helpers: error checks, element conversions, 16-byte loads, warp reductions.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <type_traits>

#include "effitune/common/status.h"

namespace effitune::engine::cuda {

inline Status cuda_status(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return {};
  if (e == cudaErrorMemoryAllocation)
    return resource_exhausted(std::string(what) + ": out of device memory (" + cudaGetErrorString(e) + ")");
  return internal_error(std::string(what) + ": " + cudaGetErrorString(e));
}

#define CUDA_RETURN_IF_ERROR(expr) EFFITUNE_RETURN_IF_ERROR(::effitune::engine::cuda::cuda_status((expr), #expr))
// Checks the last launch error (launches are asynchronous; this catches bad configurations).
#define CUDA_RETURN_IF_LAUNCH_ERROR(what) \
  EFFITUNE_RETURN_IF_ERROR(::effitune::engine::cuda::cuda_status(cudaGetLastError(), what))

// Element conversions for the three activation types.
__device__ __forceinline__ float to_f32(float v) { return v; }
__device__ __forceinline__ float to_f32(__half v) { return __half2float(v); }
__device__ __forceinline__ float to_f32(__nv_bfloat16 v) { return __bfloat162float(v); }
template <typename T> __device__ __forceinline__ T from_f32(float v);
template <> __device__ __forceinline__ float from_f32<float>(float v) { return v; }
template <> __device__ __forceinline__ __half from_f32<__half>(float v) { return __float2half_rn(v); }
template <> __device__ __forceinline__ __nv_bfloat16 from_f32<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }

// 16-byte streaming load that skips L1: weights are read exactly once per step.
__device__ __forceinline__ uint4 ld_stream16(const void* p) {
  uint4 r;
  asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0,%1,%2,%3}, [%4];"
               : "=r"(r.x), "=r"(r.y), "=r"(r.z), "=r"(r.w)
               : "l"(p));
  return r;
}

// The same for 8 bytes.
__device__ __forceinline__ uint2 ld_stream8(const void* p) {
  uint2 r;
  asm volatile("ld.global.nc.L1::no_allocate.v2.u32 {%0,%1}, [%2];" : "=r"(r.x), "=r"(r.y) : "l"(p));
  return r;
}

// Two floats rounded to a 16-bit pair (bf16 or f16), as one 32-bit word: x in the low half.
template <typename T>
__device__ __forceinline__ uint32_t pack2(float x, float y) {
  uint32_t u;
  if constexpr (std::is_same_v<T, __nv_bfloat16>) {
    const __nv_bfloat162 h = __floats2bfloat162_rn(x, y);
    memcpy(&u, &h, 4);
  } else {
    const __half2 h = __floats2half2_rn(x, y);
    memcpy(&u, &h, 4);
  }
  return u;
}

// Unpacks 16 bytes into floats: 8 bf16, 8 f16 or 4 f32.
__device__ __forceinline__ void unpack16(uint4 v, __nv_bfloat16, float* out) {
  const __nv_bfloat162* h = reinterpret_cast<const __nv_bfloat162*>(&v);
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    float2 f = __bfloat1622float2(h[i]);
    out[2 * i] = f.x;
    out[2 * i + 1] = f.y;
  }
}
__device__ __forceinline__ void unpack16(uint4 v, __half, float* out) {
  const __half2* h = reinterpret_cast<const __half2*>(&v);
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    float2 f = __half22float2(h[i]);
    out[2 * i] = f.x;
    out[2 * i + 1] = f.y;
  }
}
__device__ __forceinline__ void unpack16(uint4 v, float, float* out) {
  out[0] = __uint_as_float(v.x);
  out[1] = __uint_as_float(v.y);
  out[2] = __uint_as_float(v.z);
  out[3] = __uint_as_float(v.w);
}

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// Block-wide sum for blockDim.x a multiple of 32 (<= 1024); every thread gets the result.
__device__ __forceinline__ float block_sum(float v, float* scratch32) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
  v = warp_sum(v);
  __syncthreads();
  if (lane == 0) scratch32[warp] = v;
  __syncthreads();
  float r = lane < nw ? scratch32[lane] : 0.0f;
  return warp_sum(r);
}

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Multiprocessors of the current device, read once per device (launch geometry of the persistent
// and split kernels): the ranks of a tensor-parallel group are one per device, and nothing here
// assumes the devices alike. A racing first call stores the same value twice.
inline int sm_count() {
  constexpr int kMaxDevices = 64;
  static int counts[kMaxDevices] = {};
  int dev = 0;
  cudaGetDevice(&dev);
  if (dev < 0 || dev >= kMaxDevices) dev = 0;
  if (counts[dev] == 0) {
    int v = 0;
    cudaDeviceGetAttribute(&v, cudaDevAttrMultiProcessorCount, dev);
    counts[dev] = v > 0 ? v : 1;
  }
  return counts[dev];
}

// 16 bytes global -> shared without registers (zeros when !valid; src must still be a valid address).
__device__ __forceinline__ void cp_async16(uint32_t dst, const void* src, bool valid) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(valid ? 16 : 0));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
// Waits until at most n committed groups are pending (wait_group takes an immediate: n 0..6).
__device__ __forceinline__ void cp_async_wait(int n) {
  switch (n) {
    case 0: asm volatile("cp.async.wait_group 0;\n" ::); break;
    case 1: asm volatile("cp.async.wait_group 1;\n" ::); break;
    case 2: asm volatile("cp.async.wait_group 2;\n" ::); break;
    case 3: asm volatile("cp.async.wait_group 3;\n" ::); break;
    case 4: asm volatile("cp.async.wait_group 4;\n" ::); break;
    case 5: asm volatile("cp.async.wait_group 5;\n" ::); break;
    default: asm volatile("cp.async.wait_group 6;\n" ::); break;
  }
}

// Lets `kernel` take up to `bytes` of dynamic shared memory on the current device, once per device:
// `raised` (one static per kernel at the call site) has a bit per device where that is done, so the
// launches after the first cost a cudaGetDevice and a load. cudaFuncSetAttribute applies to the
// current device only: raised once per process, a kernel failed to launch on every device but the
// first, and under tensor parallelism the ranks whose launch succeeded then waited forever on the
// failed rank's partial (session 7: every quantized streaming GEMM at TP=2 hung).
inline cudaError_t raise_dynamic_smem(const void* kernel, int bytes, std::atomic<uint64_t>& raised) {
  int dev = 0;
  if (cudaError_t e = cudaGetDevice(&dev); e != cudaSuccess) return e;
  const uint64_t bit = dev >= 0 && dev < 64 ? uint64_t{1} << dev : 0;
  if (bit != 0 && (raised.load(std::memory_order_relaxed) & bit) != 0) return cudaSuccess;
  const cudaError_t e = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes);
  if (e == cudaSuccess) raised.fetch_or(bit, std::memory_order_relaxed);
  return e;
}

// Programmatic dependent launch (sm_90). A decode step is ~10 small kernels per layer, and at batch 1
// each boundary used to cost the drain of one grid plus the launch and ramp-up of the next. With
// launch_pdl the next kernel's CTAs are launched as soon as every CTA of the running one has called
// pdl_trigger(), and wait in pdl_wait() until it has completed and its writes are visible: a kernel
// may do independent work first (the GEMVs issue their first weight loads), but must call
// pdl_wait() before it reads what an earlier kernel wrote or writes what one reads. Every kernel
// launched with launch_pdl calls pdl_wait() in every CTA before it exits, so completion stays
// transitive along the stream. EFFITUNE_CUDA_PDL=0 launches normally (A/B timing).
__device__ __forceinline__ void pdl_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}
__device__ __forceinline__ void pdl_trigger() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

// An engine switch: -1 when the variable is unset or empty, 0 when it is "0", else 1.
inline int env_tristate(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return -1;
  return std::strcmp(v, "0") != 0 ? 1 : 0;
}

inline bool env_flag(const char* name, bool fallback) {
  const int v = env_tristate(name);
  return v < 0 ? fallback : v == 1;
}

inline bool pdl_enabled() {
  static const bool on = env_flag("EFFITUNE_CUDA_PDL", true);
  return on;
}

// Launches `kernel` on `s`, allowed to overlap the tail of the previous kernel (see pdl_wait).
// Errors surface through cudaGetLastError like a <<<>>> launch.
template <typename... Params, typename... Args>
void launch_pdl(void (*kernel)(Params...), dim3 grid, dim3 block, size_t smem, cudaStream_t s, Args... args) {
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[0].val.programmaticStreamSerializationAllowed = 1;
  cudaLaunchConfig_t cfg{};
  cfg.gridDim = grid;
  cfg.blockDim = block;
  cfg.dynamicSmemBytes = smem;
  cfg.stream = s;
  cfg.attrs = attr;
  cfg.numAttrs = pdl_enabled() ? 1 : 0;
  cudaLaunchKernelEx(&cfg, kernel, static_cast<Params>(args)...);
}

}  // namespace effitune::engine::cuda
