// CUPTI kernel timeline (kernel_trace.h); its arithmetic is kernel_trace_summary.h. Everything here
// runs only with EFFITUNE_CUDA_TRACE set.
#include "cuda/kernel_trace.h"

#include "cuda/kernel_trace_summary.h"

#include <cstdio>
#include <cstdlib>

#if defined(EFFITUNE_WITH_CUDA) && __has_include(<cupti.h>)
#include <cupti.h>
#include <cxxabi.h>
#include <dlfcn.h>

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <iomanip>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

namespace effitune::engine::cuda {
namespace {

// The CUPTI entry points, from libcupti opened at run time (the toolkit's, not a link dependency).
struct Cupti {
  decltype(&cuptiActivityRegisterCallbacks) register_callbacks = nullptr;
  decltype(&cuptiActivityEnable) enable = nullptr;
  decltype(&cuptiActivityFlushAll) flush_all = nullptr;
  decltype(&cuptiActivityGetNextRecord) next_record = nullptr;
};

struct Trace {
  std::string path;
  size_t tail = 4000;
  Cupti api;
  std::mutex mu;  // CUPTI hands over full buffers from a thread of its own
  std::unordered_map<const char*, int32_t> name_ids;  // CUPTI shares one string per kernel
  std::vector<std::string> names;
  std::map<uint32_t, std::vector<TracedKernel>> by_device;  // CUPTI's clock: one for every GPU
};

Trace* g_trace = nullptr;  // set once, never freed: the exit handler reads it

constexpr size_t kBufferBytes = size_t{8} << 20;

void CUPTIAPI buffer_requested(uint8_t** buffer, size_t* size, size_t* max_records) {
  *buffer = static_cast<uint8_t*>(std::aligned_alloc(8, kBufferBytes));
  *size = *buffer != nullptr ? kBufferBytes : 0;
  *max_records = 0;
}

std::string demangle(const char* name) {
  int status = 0;
  char* d = abi::__cxa_demangle(name, nullptr, nullptr, &status);
  std::string out = status == 0 && d != nullptr ? d : name;
  std::free(d);
  return out;
}

void CUPTIAPI buffer_completed(CUcontext, uint32_t, uint8_t* buffer, size_t, size_t valid) {
  Trace& t = *g_trace;
  {
    std::lock_guard<std::mutex> lock(t.mu);
    CUpti_Activity* record = nullptr;
    while (t.api.next_record(buffer, valid, &record) == CUPTI_SUCCESS) {
      if (record->kind != CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL && record->kind != CUPTI_ACTIVITY_KIND_KERNEL) continue;
      // The fields read here sit at the same offsets in every CUpti_ActivityKernel version since 4.
      const auto* k = reinterpret_cast<const CUpti_ActivityKernel10*>(record);
      const char* key = k->name != nullptr ? k->name : "?";
      auto [it, added] = t.name_ids.try_emplace(key, static_cast<int32_t>(t.names.size()));
      if (added) t.names.push_back(demangle(key));
      t.by_device[k->deviceId].push_back({k->start, k->end, it->second});
    }
  }
  std::free(buffer);
}

// Gaps between one kernel's end and the next start on a GPU up to this long are a step's own
// (launch and dependency latency); longer ones are the host between steps or phases.
constexpr uint64_t kShortGapNs = 50000;

void write_summary() {
  Trace& t = *g_trace;
  t.api.flush_all(CUPTI_ACTIVITY_FLAG_FLUSH_FORCED);
  std::lock_guard<std::mutex> lock(t.mu);
  std::ofstream out(t.path);
  std::ofstream csv(t.path + ".csv");
  if (!out || !csv) {
    std::fprintf(stderr, "effitune: EFFITUNE_CUDA_TRACE: cannot write %s or its .csv; set it to a writable path\n",
                 t.path.c_str());
    return;
  }
  for (const std::string& line : summarize_kernel_trace(t.by_device, t.names, kShortGapNs)) out << line << "\n";
  uint64_t t0 = UINT64_MAX;  // the CSV's times are from the first kernel of any GPU
  for (const auto& [dev, ks] : t.by_device)
    if (!ks.empty()) t0 = std::min(t0, ks.front().start);  // sorted by summarize_kernel_trace
  csv << "device,start_us,end_us,kernel\n";
  csv << std::fixed << std::setprecision(3);  // the stream's default 6 digits round times past 1 s to 10 us
  for (const auto& [dev, ks] : t.by_device)
    for (size_t i = ks.size() > t.tail ? ks.size() - t.tail : 0; i < ks.size(); ++i)
      csv << dev << ',' << static_cast<double>(ks[i].start - t0) * 1e-3 << ',' << static_cast<double>(ks[i].end - t0) * 1e-3
          << ',' << nlohmann::json(t.names[static_cast<size_t>(ks[i].name)]).dump() << '\n';
  std::fprintf(stderr, "effitune: kernel trace of %zu GPU(s) written to %s (summary) and %s.csv (last kernels)\n",
               t.by_device.size(), t.path.c_str(), t.path.c_str());
}

bool open_cupti(Cupti& api) {
  void* lib = nullptr;
  for (const char* name : {"libcupti.so.13", "libcupti.so.12", "libcupti.so", "/usr/local/cuda/lib64/libcupti.so",
                           "/usr/local/cuda/extras/CUPTI/lib64/libcupti.so"})
    if ((lib = dlopen(name, RTLD_NOW | RTLD_LOCAL)) != nullptr) break;
  if (lib == nullptr) return false;
  api.register_callbacks = reinterpret_cast<decltype(api.register_callbacks)>(dlsym(lib, "cuptiActivityRegisterCallbacks"));
  api.enable = reinterpret_cast<decltype(api.enable)>(dlsym(lib, "cuptiActivityEnable"));
  api.flush_all = reinterpret_cast<decltype(api.flush_all)>(dlsym(lib, "cuptiActivityFlushAll"));
  api.next_record = reinterpret_cast<decltype(api.next_record)>(dlsym(lib, "cuptiActivityGetNextRecord"));
  return api.register_callbacks && api.enable && api.flush_all && api.next_record;
}

}  // namespace

void start_kernel_trace_from_env() {
  static std::once_flag once;
  std::call_once(once, [] {
    const char* path = std::getenv("EFFITUNE_CUDA_TRACE");
    if (path == nullptr || *path == '\0') return;
    auto* t = new Trace;
    t->path = path;
    if (const char* tail = std::getenv("EFFITUNE_CUDA_TRACE_TAIL"); tail != nullptr && std::atol(tail) > 0)
      t->tail = static_cast<size_t>(std::atol(tail));
    if (!open_cupti(t->api)) {
      std::fprintf(stderr, "effitune: EFFITUNE_CUDA_TRACE: libcupti not found (put the CUDA toolkit's lib directory on "
                           "LD_LIBRARY_PATH); no trace\n");
      delete t;
      return;
    }
    g_trace = t;
    if (t->api.register_callbacks(buffer_requested, buffer_completed) != CUPTI_SUCCESS ||
        t->api.enable(CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL) != CUPTI_SUCCESS) {
      std::fprintf(stderr, "effitune: EFFITUNE_CUDA_TRACE: CUPTI refused kernel activity records; no trace\n");
      return;
    }
    std::atexit(write_summary);
  });
}

}  // namespace effitune::engine::cuda

#else

namespace effitune::engine::cuda {

void start_kernel_trace_from_env() {
  const char* path = std::getenv("EFFITUNE_CUDA_TRACE");
  if (path != nullptr && *path != '\0')
    std::fprintf(stderr, "effitune: EFFITUNE_CUDA_TRACE: this build has no CUPTI (no cupti.h in its CUDA toolkit); no trace\n");
}

}  // namespace effitune::engine::cuda

#endif
