// Timing of the weight-streaming GEMM (engine/src/cuda/gemm_stream.cu) against the path it replaces
// (MatmulContext with EFFITUNE_GEMM_STREAM=0: cuBLAS GemmEx above 8 float / 32 quantized rows, the
// quantized weights dequantized to a bf16 scratch first; the GEMV at or below those counts), on the
// Llama-3-8B projection shapes, their tensor-parallel (TP=2 and TP=4) shards, and the Llama-3.2-1B ones. Each call is timed alone
// with CUDA events after an L2 flush (a decode step streams many matrices, none stays in L2);
// median of `reps` after warm-up. GB/s counts weight bytes (quants + scales) only.
// split=S also times each residual projection (o, down and their shards) through MatmulContext as S
// GEMMs of N / S output columns back to back: what overlapping a tensor-parallel exchange with the
// projection's second half would cost in the GEMMs themselves (bench/README.md, session 14).
// prefetch=C also times the MatmulContext product (1) with its weights loaded into L2 just before
// (`warm_us`: what a prefetch done earlier, during attention say, could at best give) and (2) with
// an L2-prefetch kernel of C CTAs on a second stream beside it (`side_us`, timed from before both
// to after both), the weights pulled column chunk by column chunk (l2_prefetch.cuh).
// shapes=NAME,... keeps those shapes only (e.g. one kernel under ncu).
//   bench_gemm [kinds=bf16,f16,q8_0,q4_0] [rows=16,32,64,128] [shapes=all] [reps=20] [split=1] [prefetch=0] [out=FILE]
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "../engine/src/cuda/gemm.cuh"
#include "../engine/src/cuda/gemm_stream.cuh"
#include "l2_prefetch.cuh"
#include "comma_list.h"

using namespace effitune::engine::cuda;
using effitune::tools::L2Prefetch;
using effitune::tools::launch_l2_prefetch;

namespace {

struct Shape {
  const char* name;
  int64_t n, k;
};
constexpr Shape kShapes[] = {
    {"qkv", 6144, 4096},          {"o", 4096, 4096},          {"gate_up", 28672, 4096},     {"down", 4096, 14336},
    {"qkv/tp2", 3072, 4096},      {"o/tp2", 4096, 2048},      {"gate_up/tp2", 14336, 4096}, {"down/tp2", 4096, 7168},
    {"qkv/tp4", 1536, 4096},      {"o/tp4", 4096, 1024},      {"gate_up/tp4", 7168, 4096},  {"down/tp4", 4096, 3584},
    {"1b/qkv", 3072, 2048},       {"1b/o", 2048, 2048},       {"1b/gate_up", 16384, 2048},  {"1b/down", 2048, 8192},
};

using effitune::tools::split;

bool check(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return true;
  std::fprintf(stderr, "bench_gemm: %s: %s\n", what, cudaGetErrorString(e));
  return false;
}

struct Kind {
  std::string name;
  WKind w;
  ActType act;
};

bool parse_kind(const std::string& s, Kind& k) {
  if (s == "bf16") k = {s, WKind::kBF16, ActType::kBF16};
  else if (s == "f16") k = {s, WKind::kF16, ActType::kF16};
  else if (s == "q8_0") k = {s, WKind::kQ8, ActType::kBF16};
  else if (s == "q4_0") k = {s, WKind::kQ4, ActType::kBF16};
  else return false;
  return true;
}

// Median time (µs) of `call`, each run timed alone after the L2 is overwritten (and then `before`,
// untimed, when given).
double time_us(const std::function<void()>& call, int reps, void* flush, size_t flush_bytes, cudaStream_t s,
               const std::function<void()>& before = {}) {
  cudaEvent_t e0, e1;
  cudaEventCreate(&e0);
  cudaEventCreate(&e1);
  for (int i = 0; i < 3; ++i) call();
  std::vector<double> t;
  for (int i = 0; i < reps; ++i) {
    cudaMemsetAsync(flush, i & 0xFF, flush_bytes, s);
    if (before) before();
    cudaEventRecord(e0, s);
    call();
    cudaEventRecord(e1, s);
    cudaEventSynchronize(e1);
    float ms = 0;
    cudaEventElapsedTime(&ms, e0, e1);
    t.push_back(ms * 1e3);
  }
  cudaEventDestroy(e0);
  cudaEventDestroy(e1);
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> kinds = {"bf16", "f16", "q8_0", "q4_0"};
  std::vector<int> rows = {16, 32, 64, 128};
  int reps = 20, split_n = 1, prefetch_ctas = 0;
  std::string out_path;
  std::vector<std::string> shapes;  // empty: all
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const auto eq = a.find('=');
    const std::string key = a.substr(0, eq), val = eq == std::string::npos ? "" : a.substr(eq + 1);
    if (key == "kinds") kinds = split(val);
    else if (key == "rows") {
      rows.clear();
      for (const auto& r : split(val)) rows.push_back(std::atoi(r.c_str()));
    } else if (key == "reps") reps = std::max(1, std::atoi(val.c_str()));
    else if (key == "out") out_path = val;
    else if (key == "shapes") shapes = split(val);
    else if (key == "split") split_n = std::atoi(val.c_str());
    else if (key == "prefetch") prefetch_ctas = std::max(0, std::atoi(val.c_str()));
    else {
      std::fprintf(stderr,
                   "usage: bench_gemm [kinds=bf16,f16,q8_0,q4_0] [rows=16,32,64,128] [shapes=all] [reps=20] [split=1] [prefetch=0] "
                   "[out=FILE]\n");
      return 2;
    }
  }
  for (int r : rows)
    if (r < 1 || r > kGemmStreamMaxRows) {
      std::fprintf(stderr, "bench_gemm: rows must be 1..%d (got %d)\n", kGemmStreamMaxRows, r);
      return 2;
    }
  if (split_n < 1 || split_n > 8 || 4096 % split_n != 0) {
    std::fprintf(stderr, "bench_gemm: split must divide 4096 and be 1..8 (got %d)\n", split_n);
    return 2;
  }
  // The reference path is MatmulContext without the streaming GEMM.
  setenv("EFFITUNE_GEMM_STREAM", "0", 1);

  cudaDeviceProp prop{};
  if (!check(cudaGetDeviceProperties(&prop, 0), "cudaGetDeviceProperties")) return 1;
  cudaStream_t s, side;
  cudaEvent_t fork, join;
  if (!check(cudaStreamCreate(&s), "cudaStreamCreate") || !check(cudaStreamCreate(&side), "cudaStreamCreate") ||
      !check(cudaEventCreateWithFlags(&fork, cudaEventDisableTiming), "cudaEventCreate") ||
      !check(cudaEventCreateWithFlags(&join, cudaEventDisableTiming), "cudaEventCreate"))
    return 1;
  int64_t max_elems = 0;
  for (const Shape& sh : kShapes) max_elems = std::max(max_elems, sh.n * sh.k);
  MatmulContext ctx;
  if (auto st = ctx.init(max_elems, s); !st.ok()) {
    std::fprintf(stderr, "bench_gemm: %s\n", st.message().c_str());
    return 1;
  }
  GemmStreamWorkspace ws;
  if (auto st = gemm_stream_alloc(ws); !st.ok()) {
    std::fprintf(stderr, "bench_gemm: %s\n", st.message().c_str());
    return 1;
  }
  const size_t flush_bytes = std::max<size_t>(size_t{2} * prop.l2CacheSize, 64 << 20);
  void *flush = nullptr, *x = nullptr, *out = nullptr;
  const int max_rows = *std::max_element(rows.begin(), rows.end());
  if (!check(cudaMalloc(&flush, flush_bytes), "cudaMalloc flush") ||
      !check(cudaMalloc(&x, static_cast<size_t>(max_rows) * 14336 * 2), "cudaMalloc x") ||
      !check(cudaMalloc(&out, static_cast<size_t>(max_rows) * 28672 * 4), "cudaMalloc out"))
    return 1;
  // Weight and activation values do not change the timing: a constant pattern (bf16 0x3C3C ~ 0.0115,
  // f16 ~ 1.06, f16 scales 0x2020 ~ 0.008) keeps every product finite.
  cudaMemset(x, 0x3C, static_cast<size_t>(max_rows) * 14336 * 2);

  std::ofstream json;
  if (!out_path.empty()) json.open(out_path);
  std::printf("device: %s (%d SMs)\n", prop.name, prop.multiProcessorCount);
  std::printf("%-12s %-5s %4s %10s %10s %9s %9s %7s %10s %9s %9s\n", "shape", "kind", "M", "old_us", "stream_us",
              "old_GB/s", "strm_GB/s", "speedup", "split_us", "warm_us", "side_us");
  for (const std::string& kname : kinds) {
    Kind kind;
    if (!parse_kind(kname, kind)) {
      std::fprintf(stderr, "bench_gemm: unknown kind %s (bf16, f16, q8_0, q4_0)\n", kname.c_str());
      return 2;
    }
    for (const Shape& sh : kShapes) {
      if (!shapes.empty() && std::find(shapes.begin(), shapes.end(), sh.name) == shapes.end()) continue;
      DeviceMatrix w;
      w.kind = kind.w;
      w.rows = sh.n;
      w.cols = sh.k;
      const bool quant = kind.w == WKind::kQ8 || kind.w == WKind::kQ4;
      const size_t data_bytes = static_cast<size_t>(w.data_row_bytes() * w.rows);
      void* buf = nullptr;
      if (!check(cudaMalloc(&buf, static_cast<size_t>(w.bytes()) + 256), "cudaMalloc weights")) return 1;
      w.data = buf;
      cudaMemset(buf, 0x3C, data_bytes);
      if (quant) {
        w.scales = reinterpret_cast<__half*>(static_cast<char*>(buf) + (data_bytes + 255) / 256 * 256);
        cudaMemset(w.scales, 0x20, static_cast<size_t>(w.rows * (w.cols / 32) * 2));
      }
      // Residual projections accumulate into the f32 stream; the others write activations.
      const std::string base = std::string(sh.name).rfind("1b/", 0) == 0 ? std::string(sh.name).substr(3) : sh.name;
      const bool residual = base.rfind("o", 0) == 0 || base.rfind("down", 0) == 0;
      for (int m : rows) {
        MatArgs a;
        a.x = x;
        a.ldx = sh.k;
        a.n_rows = m;
        a.out = out;
        a.ldo = sh.n;
        a.out_mode = residual ? MatOut::kF32Accumulate : MatOut::kAct;
        const double old_us = time_us([&] { (void)ctx.matmul(kind.act, w, a, s); }, reps, flush, flush_bytes, s);
        double new_us = 0;
        if (gemm_stream_supports(kind.act, w, a))
          new_us = time_us([&] { launch_gemm_stream(w, a, ws, s); }, reps, flush, flush_bytes, s);
        // The same product as split_n row blocks of the weight (output column blocks), one call each.
        double split_us = 0;
        if (split_n > 1 && residual) {
          const int64_t block = sh.n / split_n;
          split_us = time_us(
              [&] {
                for (int j = 0; j < split_n; ++j) {
                  DeviceMatrix part = w;
                  part.rows = block;
                  part.data = static_cast<char*>(w.data) + j * block * w.data_row_bytes();
                  if (quant) part.scales = w.scales + j * block * (w.cols / 32);
                  MatArgs pa = a;
                  pa.out = static_cast<float*>(out) + j * block;
                  (void)ctx.matmul(kind.act, part, pa, s);
                }
              },
              reps, flush, flush_bytes, s);
        }
        double warm_us = 0, side_us = 0;
        if (prefetch_ctas > 0) {
          L2Prefetch pf{w.data, w.rows, w.data_row_bytes(), static_cast<int64_t>(data_bytes)};
          L2Prefetch all = pf;
          all.k_major = false, all.touch = true;
          warm_us = time_us([&] { (void)ctx.matmul(kind.act, w, a, s); }, reps, flush, flush_bytes, s,
                            [&] { launch_l2_prefetch(all, 2 * prop.multiProcessorCount, s); });
          side_us = time_us(
              [&] {
                cudaEventRecord(fork, s);
                cudaStreamWaitEvent(side, fork, 0);
                launch_l2_prefetch(pf, prefetch_ctas, side);
                cudaEventRecord(join, side);
                (void)ctx.matmul(kind.act, w, a, s);
                cudaStreamWaitEvent(s, join, 0);
              },
              reps, flush, flush_bytes, s);
        }
        if (!check(cudaStreamSynchronize(s), sh.name) || !check(cudaGetLastError(), sh.name)) return 1;
        const double gb = static_cast<double>(w.bytes()) * 1e-9;
        const double old_bw = gb / (old_us * 1e-6), new_bw = new_us > 0 ? gb / (new_us * 1e-6) : 0;
        std::printf("%-12s %-5s %4d %10.1f %10.1f %9.0f %9.0f %7.2f %10.1f %9.1f %9.1f\n", sh.name, kname.c_str(), m,
                    old_us, new_us, old_bw, new_bw, new_us > 0 ? old_us / new_us : 0.0, split_us, warm_us, side_us);
        if (json.is_open())
          json << "{\"device\":\"" << prop.name << "\",\"shape\":\"" << sh.name << "\",\"n\":" << sh.n
               << ",\"k\":" << sh.k << ",\"kind\":\"" << kname << "\",\"rows\":" << m << ",\"old_us\":" << old_us
               << ",\"stream_us\":" << new_us << ",\"old_gbps\":" << old_bw << ",\"stream_gbps\":" << new_bw
               << ",\"split\":" << split_n << ",\"split_us\":" << split_us << ",\"prefetch_ctas\":" << prefetch_ctas
               << ",\"warm_us\":" << warm_us << ",\"side_us\":" << side_us << ",\"weight_bytes\":" << w.bytes() << "}\n";
      }
      cudaFree(buf);
    }
  }
  gemm_stream_free(ws);
  cudaFree(flush);
  cudaFree(x);
  cudaFree(out);
  cudaStreamDestroy(s);
  cudaStreamDestroy(side);
  return 0;
}
