// The device side of the tensor-parallel exchange (p2p_comm.cu): the arguments its kernels take,
// what they report, and their launches. Every rank's staging buffer holds 4 slots of kMaxFloats floats
// (2 for all_reduce_sum, 2 for all_reduce_add, alternating between calls); the kernels run on the
// caller's stream with programmatic dependent launch, inside CUDA graphs too.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "device_types.cuh"

namespace effitune::engine::cuda::p2p {

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
  bool two_shot = false;   // all_reduce_add, push with norm_regs and 16-bit partials: reduce-scatter to the
                           // rows' owners, which send the rounded sums back (p2p_kernels.cu two_shot_rows)
  int64_t stride = 0;    // all_reduce_add: rank q's partial sits at slot + q * stride (floats) in a staging
  float* own = nullptr;  // bufs[rank], for kernels that would otherwise index bufs at run time
  unsigned long long* prof = nullptr;  // EFFITUNE_TP_PROFILE: this rank's ExchangeProfile (device memory)
  P2pWatch* watch = nullptr;  // this rank's (mapped host memory)
  uint32_t* claim = nullptr;  // this rank's (device memory): elects the thread that fills `watch`
  uint64_t timeout_ns = 0;    // a wait longer than this gives up and reports (P2pWatch)
  int32_t rows = 0, dim = 0;
  // all_reduce_add: the CTAs that exchange rows (CTA b owns rows b, b + blocks, ...): kBlocks, or one
  // a row for the push exchange with the norm in registers (P2pArgs::norm_regs), which needs no flags.
  int32_t blocks = kBlocks;
  const float* norm_w = nullptr;
  float eps = 0.0f;
  void* xn = nullptr;
};

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

// all_reduce_sum: a.data[0, a.count) summed over the a.n ranks in rank order, on every rank.
void launch_all_reduce(const P2pArgs& a, cudaStream_t s);
// all_reduce_add: partials of type `part`, the norm written in `act` (P2pArgs says the rest).
void launch_all_reduce_add(const P2pArgs& a, ActType part, ActType act, cudaStream_t s);

}  // namespace effitune::engine::cuda::p2p
