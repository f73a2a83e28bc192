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
#include "p2p_kernels.cuh"

namespace effitune::engine {
namespace cuda {
namespace {

using namespace p2p;

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
  void set_two_shot(bool on) override { two_shot_min_rows_ = on ? 1 : 0, two_shot_min_ranks_ = on ? 1 : kTwoShotMinRanks; }
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
    a.two_shot = a.push && a.norm_regs && part != ActType::kF32 && two_shot_min_rows_ > 0 && rows >= two_shot_min_rows_ &&
                 size() >= two_shot_min_ranks_;
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
    // One CTA a row for the pushed updates with the norm in registers, rather than 64 CTAs of up to 4
    // rows: a CTA's rows were a serial chain (x load, wait, add, block sum, store), 12.6 us a call at
    // TP=4 batch 256 after the data had arrived against 2.0 for one row. 8B bf16 on 4 x H100 (session
    // 14, 64 CTAs -> one a row): TP=4 batch 256 56,341 -> 60,486 tok/s, batch 128 37,476 -> 40,426;
    // TP=2 batch 256 39,026 -> 41,223. The other paths keep 64 (their flags and call numbers are per CTA).
    a.blocks = a.push && a.norm_regs ? std::max(kBlocks, rows) : kBlocks;
    launch_all_reduce_add(a, part, act, static_cast<cudaStream_t>(stream));
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
  // Residual updates of at least this many rows, in groups of at least two_shot_min_ranks_, are two-shot
  // where they can be (P2pArgs::two_shot); EFFITUNE_TP_TWO_SHOT_MIN_ROWS (0: never) for A/B timing.
  // 8B bf16 on 4 x H100 (session 14, 2 runs each, one-shot -> two-shot): TP=4 batch 64 20,836 ->
  // 21,794 tok/s (2.21x -> 2.31x TP=1), batch 256 47,316 -> 53,650 (1.84x -> 2.09x); at TP=2, where
  // a rank sends the same bytes either way and the two-shot adds a hop, batch 64 15,243 -> 14,985.
  static constexpr int32_t kTwoShotMinRanks = 4;
  int32_t two_shot_min_rows_ = [] {
    const char* v = std::getenv("EFFITUNE_TP_TWO_SHOT_MIN_ROWS");
    return v != nullptr && *v != '\0' ? std::max(0, std::atoi(v)) : 8;
  }();
  int32_t two_shot_min_ranks_ = kTwoShotMinRanks;  // set_two_shot(true): 1, with 1 row (tests)

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
