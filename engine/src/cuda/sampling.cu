#include <algorithm>
#include <cfloat>
#include <climits>

#include "common.cuh"
#include "gemv_detail.cuh"
#include "sampling.cuh"
#include "sampling/philox.h"

namespace effitune::engine::cuda {
namespace {

using u64 = unsigned long long;

constexpr int kThreads = 1024;  // one CTA per row; the bin scans below assume exactly this many threads
constexpr int kWarps = kThreads / 32;
constexpr int kPasses = 3;       // radix digits of 11, 11 and 10 bits over a 32-bit key
constexpr int kMaxBins = 1 << 11;
// Probabilities relative to the row's maximum (in (0, 1]) become integers in units of 2^-40: a row of
// 2^17 tokens sums below 2^57, every partial sum is exact, and integer atomics make the histograms
// independent of the order in which threads add. A token whose probability is below 2^-41 of the
// top token's weighs 0 and is never drawn (at most 2^17 * 2^-41 = 6e-8 of the mass in all).
constexpr float kFixedScale = 1099511627776.0f;  // 2^40

__device__ __forceinline__ int digit_bits(int pass) { return pass < 2 ? 11 : 10; }
__device__ __forceinline__ int digit_shift(int pass) { return pass == 0 ? 21 : pass == 1 ? 10 : 0; }

// Unsigned keys in the order of the floats (+0 for -0, so that equal values tie as in Sampler).
__device__ __forceinline__ uint32_t order_key(float f) {
  const uint32_t b = __float_as_uint(f + 0.0f);
  return (b & 0x80000000u) ? ~b : (b | 0x80000000u);
}
__device__ __forceinline__ float key_value(uint32_t k) {
  return __uint_as_float((k & 0x80000000u) ? (k & 0x7fffffffu) : ~k);
}

// The members of a candidate set: keys above `key`, and ids up to `id` among those equal to it.
struct Cut {
  uint32_t key;
  int32_t id;
  __device__ bool has(uint32_t k, int32_t i) const { return k > key || (k == key && i <= id); }
};

// A token's weight in a selection: 1 (counting, for top-k) or its fixed-point probability at the
// row's temperature. Why f32 suffices: (l - max) is exact or within half an ulp of a number below
// ~100, times 1/T adds one rounding, and expf is within 2 ulp: each weight is within ~1e-6 relative
// of the float64 value, far below what 20,000-draw goodness-of-fit tests (or users) can see.
struct Weigher {
  float mx, inv_t;
  bool unit;
  __device__ u64 operator()(float l) const {
    if (unit) return 1;
    const float d = l - mx;
    if (d == 0.0f) return static_cast<u64>(kFixedScale);  // also when 1/T overflowed to inf
    return __float2ull_rn(expf(d * inv_t) * kFixedScale);
  }
};

struct Smem {
  // A histogram of 64-bit sums as two 32-bit halves: 32-bit shared atomics, the carry out of the
  // low half added to the high half by the thread that caused it (exact).
  unsigned hist_lo[kMaxBins], hist_hi[kMaxBins];
  u64 warp_sum[kWarps];
  u64 total, above, pick_mass;
  int pick_bin, tie_id;
  int warp_cnt[kWarps];
  float red_v[kWarps];
  int red_i[kWarps];
  double red_d[kWarps];
};

// Calls f(i, row[i]) for this thread's share of the row. One CTA streams a whole row from L2 with
// one load in flight per thread unless the loads are issued ahead of the work (atomics stop the
// compiler from doing so): kAhead loads per thread per round keep enough bytes in flight.
constexpr int kAhead = 8;
template <typename F>
__device__ __forceinline__ void for_each_in_row(const float* __restrict__ row, int32_t vocab, F&& f) {
  for (int base = 0; base < vocab; base += kThreads * kAhead) {
    float v[kAhead];
#pragma unroll
    for (int u = 0; u < kAhead; ++u) {
      const int i = base + u * kThreads + static_cast<int>(threadIdx.x);
      v[u] = i < vocab ? __ldg(row + i) : 0.0f;
    }
#pragma unroll
    for (int u = 0; u < kAhead; ++u) {
      const int i = base + u * kThreads + static_cast<int>(threadIdx.x);
      if (i < vocab) f(i, v[u]);
    }
  }
}

__device__ __forceinline__ void better(float& v, int& i, float ov, int oi) {
  if (ov > v || (ov == v && oi < i)) {
    v = ov;
    i = oi;
  }
}

// The row's maximum and its lowest index, in every thread.
__device__ void block_argmax(const float* row, int32_t vocab, Smem& sh, float& mx, int& am) {
  float v = -FLT_MAX;
  int idx = vocab;
  for_each_in_row(row, vocab, [&](int i, float l) { better(v, idx, l, i); });
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) better(v, idx, __shfl_xor_sync(0xffffffffu, v, o), __shfl_xor_sync(0xffffffffu, idx, o));
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) sh.red_v[warp] = v, sh.red_i[warp] = idx;
  __syncthreads();
  v = sh.red_v[lane];
  idx = sh.red_i[lane];
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) better(v, idx, __shfl_xor_sync(0xffffffffu, v, o), __shfl_xor_sync(0xffffffffu, idx, o));
  __syncthreads();  // red_* is reused by the caller's next reduction
  mx = v;
  am = idx < vocab ? idx : 0;
}

__device__ double block_sum_double(double x, Smem& sh) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) x += __shfl_xor_sync(0xffffffffu, x, o);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) sh.red_d[warp] = x;
  __syncthreads();
  x = sh.red_d[lane];
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) x += __shfl_xor_sync(0xffffffffu, x, o);
  __syncthreads();
  return x;
}

// Sum of `s` over the threads after this one; sh.total gets the sum over all threads.
__device__ u64 block_suffix_excl(u64 s, Smem& sh) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  u64 v = s;
#pragma unroll
  for (int o = 1; o < 32; o <<= 1) {
    const u64 n = __shfl_down_sync(0xffffffffu, v, o);
    if (lane + o < 32) v += n;
  }
  if (lane == 0) sh.warp_sum[warp] = v;
  __syncthreads();
  if (warp == 0) {
    const u64 w = sh.warp_sum[lane];
    u64 x = w;
#pragma unroll
    for (int o = 1; o < 32; o <<= 1) {
      const u64 n = __shfl_down_sync(0xffffffffu, x, o);
      if (lane + o < 32) x += n;
    }
    sh.warp_sum[lane] = x - w;
    if (lane == 0) sh.total = x;
  }
  __syncthreads();
  return (v - s) + sh.warp_sum[warp];
}

__device__ __forceinline__ void hist_add(Smem& sh, uint32_t b, u64 w) {
  const unsigned lo = static_cast<unsigned>(w);
  unsigned carry = 0;
  if (lo != 0) {
    const unsigned old = atomicAdd(&sh.hist_lo[b], lo);
    carry = old + lo < old ? 1u : 0u;
  }
  const unsigned hi = static_cast<unsigned>(w >> 32) + carry;
  if (hi != 0) atomicAdd(&sh.hist_hi[b], hi);
}
__device__ __forceinline__ u64 hist_at(const Smem& sh, int b) {
  return (static_cast<u64>(sh.hist_hi[b]) << 32) + sh.hist_lo[b];
}

// The n-th (1-based) lowest id among the set's members whose key is `key`: an in-order pass that
// stops once it is found (only reached when the boundary key is shared by several tokens).
__device__ int nth_member(const float* row, int32_t vocab, uint32_t key, Cut set, u64 n, Smem& sh) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (threadIdx.x == 0) sh.tie_id = -1;
  u64 base = 0;
  for (int start = 0; start < vocab; start += kThreads) {
    const int i = start + threadIdx.x;
    const bool f = i < vocab && order_key(row[i]) == key && set.has(key, i);
    const unsigned ballot = __ballot_sync(0xffffffffu, f);
    if (lane == 0) sh.warp_cnt[warp] = __popc(ballot);
    __syncthreads();
    int before = 0, total = 0;
    for (int w = 0; w < kWarps; ++w) {
      const int c = sh.warp_cnt[w];
      before += w < warp ? c : 0;
      total += c;
    }
    if (f && base + before + __popc(ballot & ((1u << lane) - 1u)) + 1 == n) sh.tie_id = i;
    base += total;
    __syncthreads();
    if (sh.tie_id >= 0) break;
  }
  return sh.tie_id;
}

// The highest id among the set's members whose key is `key`.
__device__ int last_member(const float* row, int32_t vocab, uint32_t key, Cut set, Smem& sh) {
  if (threadIdx.x == 0) sh.tie_id = -1;
  __syncthreads();
  for_each_in_row(row, vocab, [&](int i, float l) {
    if (order_key(l) == key && set.has(key, i)) atomicMax(&sh.tie_id, i);
  });
  __syncthreads();
  return sh.tie_id;
}

// Radix select by weight. Orders the set's members by (key descending, id ascending) and returns the
// cut ending at the member where the running weight first reaches target_of(total weight), clamped to
// [1, total]: the k-th largest for unit weights and target k, the top-p boundary, or the drawn token.
// Each pass histograms one digit of the members that share the digits chosen so far; a tie on the
// final key is split by id. `exact_id` makes the returned id the chosen member's own (the draw).
template <typename TargetFn>
__device__ Cut radix_select(const float* row, int32_t vocab, Cut set, Weigher wf, TargetFn target_of, bool exact_id,
                            Smem& sh) {
  uint32_t prefix = 0, mask = 0;
  u64 target = 0;
  for (int pass = 0; pass < kPasses; ++pass) {
    const int shift = digit_shift(pass), nb = 1 << digit_bits(pass);
    for (int b = threadIdx.x; b < nb; b += kThreads) sh.hist_lo[b] = sh.hist_hi[b] = 0;
    __syncthreads();
    for_each_in_row(row, vocab, [&](int i, float l) {
      const uint32_t k = order_key(l);
      if ((k & mask) != prefix || !set.has(k, i)) return;
      const u64 w = wf(l);
      if (w != 0) hist_add(sh, (k >> shift) & (nb - 1), w);
    });
    __syncthreads();
    const int per = nb / kThreads;
    const int first = threadIdx.x * per;
    u64 local = 0;
    for (int j = 0; j < per; ++j) local += hist_at(sh, first + j);
    u64 above = block_suffix_excl(local, sh);
    if (pass == 0) {
      const u64 total = sh.total;
      target = target_of(total);
      target = target < 1 ? 1 : target > total ? total : target;
    }
    for (int j = per - 1; j >= 0; --j) {
      const u64 h = hist_at(sh, first + j);
      if (above < target && target <= above + h) {
        sh.pick_bin = first + j;
        sh.above = above;
        sh.pick_mass = h;
      }
      above += h;
    }
    __syncthreads();
    target -= sh.above;
    prefix |= static_cast<uint32_t>(sh.pick_bin) << shift;
    mask |= static_cast<uint32_t>(nb - 1) << shift;
    __syncthreads();  // everyone has read pick_* and hist before the next pass clears them
  }
  // Every member with the final key weighs the same w: `group` of them, the first `need` in id order.
  const u64 w = wf(key_value(prefix));
  const u64 group = sh.pick_mass / w, need = (target + w - 1) / w;
  if (need < group) return {prefix, nth_member(row, vocab, prefix, set, need, sh)};
  if (exact_id) return {prefix, last_member(row, vocab, prefix, set, sh)};
  return {prefix, prefix == set.key ? set.id : INT_MAX};
}

__global__ void __launch_bounds__(kThreads) argmax_kernel(const float* logits, int32_t vocab, int32_t* out) {
  __shared__ Smem sh;
  float mx;
  int am;
  block_argmax(logits + static_cast<int64_t>(blockIdx.x) * vocab, vocab, sh, mx, am);
  if (threadIdx.x == 0) out[blockIdx.x] = am;
}

__global__ void __launch_bounds__(kThreads)
    argmax_keys_kernel(const float* logits, int32_t width, int64_t ld, unsigned long long* keys) {
  __shared__ Smem sh;
  float mx;
  int am;
  block_argmax(logits + static_cast<int64_t>(blockIdx.x) * ld, width, sh, mx, am);
  if (threadIdx.x == 0) keys[blockIdx.x] = gemv_detail::argmax_key(mx, am);
}

__global__ void __launch_bounds__(kThreads)
    sample_kernel(const float* logits, int32_t vocab, int64_t stride, const RowSampling* params, int32_t* out) {
  __shared__ Smem sh;
  const float* row = logits + static_cast<int64_t>(blockIdx.x) * stride;
  const RowSampling p = params[blockIdx.x];
  float mx;
  int am;
  block_argmax(row, vocab, sh, mx, am);
  if (!(p.temperature > 0.0f) || p.top_k == 1 || !isfinite(mx)) {
    if (threadIdx.x == 0) out[blockIdx.x] = am;
    return;
  }
  Cut set{0u, INT_MAX};
  if (p.top_k > 0 && p.top_k < vocab) {
    const u64 k = static_cast<u64>(p.top_k);
    set = radix_select(row, vocab, set, Weigher{mx, 1.0f, true}, [k](u64) { return k; }, false, sh);
  }
  const Weigher prob{mx, 1.0f / p.temperature, false};
  if (p.top_p < 1.0f) {
    const double top_p = p.top_p;
    set = radix_select(
        row, vocab, set, prob, [top_p](u64 total) { return static_cast<u64>(ceil(top_p * static_cast<double>(total))); },
        false, sh);
  }
  // floor(bits * W / 2^64) is uniform on [0, W) up to 2^-64 per unit; +1 makes it a 1-based target.
  const u64 bits = philox_u64(p.seed, p.counter);
  const Cut pick = radix_select(row, vocab, set, prob, [bits](u64 total) { return __umul64hi(bits, total) + 1; }, true, sh);
  if (threadIdx.x == 0) out[blockIdx.x] = pick.id;
}

__global__ void __launch_bounds__(kThreads)
    topk_logprobs_kernel(const float* logits, int32_t vocab, int32_t k, int32_t* ids, float* logprobs) {
  __shared__ Smem sh;
  __shared__ float top_v[kMaxTopK];
  __shared__ int top_i[kMaxTopK];
  __shared__ int top_n;
  const float* row = logits + static_cast<int64_t>(blockIdx.x) * vocab;
  float mx;
  int am;
  block_argmax(row, vocab, sh, mx, am);
  // f32 exponentials of (l - max) <= 0, summed in double: the log-sum-exp is within ~1e-7 absolute.
  double acc = 0;
  for_each_in_row(row, vocab, [&](int, float l) { acc += expf(l - mx); });
  const double lse = static_cast<double>(mx) + log(block_sum_double(acc, sh));
  Cut set{0u, INT_MAX};
  if (k < vocab) set = radix_select(row, vocab, set, Weigher{mx, 1.0f, true}, [k](u64) { return static_cast<u64>(k); }, false, sh);
  if (threadIdx.x == 0) top_n = 0;
  __syncthreads();
  for_each_in_row(row, vocab, [&](int i, float l) {
    if (!set.has(order_key(l), i)) return;
    const int slot = atomicAdd(&top_n, 1);
    if (slot < kMaxTopK) top_v[slot] = l, top_i[slot] = i;
  });
  __syncthreads();
  const int n = top_n < k ? top_n : k;
  if (static_cast<int>(threadIdx.x) < n) {
    const uint32_t key = order_key(top_v[threadIdx.x]);
    const int id = top_i[threadIdx.x];
    int rank = 0;
    for (int j = 0; j < n; ++j) {
      const uint32_t kj = order_key(top_v[j]);
      rank += (kj > key || (kj == key && top_i[j] < id)) ? 1 : 0;
    }
    const int64_t o = static_cast<int64_t>(blockIdx.x) * k + rank;
    ids[o] = id;
    logprobs[o] = static_cast<float>(static_cast<double>(top_v[threadIdx.x]) - lse);
  }
}

}  // namespace

void launch_argmax(const float* logits, int32_t rows, int32_t vocab, int32_t* out, cudaStream_t s) {
  if (rows > 0) argmax_kernel<<<rows, kThreads, 0, s>>>(logits, vocab, out);
}

void launch_argmax_keys(const float* logits, int32_t rows, int32_t width, int64_t ld, unsigned long long* keys,
                        cudaStream_t s) {
  if (rows > 0) argmax_keys_kernel<<<rows, kThreads, 0, s>>>(logits, width, ld, keys);
}

void launch_sample(const float* logits, int32_t rows, int32_t vocab, const RowSampling* params, int32_t* out,
                   cudaStream_t s, int64_t row_stride) {
  if (rows > 0) sample_kernel<<<rows, kThreads, 0, s>>>(logits, vocab, row_stride < 0 ? vocab : row_stride, params, out);
}

void launch_topk_logprobs(const float* logits, int32_t rows, int32_t vocab, int32_t k, int32_t* ids, float* logprobs,
                          cudaStream_t s) {
  if (rows > 0 && k > 0) topk_logprobs_kernel<<<rows, kThreads, 0, s>>>(logits, vocab, k, ids, logprobs);
}

SamplingBuffers::~SamplingBuffers() { release(); }

void SamplingBuffers::release() {
  cudaFreeHost(host_params_);
  cudaFree(params_);
  cudaFree(ids_);
  cudaFree(logprobs_);
  host_params_ = nullptr, params_ = nullptr, ids_ = nullptr, logprobs_ = nullptr;
  rows_cap_ = topk_cap_ = 0;
}

Status SamplingBuffers::reserve(int64_t rows, int32_t k, cudaStream_t s) {
  const int64_t topk = rows * k;
  if (params_ != nullptr && rows <= rows_cap_ && topk <= topk_cap_) return {};
  int64_t rows_cap = std::max<int64_t>(64, rows_cap_), topk_cap = std::max<int64_t>(64, topk_cap_);
  while (rows_cap < rows) rows_cap *= 2;
  while (topk_cap < topk) topk_cap *= 2;
  CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(s));
  release();
  CUDA_RETURN_IF_ERROR(cudaMallocHost(&host_params_, rows_cap * sizeof(RowSampling)));
  CUDA_RETURN_IF_ERROR(cudaMalloc(&params_, rows_cap * sizeof(RowSampling)));
  CUDA_RETURN_IF_ERROR(cudaMalloc(&ids_, topk_cap * sizeof(int32_t)));
  CUDA_RETURN_IF_ERROR(cudaMalloc(&logprobs_, topk_cap * sizeof(float)));
  rows_cap_ = rows_cap, topk_cap_ = topk_cap;
  return {};
}

}  // namespace effitune::engine::cuda
