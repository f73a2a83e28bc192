// Decode attention alone: how long one launch of the engine's decode-attention kernel takes over the
// paged KV cache, for a Llama-3 head layout (head_dim 128, or 64 as Llama-3.2-1B: hd=64; 4 query heads per KV head) at the KV-head
// counts of TP = 1, 2 and 4 (8, 4, 2 KV heads per GPU), a batch and a context length. The launches run
// back to back inside a CUDA graph with programmatic dependent launch, as in a decode step, and the
// time per launch is the graph's time over the launch count (median of the repetitions).
// Why: at batch 64 the kernel took ~11 us a layer on a TP=4 rank (2 KV heads) for ~4 MB of K/V, a
// latency-bound chain that bounds TP scaling (bench/README.md, session 11).
// mma=0,1 times the scalar and the tensor-core decode kernels (AttnArgs::decode_mma; -1 as the backend);
// chunk=64,384 the split lengths (0: decode_attn_chunk's, as the backend plans a step); wide=0,1 the
// tensor-core kernel's wide variant (8 warps, the first 256 positions' tiles ahead, the rest round a ring) (AttnArgs::decode_wide; -1 as the backend).
//   bench_attn [hd=128] [kv=8,4,2] [batch=1,64] [ctx=64,512,2048] [chunk=0] [regs=-1] [mma=-1] [wide=-1] [fused=1]
//              [launches=200] [reps=5]
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "../engine/src/cuda/attention.cuh"
#include "comma_list.h"

namespace cu = effitune::engine::cuda;

namespace {

#define CHECK(x)                                                                               \
  do {                                                                                         \
    cudaError_t e_ = (x);                                                                      \
    if (e_ != cudaSuccess) {                                                                   \
      std::fprintf(stderr, "bench_attn: %s: %s (line %d)\n", #x, cudaGetErrorString(e_), __LINE__); \
      std::exit(1);                                                                            \
    }                                                                                          \
  } while (0)

template <typename T>
T* upload(const std::vector<T>& h) {
  T* d = nullptr;
  CHECK(cudaMalloc(&d, h.size() * sizeof(T)));
  CHECK(cudaMemcpy(d, h.data(), h.size() * sizeof(T), cudaMemcpyHostToDevice));
  return d;
}

std::vector<__nv_bfloat16> random_bf16(size_t n, std::mt19937& rng) {
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<__nv_bfloat16> v(n);
  for (auto& x : v) x = __float2bfloat16(nd(rng));
  return v;
}

int32_t pow2_at_least(int32_t n) {
  int32_t p = 1;
  while (p < n) p *= 2;
  return p;
}

// Microseconds per launch for one configuration.
double time_config(int hd, int kv_heads, int batch, int ctx, int chunk_arg, int regs, int mma, int wide, bool fused,
                   int launches, int reps) {
  constexpr int kGroup = 4, kBlock = 16;
  const int heads = kv_heads * kGroup, kv_dim = kv_heads * hd;
  const int per_seq = (ctx + kBlock - 1) / kBlock, stride = pow2_at_least(per_seq);
  const int blocks = batch * per_seq + 1;
  std::mt19937 rng(11);
  auto k = upload(random_bf16(static_cast<size_t>(blocks) * kBlock * kv_dim, rng));
  auto v = upload(random_bf16(static_cast<size_t>(blocks) * kBlock * kv_dim, rng));
  const int ld_qkv = (heads + 2 * kv_heads) * hd;
  auto qkv = upload(random_bf16(static_cast<size_t>(batch) * ld_qkv, rng));
  // Sequences' blocks interleaved across the cache, as a server's allocator leaves them.
  std::vector<int32_t> bt(static_cast<size_t>(batch) * stride, 0);
  for (int s = 0; s < batch; ++s)
    for (int j = 0; j < per_seq; ++j) bt[static_cast<size_t>(s) * stride + j] = j * batch + s;
  auto d_bt = upload(bt);
  auto d_len = upload(std::vector<int32_t>(batch, ctx));
  std::vector<double> inv(hd / 2);
  for (int i = 0; i < hd / 2; ++i) inv[i] = std::pow(500000.0, -2.0 * i / hd);
  auto d_inv = upload(inv);
  __nv_bfloat16* out = nullptr;
  CHECK(cudaMalloc(&out, static_cast<size_t>(batch) * heads * hd * sizeof(__nv_bfloat16)));
  const int chunk =
      chunk_arg > 0 ? chunk_arg : cu::decode_attn_chunk(cu::ActType::kBF16, hd, kv_heads * kGroup, kv_heads, batch, ctx);
  const int splits = cu::decode_attn_splits(ctx, chunk);  // as the backend plans a step
  float *po = nullptr, *pml = nullptr;
  CHECK(cudaMalloc(&po, static_cast<size_t>(batch) * heads * splits * hd * sizeof(float)));
  CHECK(cudaMalloc(&pml, static_cast<size_t>(batch) * heads * splits * 2 * sizeof(float)));

  cu::AttnArgs a;
  a.qkv = qkv, a.ld_qkv = ld_qkv, a.out = out;
  a.kv.k = k, a.kv.v = v;
  a.block_tables = d_bt, a.bt_stride = stride, a.block_size = kBlock;
  a.n_heads = heads, a.n_kv_heads = kv_heads, a.head_dim = hd;
  a.scale = 1.0f / std::sqrt(static_cast<float>(hd));
  a.chunk = chunk;
  a.live_splits = cu::decode_attn_live_splits(ctx, chunk);
  a.k_row_in_regs = static_cast<int8_t>(regs);
  a.decode_mma = static_cast<int8_t>(mma);
  a.decode_wide = static_cast<int8_t>(wide);
  if (fused) a.inv_freq = d_inv;

  cudaStream_t s;
  CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  cu::launch_attn_decode(cu::ActType::kBF16, a, d_len, batch, splits, po, pml, s);  // warm-up, first-use costs
  CHECK(cudaStreamSynchronize(s));
  cudaGraph_t g;
  CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
  for (int i = 0; i < launches; ++i) cu::launch_attn_decode(cu::ActType::kBF16, a, d_len, batch, splits, po, pml, s);
  CHECK(cudaStreamEndCapture(s, &g));
  cudaGraphExec_t ge;
  CHECK(cudaGraphInstantiate(&ge, g, 0));
  CHECK(cudaGraphLaunch(ge, s));
  CHECK(cudaStreamSynchronize(s));
  cudaEvent_t e0, e1;
  CHECK(cudaEventCreate(&e0));
  CHECK(cudaEventCreate(&e1));
  std::vector<double> us;
  for (int r = 0; r < reps; ++r) {
    CHECK(cudaEventRecord(e0, s));
    CHECK(cudaGraphLaunch(ge, s));
    CHECK(cudaEventRecord(e1, s));
    CHECK(cudaEventSynchronize(e1));
    float ms = 0;
    CHECK(cudaEventElapsedTime(&ms, e0, e1));
    us.push_back(ms * 1e3 / launches);
  }
  std::sort(us.begin(), us.end());
  CHECK(cudaGraphExecDestroy(ge));
  CHECK(cudaGraphDestroy(g));
  CHECK(cudaStreamDestroy(s));
  for (void* p : {static_cast<void*>(k), static_cast<void*>(v), static_cast<void*>(qkv), static_cast<void*>(d_bt),
                  static_cast<void*>(d_len), static_cast<void*>(d_inv), static_cast<void*>(out), static_cast<void*>(po),
                  static_cast<void*>(pml)})
    CHECK(cudaFree(p));
  std::printf("{\"bench\":\"attn_decode\",\"head_dim\":%d,\"kv_heads\":%d,\"heads\":%d,\"batch\":%d,\"ctx\":%d,\"chunk\":%d,\"splits\":%d,"
              "\"regs\":%d,\"mma\":%d,\"wide\":%d,\"fused_rope\":%s,\"us_per_launch\":%.3f,\"us_min\":%.3f,\"us_max\":%.3f,"
              "\"kv_gb_s\":%.1f}\n",
              hd, kv_heads, heads, batch, ctx, chunk, splits, regs, mma, wide, fused ? "true" : "false", us[us.size() / 2], us.front(),
              us.back(), 2.0 * batch * ctx * kv_dim * 2 / (us[us.size() / 2] * 1e3));
  std::fflush(stdout);
  return us[us.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> args = {{"hd", "128"}, {"kv", "8,4,2"}, {"batch", "1,64"},    {"ctx", "64,512,2048"},
                                             {"chunk", "0"},  {"regs", "-1"},  {"mma", "-1"},      {"wide", "-1"}, {"fused", "1"},       {"launches", "200"},
                                             {"reps", "5"}};
  for (int i = 1; i < argc; ++i) {
    const std::string s = argv[i];
    const auto eq = s.find('=');
    if (eq == std::string::npos || !args.count(s.substr(0, eq))) {
      std::fprintf(stderr, "bench_attn: unknown argument '%s' (key=value: hd, kv, batch, ctx, chunk, regs, mma, wide, fused, launches, reps)\n",
                   s.c_str());
      return 2;
    }
    args[s.substr(0, eq)] = s.substr(eq + 1);
  }
  for (const auto& hd : effitune::tools::split(args["hd"]))
  for (const auto& kv : effitune::tools::split(args["kv"]))
    for (const auto& b : effitune::tools::split(args["batch"]))
      for (const auto& c : effitune::tools::split(args["ctx"]))
        for (const auto& ch : effitune::tools::split(args["chunk"]))
          for (const auto& r : effitune::tools::split(args["regs"]))
            for (const auto& m : effitune::tools::split(args["mma"]))
              for (const auto& w : effitune::tools::split(args["wide"]))
                time_config(std::stoi(hd), std::stoi(kv), std::stoi(b), std::stoi(c), std::stoi(ch), std::stoi(r), std::stoi(m),
                            std::stoi(w), args["fused"] != "0", std::stoi(args["launches"]), std::stoi(args["reps"]));
  return 0;
}
