#include <algorithm>

#include "common.cuh"
#include "elementwise.cuh"

namespace effitune::engine::cuda {
namespace {

__device__ __forceinline__ float load_weight(const DeviceMatrix& m, int64_t row, int64_t col) {
  switch (m.kind) {
    case WKind::kF32: return static_cast<const float*>(m.data)[row * m.cols + col];
    case WKind::kF16: return __half2float(static_cast<const __half*>(m.data)[row * m.cols + col]);
    case WKind::kBF16: return __bfloat162float(static_cast<const __nv_bfloat16*>(m.data)[row * m.cols + col]);
    case WKind::kQ8: {
      const float d = __half2float(m.scales[row * (m.cols / 32) + col / 32]);
      return d * static_cast<const int8_t*>(m.data)[row * m.cols + col];
    }
    case WKind::kQ4: {
      const float d = __half2float(m.scales[row * (m.cols / 32) + col / 32]);
      const uint8_t* blk = static_cast<const uint8_t*>(m.data) + row * (m.cols / 2) + (col / 32) * 16;
      const int j = col % 32;
      const int q = j < 16 ? (blk[j] & 0xF) : (blk[j - 16] >> 4);
      return d * (q - 8);
    }
  }
  return 0.0f;
}

// One token's row per CTA. Each thread's kEmbedPer loads go out before its first store: the
// compiler cannot move a load above a store that may alias it, so the plain loop paid one memory
// round trip per element a thread (16 at 4,096 columns and 256 threads: the step's first kernel
// took ~11 us at batch 1 on an H100, session 20's trace).
constexpr int kEmbedThreads = 512, kEmbedPer = 8;
__global__ void __launch_bounds__(kEmbedThreads) embed_kernel(DeviceMatrix emb, const int32_t* tokens, float* x) {
  pdl_trigger();
  pdl_wait();
  const int64_t t = blockIdx.x;
  const int64_t tok = tokens[t];
  for (int64_t c0 = threadIdx.x; c0 < emb.cols; c0 += int64_t{kEmbedThreads} * kEmbedPer) {
    float v[kEmbedPer];
#pragma unroll
    for (int j = 0; j < kEmbedPer; ++j) {
      const int64_t c = c0 + int64_t{j} * kEmbedThreads;
      v[j] = c < emb.cols ? load_weight(emb, tok, c) : 0.0f;
    }
#pragma unroll
    for (int j = 0; j < kEmbedPer; ++j) {
      const int64_t c = c0 + int64_t{j} * kEmbedThreads;
      if (c < emb.cols) x[t * emb.cols + c] = v[j];
    }
  }
}

// One row per CTA of 256 threads, for dim a multiple of 4 up to 4 x 256 x kPer: each thread holds its
// kPer float4s of the row in registers (loaded together: one memory round trip, not a dependent
// loop), the norm weight's are loaded before pdl_wait (a weight: no earlier kernel writes it), and
// the output is written from the registers. The scalar kernel below re-read the row and took
// 7.4 us for 64 rows of 4096 on an H100 (ncu, session 8): 16% of a TP=4 rank's batch-64 step.
constexpr int kNormThreads = 256;
template <typename T, int kPer>
__global__ void __launch_bounds__(kNormThreads) rmsnorm_vec_kernel(const float* x, const int32_t* rows, int32_t dim,
                                                                   const float* w, float eps, T* out) {
  __shared__ float scratch[32];
  const int n4 = dim / 4;
  float4 wv[kPer], xv[kPer];
#pragma unroll
  for (int k = 0; k < kPer; ++k) {
    const int i = threadIdx.x + k * kNormThreads;
    if (i < n4) wv[k] = reinterpret_cast<const float4*>(w)[i];
  }
  pdl_trigger();
  pdl_wait();
  const int64_t r = blockIdx.x;
  const float4* xr = reinterpret_cast<const float4*>(x + (rows ? rows[r] : r) * static_cast<int64_t>(dim));
  float ss = 0.0f;
#pragma unroll
  for (int k = 0; k < kPer; ++k) {
    const int i = threadIdx.x + k * kNormThreads;
    if (i < n4) {
      xv[k] = xr[i];
      ss += xv[k].x * xv[k].x + xv[k].y * xv[k].y + xv[k].z * xv[k].z + xv[k].w * xv[k].w;
    }
  }
  ss = block_sum(ss, scratch);
  const float scale = rsqrtf(ss / dim + eps);
  T* o = out + r * dim;
#pragma unroll
  for (int k = 0; k < kPer; ++k) {
    const int i = threadIdx.x + k * kNormThreads;
    if (i >= n4) continue;
    o[4 * i] = from_f32<T>(xv[k].x * scale * wv[k].x);
    o[4 * i + 1] = from_f32<T>(xv[k].y * scale * wv[k].y);
    o[4 * i + 2] = from_f32<T>(xv[k].z * scale * wv[k].z);
    o[4 * i + 3] = from_f32<T>(xv[k].w * scale * wv[k].w);
  }
}

template <typename T>
__global__ void rmsnorm_kernel(const float* x, const int32_t* rows, int32_t dim, const float* w, float eps, T* out) {
  __shared__ float scratch[32];
  pdl_trigger();
  pdl_wait();
  const int64_t r = blockIdx.x;
  const float* xr = x + (rows ? rows[r] : r) * static_cast<int64_t>(dim);
  float ss = 0.0f;
  for (int i = threadIdx.x; i < dim; i += blockDim.x) ss += xr[i] * xr[i];
  ss = block_sum(ss, scratch);
  const float scale = rsqrtf(ss / dim + eps);
  for (int i = threadIdx.x; i < dim; i += blockDim.x) out[r * dim + i] = from_f32<T>(xr[i] * scale * w[i]);
}

template <typename T>
__global__ void rope_store_kernel(RopeStoreArgs a) {
  pdl_trigger();
  pdl_wait();
  const int64_t t = blockIdx.x;
  const int hd = a.head_dim, half = hd / 2;
  const int q_dim = a.n_heads * hd, kv_dim = a.n_kv_heads * hd;
  T* row = static_cast<T*>(a.qkv) + t * (q_dim + 2 * kv_dim);
  const int32_t pos = a.pos[t];
  const int32_t block = a.block_tables[static_cast<int64_t>(a.seq[t]) * a.bt_stride + pos / a.block_size];
  const int64_t slot = (static_cast<int64_t>(block) * a.block_size + pos % a.block_size) * kv_dim;
  T* kc = static_cast<T*>(a.kv.k) + slot;
  T* vc = static_cast<T*>(a.kv.v) + slot;
  const int n_pairs = (a.n_heads + a.n_kv_heads) * half;
  for (int p = threadIdx.x; p < n_pairs; p += blockDim.x) {
    const int head = p / half, i = p % half;
    double sd, cd;
    sincos(static_cast<double>(pos) * a.inv_freq[i], &sd, &cd);
    const float sn = static_cast<float>(sd), cs = static_cast<float>(cd);
    T* v = row + head * hd + 2 * i;  // k heads follow the q heads in the row
    const float x0 = to_f32(v[0]), x1 = to_f32(v[1]);
    const T y0 = from_f32<T>(x0 * cs - x1 * sn), y1 = from_f32<T>(x0 * sn + x1 * cs);
    v[0] = y0;
    v[1] = y1;
    if (head >= a.n_heads) {
      const int kidx = (head - a.n_heads) * hd + 2 * i;
      kc[kidx] = y0;
      kc[kidx + 1] = y1;
    }
  }
  for (int i = threadIdx.x; i < kv_dim; i += blockDim.x) vc[i] = row[q_dim + kv_dim + i];
}

template <typename T>
__global__ void swiglu_kernel(const T* gu, int32_t hidden, T* h) {
  pdl_trigger();
  pdl_wait();
  const int64_t t = blockIdx.x;  // tokens on x: y stops at 65,535 (a 64 x 1,024-token prefill has more)
  const int i = blockIdx.y * blockDim.x + threadIdx.x;
  if (i >= hidden) return;
  const float g = to_f32(gu[t * 2 * hidden + i]), u = to_f32(gu[t * 2 * hidden + hidden + i]);
  h[t * hidden + i] = from_f32<T>(g / (1.0f + expf(-g)) * u);
}

__global__ void zero_kernel(float* p, int64_t n) {
  pdl_trigger();
  pdl_wait();
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    p[i] = 0.0f;
}

}  // namespace

void launch_zero(float* p, int64_t n, cudaStream_t s) {
  if (n > 0) launch_pdl(zero_kernel, static_cast<unsigned>(std::min<int64_t>(ceil_div(n, 256), 1024)), 256, 0, s, p, n);
}

void launch_embed(const DeviceMatrix& emb, const int32_t* tokens, int32_t n_tokens, float* x, cudaStream_t s) {
  if (n_tokens > 0) launch_pdl(embed_kernel, n_tokens, kEmbedThreads, 0, s, emb, tokens, x);
}

template <typename T>
void launch_rmsnorm_as(const float* x, const int32_t* rows, int32_t n_rows, int32_t dim, const float* w, float eps,
                       T* out, cudaStream_t s, bool vectorized) {
  // float4 rows: dim % 4 == 0 and 16-byte aligned bases (the workspace and weights are).
  const bool vec = vectorized && dim % 4 == 0 && reinterpret_cast<uintptr_t>(x) % 16 == 0 &&
                   reinterpret_cast<uintptr_t>(w) % 16 == 0;
  const int per = static_cast<int>(ceil_div(dim / 4, kNormThreads));
  if (vec && per <= 1) return launch_pdl(rmsnorm_vec_kernel<T, 1>, n_rows, kNormThreads, 0, s, x, rows, dim, w, eps, out);
  if (vec && per <= 2) return launch_pdl(rmsnorm_vec_kernel<T, 2>, n_rows, kNormThreads, 0, s, x, rows, dim, w, eps, out);
  if (vec && per <= 4) return launch_pdl(rmsnorm_vec_kernel<T, 4>, n_rows, kNormThreads, 0, s, x, rows, dim, w, eps, out);
  if (vec && per <= 8) return launch_pdl(rmsnorm_vec_kernel<T, 8>, n_rows, kNormThreads, 0, s, x, rows, dim, w, eps, out);
  launch_pdl(rmsnorm_kernel<T>, n_rows, dim >= 1024 ? 512 : 128, 0, s, x, rows, dim, w, eps, out);
}

void launch_rmsnorm(ActType act, const float* x, const int32_t* rows, int32_t n_rows, int32_t dim, const float* w,
                    float eps, void* out, cudaStream_t s, bool vectorized) {
  if (n_rows <= 0) return;
  switch (act) {
    case ActType::kF32: launch_rmsnorm_as(x, rows, n_rows, dim, w, eps, static_cast<float*>(out), s, vectorized); break;
    case ActType::kF16: launch_rmsnorm_as(x, rows, n_rows, dim, w, eps, static_cast<__half*>(out), s, vectorized); break;
    case ActType::kBF16:
      launch_rmsnorm_as(x, rows, n_rows, dim, w, eps, static_cast<__nv_bfloat16*>(out), s, vectorized);
      break;
  }
}

void launch_rope_store(ActType act, const RopeStoreArgs& a, cudaStream_t s) {
  if (a.n_tokens <= 0) return;
  switch (act) {
    case ActType::kF32: launch_pdl(rope_store_kernel<float>, a.n_tokens, 256, 0, s, a); break;
    case ActType::kF16: launch_pdl(rope_store_kernel<__half>, a.n_tokens, 256, 0, s, a); break;
    case ActType::kBF16: launch_pdl(rope_store_kernel<__nv_bfloat16>, a.n_tokens, 256, 0, s, a); break;
  }
}

void launch_swiglu(ActType act, const void* gu, int32_t n_tokens, int32_t hidden, void* h, cudaStream_t s) {
  if (n_tokens <= 0) return;
  const dim3 grid(n_tokens, static_cast<unsigned>(ceil_div(hidden, 256)));
  switch (act) {
    case ActType::kF32: launch_pdl(swiglu_kernel<float>, grid, 256, 0, s, static_cast<const float*>(gu), hidden, static_cast<float*>(h)); break;
    case ActType::kF16: launch_pdl(swiglu_kernel<__half>, grid, 256, 0, s, static_cast<const __half*>(gu), hidden, static_cast<__half*>(h)); break;
    case ActType::kBF16:
      launch_pdl(swiglu_kernel<__nv_bfloat16>, grid, 256, 0, s, static_cast<const __nv_bfloat16*>(gu), hidden, static_cast<__nv_bfloat16*>(h));
      break;
  }
}

}  // namespace effitune::engine::cuda
