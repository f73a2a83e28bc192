// A one-shot all-reduce over NVLink peer access for the small messages of tensor-parallel decode
// (one residual row per token: 16 KB at batch 1), where NCCL's ring costs ~10 us of latency per call
// on 2 H100s (bench/README.md). All ranks live in this process (one thread per GPU), so every rank's
// staging buffer is addressable by the others once peer access is on: no IPC handles.
//
// Per call, CTA b of every rank owns one slice of the elements: it copies its slice of `data` into
// its staging slot, signals CTA b of every peer (a release store of the call number into the peer's
// flag word), waits for the peers' signals (acquire loads), then sums the slice over all ranks' slots
// in rank order, so that every rank gets the same bits. all_reduce_add: CTA b owns whole rows, the
// ranks stage their partial products (in the activation type: half the bytes of f32 for bf16 models)
// instead of the residual, every rank adds the sum to its own copy of the residual, and the kernel
// also writes the next RMSNorm of each row. Call numbers live in device memory (one per
// CTA) and advance inside the kernel, so the kernel works inside CUDA graphs. Each kind of call has
// two staging slots that alternate (all_reduce_sum by call number, all_reduce_add by the host's count
// of its calls): a rank can only reach call k + 2, which reuses call k's slot, after every peer has
// signalled call k + 1, that is, after it has finished reading call k.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "common.cuh"
#include "cuda/cuda_backend_factory.h"
#include "p2p_comm.h"

namespace effitune::engine {
namespace cuda {
namespace {

constexpr int kMaxRanks = 8;
constexpr int kBlocks = 64;  // one batch-64 residual row per CTA in all_reduce_add
constexpr int kThreads = 512;
constexpr int kUnroll = 4;
// Per slot: 16 MiB. A rank's part of an all_reduce_add slot (kMaxFloats / n) then holds 256 rows of
// a 4096-wide model at 4 ranks (the fused exchange's largest batch). all_reduce_sum takes messages
// up to 8 MiB (a 512-token prefill chunk x 4096 in f32): above that NCCL's ring, which moves each
// byte about twice rather than n - 1 times, is the faster.
constexpr int64_t kMaxFloats = int64_t{1} << 22;
constexpr int64_t kMaxSumFloats = int64_t{1} << 21;

// Where a rank's exchange kernels say that a wait timed out: host memory mapped into the device,
// so that the host reads it after the step's synchronization without a copy. Only plain stores go
// there (atomics on host memory over PCIe are not portable): the one thread that fills it is elected
// by an atomic on a word of device memory (P2pArgs::claim), and `fired` is written last.
struct P2pWatch {
  volatile uint32_t kind;    // 1: waited for a peer's signal (pull), 2: for a peer's data (push)
  volatile uint32_t peer;    // the rank waited for
  volatile uint32_t cta;
  volatile uint32_t detail;  // pull: the call number; push: the 16-byte unit of the slot
  volatile uint32_t fired;
};

struct P2pArgs {
  float* bufs[kMaxRanks];      // rank q's staging: 4 slots of kMaxFloats (2 for all_reduce_sum, 2 for all_reduce_add)
  uint32_t* flags[kMaxRanks];  // rank q's arrival words: [kBlocks][kMaxRanks]
  uint32_t* calls;             // this rank's call numbers: [kBlocks]
  float* data;
  int64_t count;               // all_reduce_sum: a multiple of 4
  int rank, n;
  // all_reduce_add: data (the residual) is [rows, dim], partial the same shape in the kernel's P;
  // with norm_w, xn gets RMSNorm(data) * norm_w.
  const void* partial = nullptr;
  int64_t add_slot = 0;  // all_reduce_add: the slot's offset in every rank's staging (chosen by the host)
  const char* prefetch = nullptr;  // all_reduce_add: bytes the CTAs past kBlocks pull into L2
  int64_t prefetch_bytes = 0;
  bool staged = false;   // all_reduce_add: `partial` is this rank's slot already (partial_buffer)
  bool local_only = false;  // all_reduce_add, timing only (EFFITUNE_TP_EXCHANGE=skip): no exchange at all
  bool push = false;     // all_reduce_add: every rank writes its partial into the others' slots (push_send)
  bool norm_regs = false;  // all_reduce_add with norm_w: rows of one unit per thread, kept in registers
  int64_t stride = 0;    // all_reduce_add: rank q's partial sits at slot + q * stride (floats) in a staging
  float* own = nullptr;  // bufs[rank], for kernels that would otherwise index bufs at run time
  unsigned long long* prof = nullptr;  // EFFITUNE_TP_PROFILE: this rank's ExchangeProfile (device memory)
  P2pWatch* watch = nullptr;  // this rank's (mapped host memory)
  uint32_t* claim = nullptr;  // this rank's (device memory): elects the thread that fills `watch`
  uint64_t timeout_ns = 0;    // a wait longer than this gives up and reports (P2pWatch)
  int32_t rows = 0, dim = 0;
  const float* norm_w = nullptr;
  float eps = 0.0f;
  void* xn = nullptr;
};

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

// add_row for a row of at most blockDim.x units (one per thread: dim 4096 in bf16 partials),
// keeping what this thread wrote to x (its unit, threadIdx.x) in `kept`: the same additions in the
// same order as add_row, so the same bits. The push exchange of the row happens here too, with the
// residual loaded before it, so that the row costs as few dependent memory round trips as the
// exchange allows: load (partial and residual together), send, await the peers, add, store.
// `sent`: the kernel pushed this row already (a CTA of several rows sends them all before it waits
// on any, so that their round trips overlap).
template <int kN, typename P, int kE>
__device__ __forceinline__ float add_row_kept(const P2pArgs& a, int64_t slot, int64_t r, bool sent, float (&kept)[kE]) {
  const int64_t units = a.dim / kE, base = r * units, i = threadIdx.x;
  if (i >= units) return 0.0f;
  float4* x = reinterpret_cast<float4*>(a.data + r * a.dim);
  float4 xv[kE / 4];
#pragma unroll
  for (int j = 0; j < kE / 4; ++j) xv[j] = x[i * (kE / 4) + j];
  uint4 v[kN][1];
  if (a.push) {
    if (!sent) push_send(a, slot, static_cast<const uint4*>(a.partial), base, base + units);
    push_load_ranks(a, slot, base + i, base + i + 1, v);
  } else {
    load_ranks(a, slot, a.stride, base + i, base + i + 1, v);
  }
#pragma unroll
  for (int j = 0; j < kE / 4; ++j) kept[4 * j] = xv[j].x, kept[4 * j + 1] = xv[j].y, kept[4 * j + 2] = xv[j].z, kept[4 * j + 3] = xv[j].w;
#pragma unroll
  for (int q = 0; q < kN; ++q) {
    if (q >= a.n) break;
    float p[kE];
    unpack16(v[q][0], P{}, p);
#pragma unroll
    for (int e = 0; e < kE; ++e) kept[e] += p[e];
  }
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

// EFFITUNE_TP_PROFILE: where an exchange call's time goes, as CTA 0's thread 0 sees it (globaltimer,
// ns, summed over calls): from the kernel's start to the end of the PDL wait (the kernel before it
// still running), from there to its own unit of every peer's partial in hand (staging, sending and
// waiting), from there to its end (add, norm, store); and the gaps from the end of one call to the
// start of the next, which are the rest of the layer: before an even call (a layer's first update)
// QKV, attention and O, before an odd one gate|up, SwiGLU and down (a step makes two calls a layer).
// Gaps over kLongGapNs (step boundaries, the host between benchmark phases) are summed apart.
// Read and printed when the communicator goes (HybridCommunicator::print_profile).
enum ExchangeProfile {
  kProfPdl, kProfExchange, kProfNorm, kProfCalls, kProfLastEnd,
  kProfGapAttn, kProfGapAttnN, kProfGapMlp, kProfGapMlpN, kProfGapLong, kProfGapLongN, kProfWords
};
constexpr uint64_t kLongGapNs = 150000;
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

// all_reduce_add: CTA b owns rows b, b + grid, ...: stages this rank's partial rows (type P; nothing
// to do when the projection wrote them into the slot itself), then adds every rank's to x and, with
// a norm, writes RMSNorm(x row) * norm_w as T to xn. The slot alternates between two per call,
// chosen by the host: call k + 2 may overwrite call k's slot once every peer has signalled call
// k + 1, which it does only after it has finished reading call k.
// kRegs (rows of at most one 16-byte unit of partials per thread, with a norm: 4096-wide 16-bit
// models): each thread keeps its unit in registers from the load to the xn store, the norm weight is
// read before the PDL wait, and the push exchange sends and receives row by row (add_row_kept).
template <typename T, typename P, int kN, bool kRegs>
__global__ void __launch_bounds__(kThreads) p2p_add_kernel(P2pArgs a) {
  constexpr int kE = 16 / sizeof(P);
  __shared__ uint64_t stamps[kStamps];  // EFFITUNE_TP_PROFILE
  stamp(a, stamps, kStampStart);
  float w[kE];
  if constexpr (kRegs) {
    if (blockIdx.x < kBlocks && threadIdx.x < a.dim / kE) {
#pragma unroll
      for (int e = 0; e < kE; ++e) w[e] = a.norm_w[threadIdx.x * kE + e];
    }
  }
  pdl_trigger();
  pdl_wait();
  stamp(a, stamps, kStampWaited);
  const int b = blockIdx.x, tid = threadIdx.x;
  if (b >= kBlocks) {
    // The CTAs past kBlocks pull the start of the next projection's weights into L2 while the others
    // wait on NVLink, when HBM would otherwise be idle; they take no part in the exchange.
    const int64_t lines = (a.prefetch_bytes + 127) / 128, n_threads = static_cast<int64_t>(gridDim.x - kBlocks) * blockDim.x;
    for (int64_t i = static_cast<int64_t>(b - kBlocks) * blockDim.x + tid; i < lines; i += n_threads)
      asm volatile("prefetch.global.L2 [%0];" ::"l"(a.prefetch + i * 128));
    return;
  }
  __shared__ float scratch[32];
  const int64_t slot = a.add_slot;
  if (kRegs && a.push) {
    // No call number to agree on (the data is its own signal): thread 0 advances it off the critical
    // path, so that the pull exchange's numbering stays the same on every rank.
    if (tid == 0) a.calls[b] += 1;
    // One row a CTA (batch <= 64): load, send, await in one chain. More rows (up to 4 at batch 256):
    // every row goes out first, so that the CTA pays one round trip rather than one a row.
    const bool sent = a.rows > kBlocks;
    if (sent) {
      const int64_t units = a.dim / kE;
      for (int64_t r = b; r < a.rows; r += kBlocks)
        push_send(a, slot, static_cast<const uint4*>(a.partial), r * units, (r + 1) * units);
    }
    for (int64_t r = b; r < a.rows; r += kBlocks) {
      float kept[kE];
      const float ss = add_row_kept<kN, P, kE>(a, slot, r, sent, kept);
      if (r == b) stamp(a, stamps, kStampExchanged);  // the first row's exchange
      store_norm_kept<T, kE>(a, r, kept, ss, w, scratch);
    }
    profile_call(a, stamps);
    return;
  }
  const uint32_t call = next_call(a);
  const int64_t row_vecs = a.dim * static_cast<int64_t>(sizeof(P)) / 16;  // 16-byte units, whatever P is
  if (a.push) {
    // Every row this CTA owns goes out before it waits on any: the peers' CTAs do the same.
    for (int64_t r = b; r < a.rows; r += kBlocks)
      push_send(a, slot, static_cast<const uint4*>(a.partial), r * row_vecs, (r + 1) * row_vecs);
  } else {
    if (!a.staged) {
      const float4* part = static_cast<const float4*>(a.partial);
      for (int64_t r = b; r < a.rows; r += kBlocks)
        copy_range(part, reinterpret_cast<float4*>(a.bufs[a.rank] + slot + a.rank * a.stride), r * row_vecs,
                   (r + 1) * row_vecs);
    }
    if (!a.local_only) signal_and_wait(a, call);
  }
  stamp(a, stamps, kStampExchanged);
  if constexpr (kRegs) {
    // Each thread writes the xn elements of the x values it has just made, from its registers:
    // no second read of the row and no weight load after the wait (the loop below does both).
    for (int64_t r = b; r < a.rows; r += kBlocks) {
      float kept[kE];
      const float ss = add_row_kept<kN, P, kE>(a, slot, r, true, kept);
      store_norm_kept<T, kE>(a, r, kept, ss, w, scratch);
    }
  } else {
    for (int64_t r = b; r < a.rows; r += kBlocks) {
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

// The kernels for a.n ranks: kN, the ranks whose loads are in flight together, is a compile-time bound.
void launch_all_reduce(const P2pArgs& a, cudaStream_t s) {
  if (a.n <= 2) launch_pdl(p2p_all_reduce_kernel<2>, kBlocks, kThreads, 0, s, a);
  else if (a.n <= 4) launch_pdl(p2p_all_reduce_kernel<4>, kBlocks, kThreads, 0, s, a);
  else launch_pdl(p2p_all_reduce_kernel<8>, kBlocks, kThreads, 0, s, a);
}

// kBlocks CTAs for the exchange, plus kPrefetchBlocks when there is something to prefetch.
constexpr int kPrefetchBlocks = 64;
template <typename T, typename P, bool kRegs>
void launch_add_ranks(const P2pArgs& a, cudaStream_t s) {
  const unsigned grid = kBlocks + (a.prefetch_bytes > 0 ? kPrefetchBlocks : 0);
  if (a.n <= 2) launch_pdl(p2p_add_kernel<T, P, 2, kRegs>, grid, kThreads, 0, s, a);
  else if (a.n <= 4) launch_pdl(p2p_add_kernel<T, P, 4, kRegs>, grid, kThreads, 0, s, a);
  else launch_pdl(p2p_add_kernel<T, P, 8, kRegs>, grid, kThreads, 0, s, a);
}
template <typename T, typename P>
void launch_add(const P2pArgs& a, cudaStream_t s) {
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

// The device memory of a group, shared by its communicators; freed when the last one goes.
struct P2pGroup {
  int32_t first_device = 0, n = 0;
  std::vector<float*> bufs;
  std::vector<uint32_t*> flags, calls;
  std::vector<P2pWatch*> watches;  // mapped host memory: the same address on the host and the devices
  std::vector<uint32_t*> claims;   // device memory, one word per rank
  std::vector<unsigned long long*> profs;  // kProfWords per rank (device memory): start_timing, EFFITUNE_TP_PROFILE
  ~P2pGroup() {  // frees what exists, also after a creation that failed half-way
    auto free_at = [this](const auto& v, size_t r) {
      if (r < v.size()) cudaFree(v[r]);
    };
    for (size_t r = 0; r < bufs.size(); ++r) {
      cudaSetDevice(first_device + static_cast<int32_t>(r));
      free_at(bufs, r), free_at(flags, r), free_at(calls, r), free_at(claims, r), free_at(profs, r);
    }
    for (P2pWatch* w : watches) cudaFreeHost(w);
  }
};

// Seconds an exchange waits for a peer before it reports (EFFITUNE_TP_TIMEOUT_S, default 10: a
// peer is normally microseconds behind; the first use of a kernel or a long prefill is not seconds).
double exchange_timeout_s() {
  static const double s = [] {
    const char* v = std::getenv("EFFITUNE_TP_TIMEOUT_S");
    const double t = v != nullptr && *v != '\0' ? std::atof(v) : 10.0;
    return t > 0 ? t : 10.0;
  }();
  return s;
}

class HybridCommunicator final : public NormingCommunicator {
 public:
  HybridCommunicator(std::unique_ptr<Communicator> nccl, std::shared_ptr<P2pGroup> group)
      : nccl_(std::move(nccl)), group_(std::move(group)) {}
  ~HybridCommunicator() override { print_profile(); }
  int32_t rank() const override { return nccl_->rank(); }
  int32_t size() const override { return nccl_->size(); }
  std::string name() const override { return nccl_->name() + " + p2p one-shot <= 8 MiB"; }
  Status all_reduce_sum(float* data, int64_t count, void* stream) override {
    if (count > kMaxSumFloats || count % 4 != 0 || reinterpret_cast<uintptr_t>(data) % 16 != 0)
      return nccl_->all_reduce_sum(data, count, stream);
    if (count == 0) return {};
    P2pArgs a = args();
    a.data = data;
    a.count = count;
    launch_all_reduce(a, static_cast<cudaStream_t>(stream));
    return cuda_status(cudaGetLastError(), "p2p all_reduce");
  }
  bool adds_partials(int32_t rows, int32_t dim) const override {
    static const bool on = env_flag("EFFITUNE_TP_FUSED_NORM", true);
    // Up to four rows per CTA (EFFITUNE_TP_FUSED_ROWS lowers it, for A/B timing): the norm fusion
    // took 8B bf16 TP=2 batch 1 282 -> 305 tok/s, batch 64 13,800 -> 14,090 on 2 H200s, but a
    // 512-token prefill (16 rows per CTA, against 512 CTAs of the norm kernel) lost 5%; batch 256
    // fell back to the f32 all-reduce (twice the bytes) and a norm kernel: TP=4 only 1.48x TP=1 on
    // 4 x H100 (session 11). dim % 8: whole 16-byte units of 16-bit partials per row.
    static const int32_t max_rows = [] {
      const char* v = std::getenv("EFFITUNE_TP_FUSED_ROWS");
      return v != nullptr && *v != '\0' ? std::clamp(std::atoi(v), 0, 4 * kBlocks) : 4 * kBlocks;
    }();
    return on && rows > 0 && rows <= max_rows && dim % 8 == 0 && static_cast<int64_t>(rows) * dim <= stride();
  }
  void* partial_buffer() override { return group_->bufs[rank()] + add_slot() + rank() * stride(); }
  Status check() const override {
    const P2pWatch& w = *group_->watches[rank()];
    if (w.fired == 0) return {};
    std::string what = w.kind == 1 ? "the signal of call " + std::to_string(w.detail)
                                   : "the data of unit " + std::to_string(w.detail) + " of its staging slot";
    return deadline_exceeded("tensor-parallel exchange on rank " + std::to_string(rank()) + " (device " +
                             std::to_string(group_->first_device + rank()) + ") waited more than " +
                             std::to_string(static_cast<double>(timeout_ns_) / 1e9).substr(0, 5) + " s for rank " +
                             std::to_string(w.peer) + "'s part (CTA " + std::to_string(w.cta) + ", " + what +
                             "): that rank failed or stalled, so this group's state is unknown; create the backend "
                             "again (EFFITUNE_TP_TIMEOUT_S sets the wait)");
  }
  void set_exchange_timeout(double seconds) override { timeout_ns_ = static_cast<uint64_t>(seconds * 1e9); }
  void set_norm_from_registers(bool on) override { norm_regs_ = on; }
  void set_push_exchange(bool on) override { push_ = on; }
  void start_timing() override {
    timing_ = true;
    on_device([&] {
      const cudaError_t e = cudaMemset(group_->profs[rank()], 0, kProfWords * sizeof(unsigned long long));
      return e != cudaSuccess ? e : cudaDeviceSynchronize();
    });
  }
  CollectiveTime timing() const override {
    unsigned long long p[kProfWords] = {};
    if (!timing_ || !read_profile(p)) return {};
    // From the end of the PDL wait: before it the projection before the exchange is still running
    // (its tail overlaps the exchange kernel's start), so that time is the projection's, not the
    // exchange's. It was counted until session 12: 2.4 us a call at TP=2 batch 1, a third of it.
    return {static_cast<int64_t>(p[kProfCalls]), static_cast<double>(p[kProfExchange] + p[kProfNorm]) * 1e-9};
  }
  Status all_reduce_add(const void* partial, ActType part, float* x, int32_t rows, int32_t dim, const float* norm_w,
                        float eps, ActType act, void* xn, void* stream, const void* prefetch,
                        int64_t prefetch_bytes) override {
    if (!adds_partials(rows, dim) || reinterpret_cast<uintptr_t>(x) % 16 != 0 ||
        reinterpret_cast<uintptr_t>(partial) % 16 != 0)
      return internal_error("all_reduce_add: shape not supported");
    P2pArgs a = args();
    a.data = x;
    a.partial = partial;
    a.add_slot = add_slot();
    a.staged = partial == partial_buffer();
    a.stride = stride();
    a.push = push_ && rows >= push_min_rows();
    a.prefetch = static_cast<const char*>(prefetch);
    a.prefetch_bytes = prefetch != nullptr ? prefetch_bytes : 0;
    ++adds_;
    a.rows = rows, a.dim = dim, a.norm_w = norm_w, a.eps = eps, a.xn = xn;
    a.norm_regs = norm_w != nullptr && norm_regs_ && norm_fits_registers(part, dim);
    // A measurement of what the exchange costs inside the decode graph, not a mode to serve with:
    // every rank adds only its own partial (wrong sums), skipping the signals and the peer loads.
    static const bool skip = [] {
      const char* v = std::getenv("EFFITUNE_TP_EXCHANGE");
      return v != nullptr && std::string(v) == "skip";
    }();
    if (skip) {
      // A group of one whose only rank is this rank's part of the slot: the staging copy and the
      // loads then both address it as rank 0's.
      a.local_only = true;
      a.push = false;
      a.bufs[0] = a.bufs[a.rank] + a.rank * stride();
      a.stride = 0;
      a.rank = 0;
      a.n = 1;
    }
    const auto st = static_cast<cudaStream_t>(stream);
    switch (part) {
      case ActType::kF32: launch_add_act<float>(a, act, st); break;
      case ActType::kF16: launch_add_act<__half>(a, act, st); break;
      case ActType::kBF16: launch_add_act<__nv_bfloat16>(a, act, st); break;
    }
    return cuda_status(cudaGetLastError(), "p2p all_reduce_add");
  }

 private:
  int64_t add_slot() const { return (2 + (adds_ & 1)) * kMaxFloats; }
  // Whether a row of `dim` partials of type `part` is at most one 16-byte unit per thread.
  static bool norm_fits_registers(ActType part, int32_t dim) {
    const int64_t elems_per_unit = part == ActType::kF32 ? 4 : 8;
    return dim % elems_per_unit == 0 && dim / elems_per_unit <= kThreads;
  }
  // Each rank's partial has its own part of an all_reduce_add slot (16-byte aligned): the push
  // exchange writes every rank's into every slot.
  int64_t stride() const { return kMaxFloats / group_->n / 4 * 4; }
  // The push exchange from this many rows up (EFFITUNE_TP_PUSH_MIN_ROWS, A/B timing). On 4 x H100
  // (8B bf16) it took batch 64 from 13,720 to 13,853 tok/s at TP=2 and from 18,320 to 18,926 at TP=4
  // (session 6) but lost at batch 1 then (278.5 -> 276.5 at TP=2). Since the row is loaded and sent
  // without the call-number barrier (session 9) it wins there too: batch 1 286.3 -> 294.0 at TP=2,
  // 436.6 -> 448.7 at TP=4 (one pull exchange call 10.1 -> 8.4 us at TP=2, EFFITUNE_TP_PROFILE).
  static int32_t push_min_rows() {
    static const int32_t n = [] {
      const char* v = std::getenv("EFFITUNE_TP_PUSH_MIN_ROWS");
      return v != nullptr && *v != '\0' ? std::max(1, std::atoi(v)) : 1;
    }();
    return n;
  }
  // The group's buffers as this rank's kernels see them.
  P2pArgs args() const {
    const P2pGroup& g = *group_;
    P2pArgs a{};
    for (int32_t q = 0; q < g.n; ++q) a.bufs[q] = g.bufs[q], a.flags[q] = g.flags[q];
    a.calls = g.calls[rank()];
    a.rank = rank();
    a.own = g.bufs[rank()];
    a.n = g.n;
    a.watch = g.watches[rank()];
    a.claim = g.claims[rank()];
    a.timeout_ns = timeout_ns_;
    if (timing_) a.prof = g.profs[rank()];
    return a;
  }

  std::unique_ptr<Communicator> nccl_;
  std::shared_ptr<P2pGroup> group_;
  int64_t adds_ = 0;  // all_reduce_add calls so far: their slots alternate
  uint64_t timeout_ns_ = static_cast<uint64_t>(exchange_timeout_s() * 1e9);
  // The fused RMSNorm writes xn from each thread's registers (add_row_kept) with the norm weight
  // loaded before the PDL wait, where a row fits (norm_fits_registers): the same bits as the
  // row-loop path. 8B bf16 on 4 x H100 (session 9, A/B twice): TP=2 batch 1 286 -> 291.6 tok/s,
  // TP=4 423-426 -> 429-431; batch 64 within noise. Off only in tests, to compare the two paths.
  bool norm_regs_ = true;
  // The exchange kernels time themselves (ExchangeProfile) from start_timing() on, or throughout
  // with EFFITUNE_TP_PROFILE, which also prints the profile when the communicator goes.
  const bool print_profile_ = env_flag("EFFITUNE_TP_PROFILE", false);
  bool timing_ = print_profile_;
  // EFFITUNE_TP_PUSH=0: the pull exchange (signal, wait, read the peers' slots), for A/B timing.
  bool push_ = env_flag("EFFITUNE_TP_PUSH", true);

  // Runs f (a CUDA call) with this rank's device current, then makes the caller's current again
  // (the bench's thread is rank 0's and reads every rank); false when a CUDA call failed.
  template <typename F>
  bool on_device(F&& f) const {
    int before = 0;
    if (cudaGetDevice(&before) != cudaSuccess || cudaSetDevice(group_->first_device + rank()) != cudaSuccess) return false;
    const bool ok = f() == cudaSuccess;
    return cudaSetDevice(before) == cudaSuccess && ok;
  }
  // This rank's ExchangeProfile counters, read after the measured steps have finished.
  bool read_profile(unsigned long long (&p)[kProfWords]) const {
    return on_device([&] { return cudaMemcpy(p, group_->profs[rank()], sizeof(p), cudaMemcpyDeviceToHost); });
  }

  // EFFITUNE_TP_PROFILE: this rank's exchange profile (ExchangeProfile), on stderr.
  void print_profile() const {
    if (!print_profile_) return;
    unsigned long long p[kProfWords] = {};
    if (!read_profile(p) || p[kProfCalls] == 0) return;
    const double n = static_cast<double>(p[kProfCalls]), us = 1e-3;
    auto mean = [&](int sum) { return p[sum] * us / std::max(1.0, static_cast<double>(p[sum + 1])); };
    std::fprintf(stderr,
                 "effitune: TP exchange profile, rank %d: %llu calls; per call, us: start to PDL wait end %.2f, "
                 "to the peers' partials %.2f, to the end %.2f; between calls, us: QKV+attention+O %.2f (%llu), "
                 "gate|up+SwiGLU+down %.2f (%llu), longer than %.0f us %.2f (%llu)\n",
                 rank(), p[kProfCalls], p[kProfPdl] * us / n, p[kProfExchange] * us / n, p[kProfNorm] * us / n,
                 mean(kProfGapAttn), p[kProfGapAttnN], mean(kProfGapMlp), p[kProfGapMlpN], kLongGapNs * us,
                 mean(kProfGapLong), p[kProfGapLongN]);
  }
};

// Peer access between every pair and the staging memory on every device; null when a pair cannot
// reach each other directly (then NCCL carries everything).
Result<std::shared_ptr<P2pGroup>> make_p2p_group(int32_t first_device, int32_t n) {
  if (n > kMaxRanks) return std::shared_ptr<P2pGroup>();
  for (int32_t r = 0; r < n; ++r)
    for (int32_t q = 0; q < n; ++q) {
      int ok = 0;
      if (q != r && (cudaDeviceCanAccessPeer(&ok, first_device + r, first_device + q) != cudaSuccess || !ok))
        return std::shared_ptr<P2pGroup>();
    }
  auto g = std::make_shared<P2pGroup>();
  g->first_device = first_device;
  for (int32_t r = 0; r < n; ++r) {
    CUDA_RETURN_IF_ERROR(cudaSetDevice(first_device + r));
    for (int32_t q = 0; q < n; ++q) {
      if (q == r) continue;
      const cudaError_t e = cudaDeviceEnablePeerAccess(first_device + q, 0);
      if (e == cudaErrorPeerAccessAlreadyEnabled) cudaGetLastError();
      else CUDA_RETURN_IF_ERROR(e);
    }
    float* buf = nullptr;
    uint32_t *flags = nullptr, *calls = nullptr;
    CUDA_RETURN_IF_ERROR(cudaMalloc(&buf, 4 * kMaxFloats * sizeof(float)));
    g->bufs.push_back(buf);
    CUDA_RETURN_IF_ERROR(cudaMalloc(&flags, kBlocks * kMaxRanks * sizeof(uint32_t)));
    g->flags.push_back(flags);
    CUDA_RETURN_IF_ERROR(cudaMalloc(&calls, kBlocks * sizeof(uint32_t)));
    g->calls.push_back(calls);
    P2pWatch* watch = nullptr;
    CUDA_RETURN_IF_ERROR(cudaHostAlloc(&watch, sizeof(P2pWatch), cudaHostAllocMapped | cudaHostAllocPortable));
    g->watches.push_back(watch);
    std::memset(watch, 0, sizeof(P2pWatch));
    void* watch_dev = nullptr;
    CUDA_RETURN_IF_ERROR(cudaHostGetDevicePointer(&watch_dev, watch, 0));
    if (watch_dev != watch) return internal_error("p2p group: mapped host memory without unified addressing");
    uint32_t* claim = nullptr;
    CUDA_RETURN_IF_ERROR(cudaMalloc(&claim, sizeof(uint32_t)));
    g->claims.push_back(claim);
    CUDA_RETURN_IF_ERROR(cudaMemset(claim, 0, sizeof(uint32_t)));
    unsigned long long* prof = nullptr;
    CUDA_RETURN_IF_ERROR(cudaMalloc(&prof, kProfWords * sizeof(unsigned long long)));
    g->profs.push_back(prof);
    CUDA_RETURN_IF_ERROR(cudaMemset(prof, 0, kProfWords * sizeof(unsigned long long)));
    g->n = r + 1;
    // The all_reduce_add slots (2 and 3) start as the push exchange's "not yet" sentinel.
    CUDA_RETURN_IF_ERROR(cudaMemset(buf + 2 * kMaxFloats, 0xFF, 2 * kMaxFloats * sizeof(float)));
    CUDA_RETURN_IF_ERROR(cudaMemset(flags, 0, kBlocks * kMaxRanks * sizeof(uint32_t)));
    CUDA_RETURN_IF_ERROR(cudaMemset(calls, 0, kBlocks * sizeof(uint32_t)));
    CUDA_RETURN_IF_ERROR(cudaDeviceSynchronize());
  }
  return g;
}

}  // namespace

ActType tp_partial_type(ActType act) {
  static const bool f32 = [] {
    const char* v = std::getenv("EFFITUNE_TP_PARTIAL");
    return v != nullptr && std::string(v) == "f32";
  }();
  return act == ActType::kBF16 && !f32 ? ActType::kBF16 : ActType::kF32;
}

}  // namespace cuda

Result<std::vector<std::unique_ptr<Communicator>>> make_cuda_tp_group(int32_t first_device, int32_t n) {
  EFFITUNE_ASSIGN_OR_RETURN(auto group, make_nccl_group(first_device, n));
  const char* mode = std::getenv("EFFITUNE_TP_ALLREDUCE");
  if (mode != nullptr && std::string(mode) == "nccl") return std::move(group);
  EFFITUNE_ASSIGN_OR_RETURN(auto p2p, cuda::make_p2p_group(first_device, n));
  if (!p2p) return std::move(group);
  std::vector<std::unique_ptr<Communicator>> hybrid;
  for (auto& c : group) hybrid.push_back(std::make_unique<cuda::HybridCommunicator>(std::move(c), p2p));
  return std::move(hybrid);
}

}  // namespace effitune::engine
