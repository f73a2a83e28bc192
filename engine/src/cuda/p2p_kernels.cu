// The exchange kernels behind p2p_comm.cu's communicator (the protocol is described there and in
// p2p_kernels.cuh): the one-shot all-reduce (pull: stage, signal, wait, sum in rank order) and the
// residual update with its fused RMSNorm (push by default: a Lamport-style exchange in which the data
// is its own arrival signal), their watchdog and their EFFITUNE_TP_PROFILE time stamps.
#include <cuda_runtime.h>

#include "common.cuh"
#include "p2p_kernels.cuh"

namespace effitune::engine::cuda::p2p {
namespace {

__device__ __forceinline__ void store_release(uint32_t* p, uint32_t v) {
  asm volatile("st.release.sys.global.u32 [%0], %1;" ::"l"(p), "r"(v) : "memory");
}
__device__ __forceinline__ uint32_t load_acquire(const uint32_t* p) {
  uint32_t v;
  asm volatile("ld.acquire.sys.global.u32 %0, [%1];" : "=r"(v) : "l"(p) : "memory");
  return v;
}

// The watchdog of every spin below: a rank whose peer never delivers (its launch failed, or its
// host thread is stuck) gives up after timeout_ns, reports once in its P2pWatch and goes on with
// wrong sums; the host then fails the step and every later one (HybridCommunicator::check). The
// clock is read only every 256 failed polls, so a wait that ends quickly costs nothing.
__device__ __forceinline__ uint64_t global_ns() {
  uint64_t t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  return t;
}
__device__ __forceinline__ bool spin_expired(uint32_t& polls, uint64_t& t0, uint64_t timeout_ns) {
  if ((++polls & 255u) != 0) return false;
  const uint64_t now = global_ns();
  if (t0 == 0) t0 = now;
  return now - t0 > timeout_ns;
}
__device__ __noinline__ void report_timeout(P2pWatch* w, uint32_t* claim, uint32_t kind, uint32_t peer, uint32_t cta,
                                           uint32_t detail) {
  if (w == nullptr || claim == nullptr || atomicCAS(claim, 0u, 1u) != 0u) return;
  w->kind = kind, w->peer = peer, w->cta = cta, w->detail = detail;
  __threadfence_system();
  w->fired = 1u;
  __threadfence_system();
}

// Copies float4s [lo, hi) of src to dst with kUnroll independent 16-byte loads per thread before
// the first store: the compiler cannot move a load above a store that may alias it, so a plain loop
// paid one (NVLink) round trip per iteration, ~10 us for the 1 MB messages of batch 64.
__device__ __forceinline__ void copy_range(const float4* src, float4* dst, int64_t lo, int64_t hi) {
  for (int64_t i0 = lo + threadIdx.x; i0 < hi; i0 += static_cast<int64_t>(blockDim.x) * kUnroll) {
    float4 v[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int64_t i = i0 + static_cast<int64_t>(u) * blockDim.x;
      if (i < hi) v[u] = src[i];
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int64_t i = i0 + static_cast<int64_t>(u) * blockDim.x;
      if (i < hi) dst[i] = v[u];
    }
  }
}

// Calls f(q, u, i) for every rank q < a.n (kN at most) and unit i = first + u * blockDim.x before
// `end`, fully unrolled so that callers can index register arrays by q and u.
template <int kN, int U, typename F>
__device__ __forceinline__ void for_rank_units(const P2pArgs& a, int64_t first, int64_t end, F&& f) {
#pragma unroll
  for (int q = 0; q < kN; ++q) {
    if (q >= a.n) break;
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int64_t i = first + static_cast<int64_t>(u) * blockDim.x;
      if (i < end) f(q, u, i);
    }
  }
}

// v[q][u] = rank q's staged 16-byte unit first + u * blockDim.x of the slot, for q < a.n and units
// before `end`: every rank's loads are issued before any is used, one NVLink round trip in all
// (adding each rank's values before loading the next rank's paid a round trip per rank).
// Rank q's data starts at its slot + q * rank_stride floats (0 for all_reduce_sum).
template <int kN, int U, typename V>
__device__ __forceinline__ void load_ranks(const P2pArgs& a, int64_t slot, int64_t rank_stride, int64_t first,
                                           int64_t end, V (&v)[kN][U]) {
  for_rank_units<kN, U>(a, first, end, [&](int q, int u, int64_t i) {
    v[q][u] = __ldcg(reinterpret_cast<const V*>(a.bufs[q] + slot + q * rank_stride) + i);
  });
}

// data[i] = sum over ranks q (in rank order) of rank q's staged float4 i, for i in [lo, hi);
// returns this thread's sum of squares of what it wrote. kN * U = 16 float4s in flight per thread
// (load_ranks); kN >= a.n, ranks past a.n are skipped.
template <int kN>
__device__ __forceinline__ float sum_range(const P2pArgs& a, int64_t slot, float4* data, int64_t lo, int64_t hi) {
  constexpr int U = 16 / kN;
  float ss = 0.0f;
  for (int64_t i0 = lo + threadIdx.x; i0 < hi; i0 += static_cast<int64_t>(blockDim.x) * U) {
    float4 v[kN][U];
    load_ranks(a, slot, 0, i0, hi, v);
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int64_t i = i0 + static_cast<int64_t>(u) * blockDim.x;
      if (i >= hi) break;
      float4 acc = v[0][u];
#pragma unroll
      for (int q = 1; q < kN; ++q) {
        if (q >= a.n) break;
        acc.x += v[q][u].x, acc.y += v[q][u].y, acc.z += v[q][u].z, acc.w += v[q][u].w;
      }
      data[i] = acc;
      ss += acc.x * acc.x + acc.y * acc.y + acc.z * acc.z + acc.w * acc.w;
    }
  }
  return ss;
}

// The push exchange (a "Lamport" one-shot, as TensorRT-LLM's low-latency all-reduce does): a rank
// stores its partial straight into every other rank's slot over NVLink (posted writes, no round
// trip) and then reads only its own memory, spinning until no 32-bit word of a unit still holds the
// sentinel the slot was filled with; the data is its own arrival signal, so there is no flag and no
// release/acquire pair. After reading, the receiver writes the sentinel back. A partial word equal to
// the sentinel (an all-ones NaN) is sent as another NaN so that it cannot pass for "not yet".
constexpr uint32_t kSentinel = 0xFFFFFFFFu;
__device__ __forceinline__ uint32_t canon(uint32_t w) { return w == kSentinel ? 0x7FC07FC0u : w; }
__device__ __forceinline__ uint4 canon(uint4 v) { return make_uint4(canon(v.x), canon(v.y), canon(v.z), canon(v.w)); }
__device__ __forceinline__ bool arrived(uint4 v) {
  return v.x != kSentinel && v.y != kSentinel && v.z != kSentinel && v.w != kSentinel;
}
__device__ __forceinline__ uint4 ld_volatile16(const void* p) {
  uint4 r;
  asm volatile("ld.volatile.global.v4.u32 {%0,%1,%2,%3}, [%4];" : "=r"(r.x), "=r"(r.y), "=r"(r.z), "=r"(r.w) : "l"(p));
  return r;
}

// Sends this rank's units [lo, hi) of the partial (its own copy, `own`) to every other rank's slot.
// The destinations are read into registers first: stores through pointers taken from `a` inside the
// loop make the compiler keep all of `a` in local memory.
__device__ __forceinline__ void push_send(const P2pArgs& a, int64_t slot, const uint4* own, int64_t lo, int64_t hi) {
  uint4* dst[kMaxRanks];
#pragma unroll
  for (int q = 0; q < kMaxRanks; ++q)
    dst[q] = q < a.n && q != a.rank ? reinterpret_cast<uint4*>(a.bufs[q] + slot + a.rank * a.stride) : nullptr;
  for (int64_t i = lo + threadIdx.x; i < hi; i += blockDim.x) {
    const uint4 v = canon(own[i]);
#pragma unroll
    for (int q = 0; q < kMaxRanks; ++q)
      if (dst[q] != nullptr) dst[q][i] = v;
  }
}

// Spins on one unit of this rank's slot until a peer's store has landed in all of it. Not inlined:
// a loop inside push_load_ranks' unrolled loops would keep them rolled and v in local memory.
__device__ __noinline__ uint4 wait_arrival(const uint4* p, P2pWatch* watch, uint32_t* claim, uint64_t timeout_ns,
                                           uint32_t peer, uint32_t unit) {
  uint4 w;
  uint32_t polls = 0;
  uint64_t t0 = 0;
  do {
    w = ld_volatile16(p);
    if (!arrived(w) && spin_expired(polls, t0, timeout_ns)) {
      report_timeout(watch, claim, 2, peer, blockIdx.x, unit);
      break;
    }
  } while (!arrived(w));
  return w;
}

// load_ranks for the push exchange: this rank's own partial from `a.partial`, the others' from this
// rank's slot once they have arrived; then the slot's units go back to the sentinel for a later call.
template <int kN, int U>
__device__ __forceinline__ void push_load_ranks(const P2pArgs& a, int64_t slot, int64_t first, int64_t end,
                                                uint4 (&v)[kN][U]) {
  const uint4* own = static_cast<const uint4*>(a.partial);
  for_rank_units<kN, U>(a, first, end, [&](int q, int u, int64_t i) {
    v[q][u] = q == a.rank ? canon(__ldcg(own + i))
                          : ld_volatile16(reinterpret_cast<const uint4*>(a.own + slot + q * a.stride) + i);
  });
  for_rank_units<kN, U>(a, first, end, [&](int q, int u, int64_t i) {
    if (q == a.rank) return;
    uint4* p = reinterpret_cast<uint4*>(a.own + slot + q * a.stride) + i;
    if (!arrived(v[q][u])) v[q][u] = wait_arrival(p, a.watch, a.claim, a.timeout_ns, q, static_cast<uint32_t>(i));
    *p = make_uint4(kSentinel, kSentinel, kSentinel, kSentinel);
  });
}

// Row r of all_reduce_add: x[r] += every rank's staged partial row (type P, 16-byte units of kE
// elements) in rank order, in f32; returns this thread's sum of squares of the new x values. With
// f32 partials this is the bits of all_reduce_sum over (x + partial on rank 0, partial elsewhere).
template <int kN, typename P>
__device__ __forceinline__ float add_row(const P2pArgs& a, int64_t slot, int64_t r) {
  constexpr int kE = 16 / sizeof(P), U = kN >= 8 ? 1 : 8 / kN;
  const int64_t units = a.dim / kE, base = r * units;
  float4* x = reinterpret_cast<float4*>(a.data + r * a.dim);
  float ss = 0.0f;
  for (int64_t u0 = threadIdx.x; u0 < units; u0 += static_cast<int64_t>(blockDim.x) * U) {
    uint4 v[kN][U];
    float4 xv[U][kE / 4];
    if (a.push) push_load_ranks(a, slot, base + u0, base + units, v);
    else load_ranks(a, slot, a.stride, base + u0, base + units, v);
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int64_t i = u0 + static_cast<int64_t>(u) * blockDim.x;
#pragma unroll
      for (int j = 0; j < kE / 4; ++j)
        if (i < units) xv[u][j] = x[i * (kE / 4) + j];
    }
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int64_t i = u0 + static_cast<int64_t>(u) * blockDim.x;
      if (i >= units) break;
      float acc[kE];
#pragma unroll
      for (int j = 0; j < kE / 4; ++j)
        acc[4 * j] = xv[u][j].x, acc[4 * j + 1] = xv[u][j].y, acc[4 * j + 2] = xv[u][j].z, acc[4 * j + 3] = xv[u][j].w;
#pragma unroll
      for (int q = 0; q < kN; ++q) {
        if (q >= a.n) break;
        float p[kE];
        unpack16(v[q][u], P{}, p);
#pragma unroll
        for (int e = 0; e < kE; ++e) acc[e] += p[e];
      }
#pragma unroll
      for (int j = 0; j < kE / 4; ++j) x[i * (kE / 4) + j] = make_float4(acc[4 * j], acc[4 * j + 1], acc[4 * j + 2], acc[4 * j + 3]);
#pragma unroll
      for (int e = 0; e < kE; ++e) ss += acc[e] * acc[e];
    }
  }
  return ss;
}

// acc[e] += every rank's unit v[q][0] (type P), in rank order: the order that gives every rank the
// same bits.
template <int kN, typename P, int kE>
__device__ __forceinline__ void add_rank_units(const P2pArgs& a, const uint4 (&v)[kN][1], float (&acc)[kE]) {
#pragma unroll
  for (int q = 0; q < kN; ++q) {
    if (q >= a.n) break;
    float p[kE];
    unpack16(v[q][0], P{}, p);
#pragma unroll
    for (int e = 0; e < kE; ++e) acc[e] += p[e];
  }
}

// add_row for a row of at most blockDim.x units (one per thread: dim 4096 in bf16 partials),
// keeping what this thread wrote to x (its unit, threadIdx.x) in `kept`: the same additions in the
// same order as add_row, so the same bits. The push exchange of the row happens here too, with the
// residual loaded before it, so that the row costs as few dependent memory round trips as the
// exchange allows: load (partial and residual together), send, await the peers, add, store.
template <int kN, typename P, int kE>
__device__ __forceinline__ float add_row_kept(const P2pArgs& a, int64_t slot, int64_t r, float (&kept)[kE]) {
  const int64_t units = a.dim / kE, base = r * units, i = threadIdx.x;
  if (i >= units) return 0.0f;
  float4* x = reinterpret_cast<float4*>(a.data + r * a.dim);
  float4 xv[kE / 4];
#pragma unroll
  for (int j = 0; j < kE / 4; ++j) xv[j] = x[i * (kE / 4) + j];
  uint4 v[kN][1];
  if (a.push) {
    push_send(a, slot, static_cast<const uint4*>(a.partial), base, base + units);
    push_load_ranks(a, slot, base + i, base + i + 1, v);
  } else {
    load_ranks(a, slot, a.stride, base + i, base + i + 1, v);
  }
#pragma unroll
  for (int j = 0; j < kE / 4; ++j) kept[4 * j] = xv[j].x, kept[4 * j + 1] = xv[j].y, kept[4 * j + 2] = xv[j].z, kept[4 * j + 3] = xv[j].w;
  add_rank_units<kN, P>(a, v, kept);
#pragma unroll
  for (int j = 0; j < kE / 4; ++j)
    x[i * (kE / 4) + j] = make_float4(kept[4 * j], kept[4 * j + 1], kept[4 * j + 2], kept[4 * j + 3]);
  float ss = 0.0f;
#pragma unroll
  for (int e = 0; e < kE; ++e) ss += kept[e] * kept[e];
  return ss;
}

// This CTA's call number (the previous call's + 1); every thread gets it.
__device__ __forceinline__ uint32_t next_call(const P2pArgs& a) {
  __shared__ uint32_t call_s;
  if (threadIdx.x == 0) call_s = a.calls[blockIdx.x] + 1;
  __syncthreads();
  return call_s;
}

// After this CTA's part is staged: thread q tells rank q that it is in place, then waits for rank q's
// signal of the same call. Every thread of the CTA calls it (barriers on both sides).
__device__ __forceinline__ void signal_and_wait(const P2pArgs& a, uint32_t call) {
  const int b = blockIdx.x, tid = threadIdx.x;
  __syncthreads();
  if (tid < a.n) {
    store_release(a.flags[tid] + b * kMaxRanks + a.rank, call);
    const uint32_t* from = a.flags[a.rank] + b * kMaxRanks + tid;
    // Wrap-safe "not yet": a fast peer may already have signalled call + 1.
    uint32_t polls = 0;
    uint64_t t0 = 0;
    while (static_cast<int32_t>(load_acquire(from) - call) < 0) {
      if (spin_expired(polls, t0, a.timeout_ns)) {
        report_timeout(a.watch, a.claim, 1, tid, b, call);
        break;
      }
    }
  }
  __syncthreads();
}

// all_reduce_sum: CTA b owns one slice of the elements.
template <int kN>
__global__ void __launch_bounds__(kThreads) p2p_all_reduce_kernel(P2pArgs a) {
  // Launched with launch_pdl like the backend's kernels, so that neither side of an all-reduce is
  // a full drain-and-launch boundary in the decode graph.
  pdl_trigger();
  pdl_wait();
  const int b = blockIdx.x;
  const uint32_t call = next_call(a);
  const int64_t slot = (call & 1) * kMaxFloats;
  float4* data = reinterpret_cast<float4*>(a.data);
  const int64_t vecs = a.count / 4, per = (vecs + gridDim.x - 1) / gridDim.x;
  const int64_t lo = min(vecs, b * per), hi = min(vecs, lo + per);
  copy_range(data, reinterpret_cast<float4*>(a.bufs[a.rank] + slot), lo, hi);
  signal_and_wait(a, call);
  sum_range<kN>(a, slot, data, lo, hi);
  if (threadIdx.x == 0) a.calls[b] = call;
}

// The call's time stamps, in shared memory rather than registers: only CTA 0's thread 0 takes them,
// and three 64-bit values live across the whole kernel cost the exchange registers (spills) even
// when nobody profiles (the TP=2 register variant spilled 48 bytes, TP=8 112; now 0 and 24).
enum ExchangeStamp { kStampStart, kStampWaited, kStampExchanged, kStamps };
__device__ __forceinline__ void stamp(const P2pArgs& a, uint64_t* stamps, int which) {
  if (a.prof != nullptr && blockIdx.x == 0 && threadIdx.x == 0) stamps[which] = global_ns();
}
__device__ __forceinline__ void profile_call(const P2pArgs& a, const uint64_t* stamps) {
  if (a.prof == nullptr || blockIdx.x != 0 || threadIdx.x != 0) return;
  const uint64_t t_start = stamps[kStampStart], t_waited = stamps[kStampWaited], t_exchanged = stamps[kStampExchanged];
  const uint64_t t_end = global_ns(), last = a.prof[kProfLastEnd], call = a.prof[kProfCalls];
  a.prof[kProfPdl] += t_waited - t_start;
  a.prof[kProfExchange] += t_exchanged - t_waited;
  a.prof[kProfNorm] += t_end - t_exchanged;
  if (last != 0 && t_start > last) {
    const uint64_t gap = t_start - last;
    const int at = gap > kLongGapNs ? kProfGapLong : call % 2 == 0 ? kProfGapAttn : kProfGapMlp;
    a.prof[at] += gap;
    a.prof[at + 1] += 1;
  }
  a.prof[kProfCalls] = call + 1;
  a.prof[kProfLastEnd] = t_end;
}

// The norm of a row whose x values this thread holds (add_row_kept): xn = x * rsqrt(mean(x^2) + eps)
// * w from the registers. Every thread of the CTA calls it (block_sum's barriers).
template <typename T, int kE>
__device__ __forceinline__ void store_norm_kept(const P2pArgs& a, int64_t r, const float (&kept)[kE], float ss,
                                                const float (&w)[kE], float* scratch) {
  const float scale = rsqrtf(block_sum(ss, scratch) / a.dim + a.eps);
  if (threadIdx.x < a.dim / kE) {
    T* out = static_cast<T*>(a.xn) + r * a.dim + threadIdx.x * kE;
#pragma unroll
    for (int e = 0; e < kE; ++e) out[e] = from_f32<T>(kept[e] * scale * w[e]);
  }
}

// 8 bf16 or f16 values from floats, rounded to nearest even: unpack16's inverse for the 16-bit types
// (the two overloads differ only in the pair type and its conversion, as unpack16's do).
__device__ __forceinline__ uint4 pack16(const float* f, __nv_bfloat16) {
  uint4 v;
  __nv_bfloat162* h = reinterpret_cast<__nv_bfloat162*>(&v);
#pragma unroll
  for (int i = 0; i < 4; ++i) h[i] = __floats2bfloat162_rn(f[2 * i], f[2 * i + 1]);
  return v;
}
__device__ __forceinline__ uint4 pack16(const float* f, __half) {
  uint4 v;
  __half2* h = reinterpret_cast<__half2*>(&v);
#pragma unroll
  for (int i = 0; i < 4; ++i) h[i] = __floats2half2_rn(f[2 * i], f[2 * i + 1]);
  return v;
}

// Unit `unit` of rank q's part `section` of the slot in rank q's staging, q known only at run time:
// the pointer is picked by an unrolled select, since indexing a.bufs at run time would make the
// compiler keep all of `a` in local memory (see push_send).
__device__ __forceinline__ uint4* peer_unit(const P2pArgs& a, int q, int64_t slot, int section, int64_t unit) {
  float* base = a.bufs[0];
#pragma unroll
  for (int k = 1; k < kMaxRanks; ++k)
    if (k == q) base = a.bufs[k];
  return reinterpret_cast<uint4*>(base + slot + section * a.stride) + unit;
}

// This rank's unit `unit` of part `section` of its slot once rank `section` has stored it there;
// the unit then goes back to the sentinel for a later call.
__device__ __forceinline__ uint4 take_unit(const P2pArgs& a, int64_t slot, int section, int64_t unit) {
  uint4* p = reinterpret_cast<uint4*>(a.own + slot + section * a.stride) + unit;
  uint4 v = ld_volatile16(p);
  if (!arrived(v)) v = wait_arrival(p, a.watch, a.claim, a.timeout_ns, section, static_cast<uint32_t>(unit));
  *p = make_uint4(kSentinel, kSentinel, kSentinel, kSentinel);
  return v;
}

// The two-shot residual update (P2pArgs::two_shot), for rows of at most one 16-byte unit per thread
// of 16-bit partials, with the norm. Row r belongs to rank r % n. (1) Reduce-scatter: every rank
// stores its partial of each row it does not own in the owner's slot, in the part named after the
// sender. (2) The owner sums every rank's partial of its rows in rank order in f32, rounds the sum
// to P and stores it in every peer's slot, in the part named after the owner (a part that no rank
// writes in step 1 for that row: there only the owner's slot receives the row). (3) Every rank adds
// the rounded sum to its residual row, so the bits agree across ranks, and writes the norm. A rank
// pushes (n - 1) / n of the rows twice instead of every row n - 1 times: half the bytes of the
// one-shot at 4 ranks, 2/7 at 8, for one more NVLink hop; the sum is rounded to P once more than
// the one-shot's (vLLM and TensorRT-LLM all-reduce in the activation type too). Slot reuse stays
// safe: a rank's call k + 1 finishes only after it has the sum (or every partial) of its rows, which
// an owner sends only after every rank has started call k + 1, so every rank has finished call k.
template <typename T, typename P, int kN, int kE>
__device__ __forceinline__ void two_shot_rows(const P2pArgs& a, int64_t slot, const float (&w)[kE], float* scratch,
                                              uint64_t* stamps) {
  const int b = blockIdx.x, i = threadIdx.x;
  const int64_t units = a.dim / kE;
  const bool lane = i < units;
  const uint4* own = static_cast<const uint4*>(a.partial);
  for (int64_t r = b; r < a.rows; r += a.blocks) {
    const int o = static_cast<int>(r % a.n);
    if (o != a.rank && lane) *peer_unit(a, o, slot, a.rank, r * units + i) = canon(__ldcg(own + r * units + i));
  }
  bool first = true;
  for (int pass = 0; pass < 2; ++pass)  // this rank's rows first: the peers wait on their sums
    for (int64_t r = b; r < a.rows; r += a.blocks) {
      const int o = static_cast<int>(r % a.n);
      if ((o == a.rank) != (pass == 0)) continue;
      const int64_t unit = r * units + i;
      float kept[kE];
      float ss = 0.0f;
      if (lane) {
        float4* x = reinterpret_cast<float4*>(a.data + r * a.dim) + i * (kE / 4);
        float4 xv[kE / 4];
#pragma unroll
        for (int j = 0; j < kE / 4; ++j) xv[j] = x[j];
        uint4 sum;
        if (pass == 0) {
          uint4 v[kN][1];
          push_load_ranks(a, slot, unit, unit + 1, v);
          float s[kE] = {};
          add_rank_units<kN, P>(a, v, s);
          sum = canon(pack16(s, P{}));
#pragma unroll
          for (int q = 0; q < kN; ++q)
            if (q < a.n && q != a.rank) *peer_unit(a, q, slot, a.rank, unit) = sum;
        } else {
          sum = take_unit(a, slot, o, unit);
        }
        float s[kE];
        unpack16(sum, P{}, s);
#pragma unroll
        for (int j = 0; j < kE / 4; ++j) {
          kept[4 * j] = xv[j].x + s[4 * j], kept[4 * j + 1] = xv[j].y + s[4 * j + 1];
          kept[4 * j + 2] = xv[j].z + s[4 * j + 2], kept[4 * j + 3] = xv[j].w + s[4 * j + 3];
          x[j] = make_float4(kept[4 * j], kept[4 * j + 1], kept[4 * j + 2], kept[4 * j + 3]);
        }
#pragma unroll
        for (int e = 0; e < kE; ++e) ss += kept[e] * kept[e];
      }
      if (first) stamp(a, stamps, kStampExchanged), first = false;
      store_norm_kept<T, kE>(a, r, kept, ss, w, scratch);
    }
}

// all_reduce_add: CTA b owns rows b, b + grid, ...: stages this rank's partial rows (type P; nothing
// to do when the projection wrote them into the slot itself), then adds every rank's to x and, with
// a norm, writes RMSNorm(x row) * norm_w as T to xn. The slot alternates between two per call,
// chosen by the host: call k + 2 may overwrite call k's slot once every peer has signalled call
// k + 1, which it does only after it has finished reading call k.
// kRegs (rows of at most one 16-byte unit of partials per thread, with a norm: 4096-wide 16-bit
// models): each thread keeps its unit in registers from the load to the xn store, the norm weight is
// read before the PDL wait, and the push exchange sends and receives row by row (add_row_kept).
// kTwoShot (with kRegs and 16-bit partials): two_shot_rows, in a kernel of its own so that the
// one-shot kernels' register allocation stays as it was (it spilled 8-36 bytes with both in one).
template <typename T, typename P, int kN, bool kRegs, bool kTwoShot = false>
__global__ void __launch_bounds__(kThreads) p2p_add_kernel(P2pArgs a) {
  constexpr int kE = 16 / sizeof(P);
  __shared__ uint64_t stamps[kStamps];  // EFFITUNE_TP_PROFILE
  stamp(a, stamps, kStampStart);
  float w[kE];
  if constexpr (kRegs) {
    if (blockIdx.x < a.blocks && threadIdx.x < a.dim / kE) {
#pragma unroll
      for (int e = 0; e < kE; ++e) w[e] = a.norm_w[threadIdx.x * kE + e];
    }
  }
  pdl_trigger();
  pdl_wait();
  stamp(a, stamps, kStampWaited);
  const int b = blockIdx.x, tid = threadIdx.x;
  if (b >= a.blocks) {
    // The CTAs past a.blocks pull the start of the next projection's weights into L2 while the others
    // wait on NVLink, when HBM would otherwise be idle; they take no part in the exchange.
    const int64_t lines = (a.prefetch_bytes + 127) / 128, n_threads = static_cast<int64_t>(gridDim.x - a.blocks) * blockDim.x;
    for (int64_t i = static_cast<int64_t>(b - a.blocks) * blockDim.x + tid; i < lines; i += n_threads)
      asm volatile("prefetch.global.L2 [%0];" ::"l"(a.prefetch + i * 128));
    return;
  }
  __shared__ float scratch[32];
  const int64_t slot = a.add_slot;
  if (kRegs && a.push) {
    // No call number to agree on (the data is its own signal): thread 0 advances it off the critical
    // path, so that the pull exchange's numbering stays the same on every rank.
    if (tid == 0 && b < kBlocks) a.calls[b] += 1;
    if constexpr (kTwoShot) {
      two_shot_rows<T, P, kN, kE>(a, slot, w, scratch, stamps);
      profile_call(a, stamps);
      return;
    }
    // One row a CTA (the host makes a.blocks >= rows here): load, send, await, add, norm in one chain.
    if (b < a.rows) {
      float kept[kE];
      const float ss = add_row_kept<kN, P, kE>(a, slot, b, kept);
      stamp(a, stamps, kStampExchanged);
      store_norm_kept<T, kE>(a, b, kept, ss, w, scratch);
    }
    profile_call(a, stamps);
    return;
  }
  const uint32_t call = next_call(a);
  const int64_t row_vecs = a.dim * static_cast<int64_t>(sizeof(P)) / 16;  // 16-byte units, whatever P is
  if (a.push) {
    // Every row this CTA owns goes out before it waits on any: the peers' CTAs do the same.
    for (int64_t r = b; r < a.rows; r += a.blocks)
      push_send(a, slot, static_cast<const uint4*>(a.partial), r * row_vecs, (r + 1) * row_vecs);
  } else {
    if (!a.staged) {
      const float4* part = static_cast<const float4*>(a.partial);
      for (int64_t r = b; r < a.rows; r += a.blocks)
        copy_range(part, reinterpret_cast<float4*>(a.bufs[a.rank] + slot + a.rank * a.stride), r * row_vecs,
                   (r + 1) * row_vecs);
    }
    if (!a.local_only) signal_and_wait(a, call);
  }
  stamp(a, stamps, kStampExchanged);
  if constexpr (kRegs) {
    // Each thread writes the xn elements of the x values it has just made, from its registers:
    // no second read of the row and no weight load after the wait (the loop below does both).
    for (int64_t r = b; r < a.rows; r += a.blocks) {
      float kept[kE];
      const float ss = add_row_kept<kN, P, kE>(a, slot, r, kept);
      store_norm_kept<T, kE>(a, r, kept, ss, w, scratch);
    }
  } else {
    for (int64_t r = b; r < a.rows; r += a.blocks) {
      const float ss = add_row<kN, P>(a, slot, r);
      if (a.norm_w == nullptr) continue;
      const float scale = rsqrtf(block_sum(ss, scratch) / a.dim + a.eps);
      T* out = static_cast<T*>(a.xn) + r * a.dim;
      const float* xr = a.data + r * a.dim;  // written above; block_sum's barriers make it visible
      for (int64_t i = tid; i < a.dim; i += blockDim.x) out[i] = from_f32<T>(xr[i] * scale * a.norm_w[i]);
    }
  }
  if (tid == 0) a.calls[b] = call;
  profile_call(a, stamps);
}

// a.blocks CTAs for the exchange, plus kPrefetchBlocks when there is something to prefetch.
constexpr int kPrefetchBlocks = 64;
template <typename T, typename P, bool kRegs, bool kTwoShot = false>
void launch_add_ranks(const P2pArgs& a, cudaStream_t s) {
  const unsigned grid = a.blocks + (a.prefetch_bytes > 0 ? kPrefetchBlocks : 0);
  if (a.n <= 2) launch_pdl(p2p_add_kernel<T, P, 2, kRegs, kTwoShot>, grid, kThreads, 0, s, a);
  else if (a.n <= 4) launch_pdl(p2p_add_kernel<T, P, 4, kRegs, kTwoShot>, grid, kThreads, 0, s, a);
  else launch_pdl(p2p_add_kernel<T, P, 8, kRegs, kTwoShot>, grid, kThreads, 0, s, a);
}
template <typename T, typename P>
void launch_add(const P2pArgs& a, cudaStream_t s) {
  if constexpr (sizeof(P) == 2) {
    if (a.norm_regs && a.push && a.two_shot) return launch_add_ranks<T, P, true, true>(a, s);
  }
  if (a.norm_regs) launch_add_ranks<T, P, true>(a, s);
  else launch_add_ranks<T, P, false>(a, s);
}

template <typename P>
void launch_add_act(const P2pArgs& a, ActType act, cudaStream_t s) {
  switch (act) {
    case ActType::kF32: launch_add<float, P>(a, s); break;
    case ActType::kF16: launch_add<__half, P>(a, s); break;
    case ActType::kBF16: launch_add<__nv_bfloat16, P>(a, s); break;
  }
}

}  // namespace

// The kernels for a.n ranks: kN, the ranks whose loads are in flight together, is a compile-time bound.
void launch_all_reduce(const P2pArgs& a, cudaStream_t s) {
  if (a.n <= 2) launch_pdl(p2p_all_reduce_kernel<2>, kBlocks, kThreads, 0, s, a);
  else if (a.n <= 4) launch_pdl(p2p_all_reduce_kernel<4>, kBlocks, kThreads, 0, s, a);
  else launch_pdl(p2p_all_reduce_kernel<8>, kBlocks, kThreads, 0, s, a);
}

void launch_all_reduce_add(const P2pArgs& a, ActType part, ActType act, cudaStream_t s) {
  switch (part) {
    case ActType::kF32: launch_add_act<float>(a, act, s); break;
    case ActType::kF16: launch_add_act<__half>(a, act, s); break;
    case ActType::kBF16: launch_add_act<__nv_bfloat16>(a, act, s); break;
  }
}

}  // namespace effitune::engine::cuda::p2p
