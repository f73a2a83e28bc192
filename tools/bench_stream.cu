// The streaming-read floor of a kernel on this GPU: how long a kernel that only reads S bytes takes
// (16-byte streaming loads, 4 in flight per thread, the first before griddepcontrol.wait as the GEMVs
// do), as a chain of dependent launches with programmatic dependent launch inside a CUDA graph, which
// is how a decode step runs. Each launch reads the next S-byte region of a 2 GiB buffer, so nothing
// is served from L2. The time above S / (the large-S bandwidth) is what one kernel boundary costs; a
// batch-1 decode step pays it ~5 times per layer (bench/README.md, v7).
//   bench_stream [reps=20] [grid=wave|persistent|both] [dep=0|1] [ctas=N]
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "../engine/src/cuda/common.cuh"  // ld_stream16, pdl_trigger / pdl_wait: the GEMVs' own

using effitune::engine::cuda::ld_stream16;
using effitune::engine::cuda::pdl_trigger;
using effitune::engine::cuda::pdl_wait;

namespace {

constexpr int kThreads = 256;
constexpr int kUnroll = 4;

// Reads n16 16-byte chunks from p (grid-stride, kUnroll loads per trip) and folds them into one
// word that is stored only if it has an impossible value, so the loads cannot be dropped.
//
// dep: like a GEMV, each thread also reads a word the previous kernel wrote (after the wait) and each
// CTA writes one for the next, so a CTA cannot retire before the previous grid has completed and its
// write has come back: dep=1 reads it from L2 after using the streamed data, dep=2 issues that read
// right after the wait (while the streamed loads are in flight), dep=3 reads through L1.
__global__ void __launch_bounds__(kThreads) read_kernel(const uint4* p, int64_t n16, uint32_t* sink, const uint32_t* x, uint32_t* x_out, int dep) {
  pdl_trigger();
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  uint32_t acc = 0, early = 0;
  bool waited = false;
  const uint32_t* xp = x + (threadIdx.x * 7 + blockIdx.x) % 1024;
  for (; i < n16; i += kUnroll * stride) {
    uint4 v[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) v[u] = i + u * stride < n16 ? ld_stream16(p + i + u * stride) : make_uint4(0, 0, 0, 0);
    if (!waited) {
      pdl_wait();
      waited = true;
      if (dep == 2) early = __ldcg(xp);  // issued while the weights are still in flight
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) acc ^= v[u].x ^ v[u].y ^ v[u].z ^ v[u].w;
  }
  if (!waited) pdl_wait();
  if (dep) {
    acc ^= dep == 1 ? __ldcg(xp) : dep == 3 ? *xp : early;
    if (threadIdx.x == 0) x_out[blockIdx.x % 1024] = acc | 1u;
  }
  if (acc == 0x9e3779b9u) sink[0] = acc;
}

void check(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return;
  std::fprintf(stderr, "bench_stream: %s: %s\n", what, cudaGetErrorString(e));
  std::exit(1);
}

}  // namespace

int main(int argc, char** argv) {
  int reps = 20, dep = 0, ctas = 0;
  std::string grid_mode = "both";
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("reps=", 0) == 0) reps = std::atoi(a.c_str() + 5);
    else if (a.rfind("grid=", 0) == 0) grid_mode = a.substr(5);
    else if (a.rfind("dep=", 0) == 0) dep = std::atoi(a.c_str() + 4);
    else if (a.rfind("ctas=", 0) == 0) ctas = std::atoi(a.c_str() + 5);  // resident CTAs per SM (via shared memory)
    else {
      std::fprintf(stderr, "usage: bench_stream [reps=N] [grid=wave|persistent|both] [dep=0|1] [ctas=N]\n");
      return 2;
    }
  }
  int dev = 0, sms = 0, per_sm = 0;
  check(cudaGetDevice(&dev), "cudaGetDevice");
  check(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev), "attribute");
  size_t smem = 0;
  if (ctas > 0) {
    check(cudaFuncSetAttribute(read_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, 200 * 1024), "smem attribute");
    smem = (200 * 1024) / ctas;
  }
  check(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, read_kernel, kThreads, smem), "occupancy");
  cudaDeviceProp prop{};
  check(cudaGetDeviceProperties(&prop, dev), "properties");
  constexpr size_t kBuf = size_t{2} << 30;
  uint4* buf = nullptr;
  uint32_t *sink = nullptr, *x = nullptr;
  check(cudaMalloc(&buf, kBuf), "cudaMalloc");
  check(cudaMalloc(&sink, 4), "cudaMalloc");
  check(cudaMalloc(&x, 8192), "cudaMalloc");
  check(cudaMemset(x, 0, 8192), "cudaMemset");
  check(cudaMemset(buf, 1, kBuf), "cudaMemset");
  cudaStream_t s;
  check(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "stream");
  std::printf("%s, %d SMs, %d CTAs of %d threads per SM, dep=%d\n", prop.name, sms, per_sm, kThreads, dep);
  std::printf("%-10s %10s %8s %12s %10s\n", "grid", "MB", "chain", "us/kernel", "TB/s");
  const size_t sizes_mb[] = {4, 8, 16, 32, 64, 128, 256, 512};
  for (const char* mode : {"wave", "persistent"}) {
    if (grid_mode != "both" && grid_mode != mode) continue;
    for (size_t mb : sizes_mb) {
      const int64_t n16 = static_cast<int64_t>(mb) * 1000 * 1000 / 16;
      // wave: one trip of kUnroll chunks per thread (many short CTAs, as the GEMVs launch);
      // persistent: exactly the resident CTAs, each streaming a long range.
      const int64_t grid = std::string(mode) == "wave" ? (n16 + kThreads * kUnroll - 1) / (kThreads * kUnroll)
                                                       : static_cast<int64_t>(sms) * per_sm;
      const int chain = static_cast<int>(std::min<size_t>(64, kBuf / (mb * 1000 * 1000)));
      cudaGraph_t g;
      check(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal), "capture");
      for (int c = 0; c < chain; ++c) {
        cudaLaunchAttribute attr[1];
        attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
        attr[0].val.programmaticStreamSerializationAllowed = 1;
        cudaLaunchConfig_t cfg{};
        cfg.gridDim = dim3(static_cast<unsigned>(grid));
        cfg.blockDim = dim3(kThreads);
        cfg.dynamicSmemBytes = smem;
        cfg.stream = s;
        cfg.attrs = attr;
        cfg.numAttrs = 1;
        const uint4* p = buf + static_cast<int64_t>(c) * n16;
        // The previous launch's output is this one's input (two 4 KB buffers alternate).
        const uint32_t* xin = x + (c % 2) * 1024;
        check(cudaLaunchKernelEx(&cfg, read_kernel, p, n16, sink, xin, x + ((c + 1) % 2) * 1024, dep), "launch");
      }
      check(cudaStreamEndCapture(s, &g), "end capture");
      cudaGraphExec_t ge;
      check(cudaGraphInstantiate(&ge, g, 0), "instantiate");
      check(cudaGraphLaunch(ge, s), "warm-up");
      check(cudaStreamSynchronize(s), "sync");
      std::vector<float> per;
      cudaEvent_t e0, e1;
      cudaEventCreate(&e0);
      cudaEventCreate(&e1);
      for (int r = 0; r < reps; ++r) {
        cudaEventRecord(e0, s);
        cudaGraphLaunch(ge, s);
        cudaEventRecord(e1, s);
        check(cudaEventSynchronize(e1), "sync");
        float ms = 0;
        cudaEventElapsedTime(&ms, e0, e1);
        per.push_back(ms * 1000.0f / chain);
      }
      std::sort(per.begin(), per.end());
      const double us = per[per.size() / 2];
      std::printf("%-10s %10zu %8d %12.2f %10.2f\n", mode, mb, chain, us, mb * 1e6 / (us * 1e-6) / 1e12);
      cudaEventDestroy(e0);
      cudaEventDestroy(e1);
      cudaGraphExecDestroy(ge);
      cudaGraphDestroy(g);
    }
  }
  cudaFree(buf);
  cudaFree(sink);
  cudaFree(x);
  return 0;
}
