// NCCL communicators for the tensor-parallel backend, through libnccl.so.2 loaded at run time (like
// NVML in probes/): a build needs no NCCL package, and a machine without it fails with a clear error
// only when gpu_count > 1 is asked for. The few declarations below follow nccl.h (2.x ABI).
#ifdef EFFITUNE_WITH_CUDA

#include <cuda_runtime.h>
#include <dlfcn.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "cuda/cuda_backend_factory.h"
#include "cuda/p2p_comm.h"
#include "tp/rank_threads.h"

namespace effitune::engine {
namespace {

using NcclComm = void*;           // ncclComm_t
using NcclResult = int;           // ncclResult_t; 0 = ncclSuccess
constexpr int kNcclFloat32 = 7;   // ncclFloat32
constexpr int kNcclSum = 0;       // ncclSum

struct Nccl {
  NcclResult (*comm_init_all)(NcclComm*, int, const int*) = nullptr;
  NcclResult (*all_reduce)(const void*, void*, size_t, int, int, NcclComm, void*) = nullptr;
  NcclResult (*comm_destroy)(NcclComm) = nullptr;
  const char* (*error_string)(NcclResult) = nullptr;
  NcclResult (*get_version)(int*) = nullptr;
  std::string error;  // why loading failed; empty when loaded
};

const Nccl& nccl() {
  static Nccl lib;
  static std::once_flag once;
  std::call_once(once, [] {
    const char* env = std::getenv("EFFITUNE_NCCL_LIBRARY");
    const std::string path = env != nullptr && *env != '\0' ? env : "libnccl.so.2";
    void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (h == nullptr) {
      lib.error = "cannot load " + path + " (" + dlerror() +
                  "); install NCCL (libnccl2) or set EFFITUNE_NCCL_LIBRARY to its path";
      return;
    }
    auto sym = [&](auto& fn, const char* name) {
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(h, name));
      if (fn == nullptr && lib.error.empty()) lib.error = path + " lacks " + name;
    };
    sym(lib.comm_init_all, "ncclCommInitAll");
    sym(lib.all_reduce, "ncclAllReduce");
    sym(lib.comm_destroy, "ncclCommDestroy");
    sym(lib.error_string, "ncclGetErrorString");
    sym(lib.get_version, "ncclGetVersion");
  });
  return lib;
}

Status nccl_status(NcclResult r, const char* what) {
  if (r == 0) return {};
  return internal_error(std::string("nccl: ") + what + ": " + nccl().error_string(r));
}

class NcclCommunicator final : public Communicator {
 public:
  NcclCommunicator(NcclComm comm, int32_t rank, int32_t size) : comm_(comm), rank_(rank), size_(size) {}
  ~NcclCommunicator() override { nccl().comm_destroy(comm_); }
  int32_t rank() const override { return rank_; }
  int32_t size() const override { return size_; }
  std::string name() const override {
    int v = 0;
    nccl().get_version(&v);
    return "nccl " + std::to_string(v / 10000) + "." + std::to_string(v / 100 % 100) + "." + std::to_string(v % 100);
  }
  Status all_reduce_sum(float* data, int64_t count, void* stream) override {
    return nccl_status(nccl().all_reduce(data, data, static_cast<size_t>(count), kNcclFloat32, kNcclSum, comm_, stream),
                       "all_reduce");
  }

 private:
  NcclComm comm_;
  int32_t rank_, size_;
};

Status cuda_ok(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return {};
  return internal_error(std::string("nccl group: ") + what + ": " + cudaGetErrorString(e));
}

// `reps` calls of call(rank, bytes of scratch, stream) on every rank (one thread each, each with
// `bytes` of zeroed device scratch), eagerly, after `warm` unmeasured ones; returns the slowest
// rank's seconds per call.
Result<double> time_collective(int32_t n, int32_t first_device, int64_t bytes, int32_t warm, int32_t reps,
                               const std::function<Status(int32_t, void*, cudaStream_t)>& call) {
  std::vector<double> seconds(static_cast<size_t>(n), 0.0);
  EFFITUNE_RETURN_IF_ERROR(tp::RankThreads(n).run([&](int32_t r) -> Status {
    EFFITUNE_RETURN_IF_ERROR(cuda_ok(cudaSetDevice(first_device + r), "cudaSetDevice"));
    void* buf = nullptr;
    cudaStream_t stream = nullptr;
    const size_t size = static_cast<size_t>(std::max<int64_t>(bytes, 4));
    EFFITUNE_RETURN_IF_ERROR(cuda_ok(cudaMalloc(&buf, size), "cudaMalloc"));
    EFFITUNE_RETURN_IF_ERROR(cuda_ok(cudaMemset(buf, 0, size), "cudaMemset"));
    EFFITUNE_RETURN_IF_ERROR(cuda_ok(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "cudaStreamCreate"));
    Status st;
    for (int32_t i = 0; i < warm && st.ok(); ++i) st = call(r, buf, stream);
    if (st.ok()) st = cuda_ok(cudaStreamSynchronize(stream), "warm-up");
    const auto t0 = std::chrono::steady_clock::now();
    for (int32_t i = 0; i < reps && st.ok(); ++i) st = call(r, buf, stream);
    if (st.ok()) st = cuda_ok(cudaStreamSynchronize(stream), "collective");
    seconds[static_cast<size_t>(r)] =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / std::max(1, reps);
    cudaStreamDestroy(stream);
    cudaFree(buf);
    return st;
  }));
  return *std::max_element(seconds.begin(), seconds.end());
}

// All-reduces of `count` floats through `group`.
Result<double> time_all_reduce(std::vector<std::unique_ptr<Communicator>>& group, int32_t first_device, int64_t count,
                               int32_t warm, int32_t reps) {
  return time_collective(static_cast<int32_t>(group.size()), first_device, count * 4, warm, reps,
                         [&](int32_t r, void* buf, cudaStream_t s) {
                           return group[static_cast<size_t>(r)]->all_reduce_sum(static_cast<float*>(buf), count, s);
                         });
}

}  // namespace

Result<std::vector<std::unique_ptr<Communicator>>> make_nccl_group(int32_t first_device, int32_t n) {
  // Overwrites any inherited value: NVLink SHARP multicast can put a shared host's GPUs out of
  // service, and this process must never turn it on.
  setenv("NCCL_NVLS_ENABLE", "0", 1);
  const Nccl& lib = nccl();
  if (!lib.error.empty()) return unavailable("tensor parallelism needs NCCL: " + lib.error);
  std::vector<int> devices(static_cast<size_t>(n));
  for (int32_t r = 0; r < n; ++r) devices[static_cast<size_t>(r)] = first_device + r;
  std::vector<NcclComm> comms(static_cast<size_t>(n), nullptr);
  EFFITUNE_RETURN_IF_ERROR(nccl_status(lib.comm_init_all(comms.data(), n, devices.data()), "ncclCommInitAll"));
  std::vector<std::unique_ptr<Communicator>> group;
  for (int32_t r = 0; r < n; ++r) group.push_back(std::make_unique<NcclCommunicator>(comms[static_cast<size_t>(r)], r, n));
  // NCCL connects its channels on the first collective; doing that here, eagerly, keeps it out of the
  // first decode step's CUDA graph capture.
  EFFITUNE_RETURN_IF_ERROR(time_all_reduce(group, first_device, 1, 1, 0).status());
  return group;
}

Result<double> cuda_all_reduce_seconds(int32_t first_device, int32_t n, int64_t count, int32_t reps) {
  EFFITUNE_ASSIGN_OR_RETURN(auto group, make_cuda_tp_group(first_device, n));
  return time_all_reduce(group, first_device, count, 10, reps);
}

Result<double> cuda_residual_add_seconds(int32_t first_device, int32_t n, int32_t rows, int32_t dim,
                                         bool bf16_activations, int32_t reps) {
  EFFITUNE_ASSIGN_OR_RETURN(auto group, make_cuda_tp_group(first_device, n));
  for (auto& g : group) {
    auto* add = dynamic_cast<cuda::NormingCommunicator*>(g.get());
    if (add == nullptr || !add->adds_partials(rows, dim))
      return unavailable("no residual add for " + std::to_string(rows) + " rows (no peer access?)");
  }
  const int64_t count = static_cast<int64_t>(rows) * dim;
  const cuda::ActType act = bf16_activations ? cuda::ActType::kBF16 : cuda::ActType::kF32;
  const cuda::ActType part = cuda::tp_partial_type(act);  // as the backend picks it
  // Scratch: x (f32), the norm weight, xn (bf16); all zeros. The partials are where the projection
  // writes them in a decode step (partial_buffer: nothing to copy).
  return time_collective(n, first_device, count * 4 + dim * 4 + count * 2, 10, reps,
                         [&](int32_t r, void* buf, cudaStream_t s) {
                           float* x = static_cast<float*>(buf);
                           float* w = x + count;
                           auto* add = static_cast<cuda::NormingCommunicator*>(group[static_cast<size_t>(r)].get());
                           return add->all_reduce_add(add->partial_buffer(), part, x, rows, dim, w, 1e-5f, act,
                                                      w + dim, s);
                         });
}

}  // namespace effitune::engine

#endif  // EFFITUNE_WITH_CUDA
