#include <algorithm>
#include <cstdlib>
#include <string>

#include "common.cuh"
#include "gemm.cuh"
#include "matmul_route.h"

namespace effitune::engine::cuda {
namespace {

constexpr int64_t kWorkspaceBytes = 32 << 20;
// Without the streaming GEMM, a quantized matrix at more than this many rows is dequantized to bf16
// for one cuBLAS GEMM; up to it the GEMV runs once per 8 rows, which moves fewer bytes (int8: 1
// B/weight per pass vs 1 + 2 + 2 B). With the streaming GEMM the GEMV stops at one pass (8 rows): at
// 16 and 32 rows the streaming GEMM is 1.2-4.6x faster than two or four GEMV passes (H200, 8B
// shapes, results/gemm_stream_h200_2026-11-26.jsonl).
constexpr int kQuantGemvMaxRows = 32;

// Dequantization for the cuBLAS path (more rows than the streaming GEMM takes: prefill, batches
// above 128). Each thread makes 8 consecutive weights of a 32-block, d * q in f32 rounded to bf16
// once (as ggml dequantizes, then as the streaming GEMM rounds), and writes them as one 16-byte
// store, so a warp writes 512 contiguous bytes per instruction. (One weight per thread, with a byte
// load and a 2-byte store each, took 1.6-1.8x as long: 8B q4_0 gate|up at 128 rows 351 -> 206 us
// with the GEMM; 512-token prefill 17.0k -> 23.8k tok/s, batch 256 9.4k -> 14.3k; bench/README.md,
// session 16.)
// q: 32 int8 per block; thread i makes weights 8 (i % 4) .. + 7 of block i / 4.
__global__ void dequant_q8_kernel(const int8_t* q, const __half* sc, int64_t n8, __nv_bfloat16* out) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n8;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const uint2 v = ld_stream8(q + i * 8);
    const float d = __half2float(sc[i / 4]);
    const uint32_t w[2] = {v.x, v.y};
    uint32_t o[4];
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const uint32_t word = w[j / 2], sh = 16 * (j % 2);
      o[j] = pack2<__nv_bfloat16>(d * static_cast<float>(static_cast<int8_t>(word >> sh)),
                         d * static_cast<float>(static_cast<int8_t>(word >> (sh + 8))));
    }
    *reinterpret_cast<uint4*>(out + i * 8) = make_uint4(o[0], o[1], o[2], o[3]);
  }
}

// q: 16 bytes per block, byte j holding weight j (low nibble) and j + 16 (high), stored n - 8.
// Thread i makes weights 8 (i % 4) .. + 7 of block i / 4: the low (i % 4 < 2) or high nibbles of
// bytes 8 (i % 2) .. + 7.
__global__ void dequant_q4_kernel(const uint8_t* q, const __half* sc, int64_t n8, __nv_bfloat16* out) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n8;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t blk = i / 4;
    const int part = static_cast<int>(i % 4);
    const uint2 v = ld_stream8(q + blk * 16 + (part % 2) * 8);
    const float d = __half2float(sc[blk]);
    const int shift = part < 2 ? 0 : 4;
    const uint32_t w[2] = {v.x, v.y};
    uint32_t o[4];
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const uint32_t word = w[j / 2] >> shift, sh = 16 * (j % 2);
      o[j] = pack2<__nv_bfloat16>(d * static_cast<float>(static_cast<int>((word >> sh) & 0xF) - 8),
                         d * static_cast<float>(static_cast<int>((word >> (sh + 8)) & 0xF) - 8));
    }
    *reinterpret_cast<uint4*>(out + i * 8) = make_uint4(o[0], o[1], o[2], o[3]);
  }
}

cudaDataType_t cuda_type(ActType t) {
  switch (t) {
    case ActType::kF32: return CUDA_R_32F;
    case ActType::kF16: return CUDA_R_16F;
    case ActType::kBF16: return CUDA_R_16BF;
  }
  return CUDA_R_32F;
}

Status cublas_status(cublasStatus_t s, const char* what) {
  if (s == CUBLAS_STATUS_SUCCESS) return {};
  if (s == CUBLAS_STATUS_ALLOC_FAILED) return resource_exhausted(std::string(what) + ": cuBLAS out of memory");
  return internal_error(std::string(what) + ": cuBLAS status " + std::to_string(static_cast<int>(s)));
}

}  // namespace

void launch_dequant_bf16(const DeviceMatrix& w, void* out, cudaStream_t s) {
  const int64_t n8 = w.rows * w.cols / 8;  // cols % 32 == 0 for both kinds
  const unsigned grid = static_cast<unsigned>(std::min<int64_t>(ceil_div(n8, 256), int64_t{sm_count()} * 8));
  if (w.kind == WKind::kQ8)
    dequant_q8_kernel<<<grid, 256, 0, s>>>(static_cast<const int8_t*>(w.data), w.scales, n8, static_cast<__nv_bfloat16*>(out));
  else
    dequant_q4_kernel<<<grid, 256, 0, s>>>(static_cast<const uint8_t*>(w.data), w.scales, n8, static_cast<__nv_bfloat16*>(out));
}

MatmulContext::~MatmulContext() {
  if (handle_) cublasDestroy(handle_);
  cudaFree(workspace_);
  cudaFree(dequant_);
  gemm_stream_free(stream_ws_);
}

// Measured on an H200 (tools/bench_gemm, 8B shapes): 1.3-4.6x over dequantize + cuBLAS for Q8_0/Q4_0
// at 16-128 rows, but 0.3-0.9x of cuBLAS for bf16/f16, so by default only the quantized kinds stream
// (and, since the dequantization was vectorized, only the larger products: matmul_route.h).
int MatmulContext::stream_mode() {
  static const int mode = [] {
    const char* v = std::getenv("EFFITUNE_GEMM_STREAM");
    if (v == nullptr || *v == '\0') return 2;
    return std::string(v) == "0" ? 0 : 1;
  }();
  return mode;
}

bool MatmulContext::stream_enabled() { return stream_mode() != 0; }

int64_t MatmulContext::bytes_needed(int64_t dequant_elems) {
  return kWorkspaceBytes + dequant_elems * 2 + (stream_enabled() ? gemm_stream_workspace_bytes() : 0);
}

Status MatmulContext::init(int64_t dequant_elems, cudaStream_t stream) {
  EFFITUNE_RETURN_IF_ERROR(cublas_status(cublasCreate(&handle_), "cublasCreate"));
  EFFITUNE_RETURN_IF_ERROR(cublas_status(cublasSetStream(handle_, stream), "cublasSetStream"));
  CUDA_RETURN_IF_ERROR(cudaMalloc(&workspace_, kWorkspaceBytes));
  // A fixed workspace keeps cuBLAS from allocating during CUDA graph capture.
  EFFITUNE_RETURN_IF_ERROR(cublas_status(cublasSetWorkspace(handle_, workspace_, kWorkspaceBytes), "cublasSetWorkspace"));
  // Pure fp32 for f32 models (no TF32): the f32 path must match the CPU reference.
  EFFITUNE_RETURN_IF_ERROR(cublas_status(cublasSetMathMode(handle_, CUBLAS_DEFAULT_MATH), "cublasSetMathMode"));
  if (dequant_elems > 0) CUDA_RETURN_IF_ERROR(cudaMalloc(&dequant_, dequant_elems * 2));
  dequant_elems_ = dequant_elems;
  if (stream_enabled()) EFFITUNE_RETURN_IF_ERROR(gemm_stream_alloc(stream_ws_));
  return {};
}

// Float weights take the GEMV at one row only: from two rows cuBLAS is faster (H100, 8B bf16 decode
// with the GEMV up to 8 / 4 / 2 / 1 rows, twice each: batch 2 294 -> 311 tok/s, batch 4 429 -> 624,
// batch 8 493 -> 1,209; 1B 1,366 -> 1,398, 2,033 -> 2,792, 2,394 -> 5,406; the GEMV's 8-row variant
// reads each weight once but runs far below bandwidth). Quantized weights take it up to
// quant_gemv_max_rows (one pass: 8 rows for Q8_0, 4 for Q4_0) when the streaming GEMM can take the
// shape, else up to kQuantGemvMaxRows. EFFITUNE_GEMV_MAX_ROWS / EFFITUNE_QUANT_GEMV_MAX_ROWS override
// both (A/B timing).
static int env_rows(const char* name, int fallback, int hi) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::clamp(std::atoi(v), 1, hi) : fallback;
}

static_assert(kGemvMaxBatch == 8, "matmul_route.h's quant_gemv_max_rows is one 8-row GEMV pass at most");

bool MatmulContext::uses_gemv(const DeviceMatrix& w, int32_t n_rows) {
  static const int float_max = env_rows("EFFITUNE_GEMV_MAX_ROWS", 1, kGemvMaxBatch);
  static const int quant_max = env_rows("EFFITUNE_QUANT_GEMV_MAX_ROWS", 0, kQuantGemvMaxRows);
  const bool quant = w.kind == WKind::kQ8 || w.kind == WKind::kQ4;
  if (!quant) return n_rows <= float_max;
  if (quant_max > 0) return n_rows <= quant_max;
  // The streaming GEMM's K tile for quantized rows is 128 (gemm_stream_supports).
  const bool streams = stream_enabled() && w.cols % 128 == 0;
  return n_rows <= (streams ? quant_gemv_max_rows(w.kind == WKind::kQ4) : kQuantGemvMaxRows);
}

Status MatmulContext::matmul(ActType act, const DeviceMatrix& w, const MatArgs& a, cudaStream_t s) {
  if (!uses_gemv(w, a.n_rows)) return gemm(act, w, a, s);
  const int act_size = act_bytes(act);
  // Element sizes of x and out follow the modes: the RMSNorm input is the f32 residual stream, the
  // SwiGLU output is in the activation type.
  const int in_size = a.in == MatIn::kRmsNorm ? 4 : act_size;
  const int out_size = a.out_mode == MatOut::kAct || a.out_mode == MatOut::kSwiGluAct ? act_size : 4;
  for (int32_t r0 = 0; r0 < a.n_rows; r0 += kGemvMaxBatch) {
    MatArgs part = a;
    part.n_rows = std::min(kGemvMaxBatch, a.n_rows - r0);
    part.x = static_cast<const char*>(a.x) + r0 * a.ldx * in_size;
    part.out = static_cast<char*>(a.out) + r0 * a.ldo * out_size;
    if (a.argmax != nullptr) part.argmax = a.argmax + r0;
    launch_gemv(w, part, s);
  }
  CUDA_RETURN_IF_LAUNCH_ERROR("gemv");
  return {};
}

// matmul_route.h's rule; EFFITUNE_QUANT_CUBLAS=0 streams every shape the streaming GEMM takes (A/B
// timing; read at every call, a host-side cost of ~0.1 us, so that the tests can cover the streaming
// GEMM on small models).
static bool quant_goes_to_cublas(const DeviceMatrix& w, int32_t n_rows) {
  return env_flag("EFFITUNE_QUANT_CUBLAS", true) && quant_prefers_cublas(w.rows * w.cols, n_rows);
}

Status MatmulContext::gemm(ActType act, const DeviceMatrix& w, const MatArgs& a, cudaStream_t s) {
  if (a.in != MatIn::kPlain) return internal_error("gemm: fused input modes are GEMV-only");
  const bool quant = w.kind == WKind::kQ8 || w.kind == WKind::kQ4;
  if (stream_ws_.partials != nullptr && (quant || stream_mode() == 1) && gemm_stream_supports(act, w, a) &&
      !(quant && quant_goes_to_cublas(w, a.n_rows))) {
    launch_gemm_stream(w, a, stream_ws_, s);
    CUDA_RETURN_IF_LAUNCH_ERROR("gemm_stream");
    return {};
  }
  const void* wdata = w.data;
  if (w.kind == WKind::kQ8 || w.kind == WKind::kQ4) {
    if (w.rows * w.cols > dequant_elems_) return internal_error("gemm: dequant scratch too small");
    launch_dequant_bf16(w, dequant_, s);
    CUDA_RETURN_IF_LAUNCH_ERROR("dequant");
    wdata = dequant_;
  }
  // Row-major Y[T, N] = X[T, K] W[N, K]^T is column-major Y^T[N, T] = W^T' X^T: W transposed.
  const cudaDataType_t ab = cuda_type(act);
  const cudaDataType_t c = a.out_mode == MatOut::kAct ? ab : CUDA_R_32F;
  const float alpha = 1.0f, beta = a.out_mode == MatOut::kF32Accumulate ? 1.0f : 0.0f;
  return cublas_status(cublasGemmEx(handle_, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(w.rows), a.n_rows,
                                    static_cast<int>(w.cols), &alpha, wdata, ab, static_cast<int>(w.cols), a.x, ab,
                                    static_cast<int>(a.ldx), &beta, a.out, c, static_cast<int>(a.ldo),
                                    CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                       "cublasGemmEx");
}

}  // namespace effitune::engine::cuda
