// NVML power sampling through dlopen("libnvidia-ml.so.1"): no link-time dependency on the driver.
// Only the handful of entry points we need are declared here, with NVML's C ABI (nvml.h).
#include <dlfcn.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "effitune/probes/cost.h"
#include "effitune/probes/target.h"

namespace effitune::probes {
namespace {

using nvmlReturn_t = int;  // NVML_SUCCESS == 0
using nvmlDevice_t = struct nvmlDevice_st*;
constexpr int kNvmlDeviceNameBufferSize = 96;

struct NvmlApi {
  void* lib = nullptr;
  nvmlReturn_t (*init)() = nullptr;
  nvmlReturn_t (*shutdown)() = nullptr;
  nvmlReturn_t (*device_count)(unsigned int*) = nullptr;
  nvmlReturn_t (*handle_by_index)(unsigned int, nvmlDevice_t*) = nullptr;
  nvmlReturn_t (*name)(nvmlDevice_t, char*, unsigned int) = nullptr;
  nvmlReturn_t (*power_usage)(nvmlDevice_t, unsigned int*) = nullptr;            // milliwatts
  nvmlReturn_t (*total_energy)(nvmlDevice_t, unsigned long long*) = nullptr;      // millijoules, Volta+
};

template <typename F>
bool bind(void* lib, const char* sym, F& f) {
  f = reinterpret_cast<F>(dlsym(lib, sym));
  return f != nullptr;
}

class NvmlPowerMeter : public PowerMeter {
 public:
  NvmlPowerMeter(NvmlApi api, std::vector<nvmlDevice_t> devices, std::vector<std::string> names)
      : api_(api), devices_(std::move(devices)), names_(std::move(names)) {}
  ~NvmlPowerMeter() override {
    stop_thread();
    api_.shutdown();
    dlclose(api_.lib);
  }

  std::vector<std::string> gpu_names() const override { return names_; }

  void start(double interval_s) override {
    stop_thread();
    interval_s_ = std::max(0.01, interval_s);
    joules_ = 0;
    samples_ = 0;
    energy_ok_ = read_energy_mj(energy_start_mj_);
    t_start_ = steady_now_s();
    last_t_ = t_start_;
    last_w_ = -1;
    sample();
    running_ = true;
    thread_ = std::thread([this] {
      std::unique_lock<std::mutex> lock(mu_);
      while (running_) {
        cv_.wait_for(lock, std::chrono::duration<double>(interval_s_));
        if (running_) sample();
      }
    });
  }

  std::optional<EnergyReading> stop() override {
    stop_thread();
    sample();
    EnergyReading r;
    r.seconds = steady_now_s() - t_start_;
    r.samples = samples_;
    unsigned long long end_mj = 0;
    if (energy_ok_ && read_energy_mj(end_mj) && end_mj >= energy_start_mj_) {
      r.joules = static_cast<double>(end_mj - energy_start_mj_) / 1000.0;
      r.from_energy_counter = true;
    } else if (samples_ >= 2) {
      r.joules = joules_;
    } else {
      return std::nullopt;
    }
    if (!(r.seconds > 0)) return std::nullopt;
    r.mean_power_w = r.joules / r.seconds;
    return r;
  }

 private:
  bool read_energy_mj(unsigned long long& total) {
    if (!api_.total_energy) return false;
    total = 0;
    for (nvmlDevice_t d : devices_) {
      unsigned long long mj = 0;
      if (api_.total_energy(d, &mj) != 0) return false;
      total += mj;
    }
    return true;
  }
  // Trapezoid integration of the summed power of all devices.
  void sample() {
    double watts = 0;
    for (nvmlDevice_t d : devices_) {
      unsigned int mw = 0;
      if (api_.power_usage(d, &mw) != 0) return;
      watts += mw / 1000.0;
    }
    const double t = steady_now_s();
    if (last_w_ >= 0) joules_ += 0.5 * (watts + last_w_) * (t - last_t_);
    last_t_ = t;
    last_w_ = watts;
    ++samples_;
  }
  void stop_thread() {
    {
      std::lock_guard<std::mutex> g(mu_);
      running_ = false;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

  NvmlApi api_;
  std::vector<nvmlDevice_t> devices_;
  std::vector<std::string> names_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::thread thread_;
  bool running_ = false;
  double interval_s_ = 0.1, t_start_ = 0, last_t_ = 0, last_w_ = -1, joules_ = 0;
  int64_t samples_ = 0;
  bool energy_ok_ = false;
  unsigned long long energy_start_mj_ = 0;
};

}  // namespace

std::unique_ptr<PowerMeter> PowerMeter::open(const std::vector<int>& devices, std::string* why) {
  auto fail = [&](const std::string& m) -> std::unique_ptr<PowerMeter> {
    if (why) *why = m;
    return nullptr;
  };
  NvmlApi api;
  api.lib = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!api.lib) return fail("libnvidia-ml.so.1 not found (no NVIDIA driver): energy is unknown");
  const bool bound = bind(api.lib, "nvmlInit_v2", api.init) && bind(api.lib, "nvmlShutdown", api.shutdown) &&
                     bind(api.lib, "nvmlDeviceGetCount_v2", api.device_count) &&
                     bind(api.lib, "nvmlDeviceGetHandleByIndex_v2", api.handle_by_index) &&
                     bind(api.lib, "nvmlDeviceGetName", api.name) &&
                     bind(api.lib, "nvmlDeviceGetPowerUsage", api.power_usage);
  bind(api.lib, "nvmlDeviceGetTotalEnergyConsumption", api.total_energy);  // optional
  if (!bound || api.init() != 0) {
    dlclose(api.lib);
    return fail("NVML did not initialise: energy is unknown");
  }
  auto close_fail = [&](const std::string& m) {
    api.shutdown();
    dlclose(api.lib);
    return fail(m);
  };
  unsigned int count = 0;
  if (api.device_count(&count) != 0 || count == 0) return close_fail("NVML sees no GPU: energy is unknown");
  std::vector<int> wanted = devices;
  if (wanted.empty())
    for (unsigned int i = 0; i < count; ++i) wanted.push_back(static_cast<int>(i));
  std::vector<nvmlDevice_t> handles;
  std::vector<std::string> names;
  for (int i : wanted) {
    nvmlDevice_t h = nullptr;
    if (i < 0 || static_cast<unsigned int>(i) >= count || api.handle_by_index(static_cast<unsigned int>(i), &h) != 0)
      return close_fail("GPU " + std::to_string(i) + " is not visible to NVML");
    char buf[kNvmlDeviceNameBufferSize] = {};
    if (api.name(h, buf, sizeof buf) != 0) buf[0] = '\0';
    unsigned int mw = 0;
    if (api.power_usage(h, &mw) != 0) return close_fail("GPU " + std::to_string(i) + " does not report power");
    handles.push_back(h);
    names.emplace_back(buf);
  }
  return std::make_unique<NvmlPowerMeter>(api, std::move(handles), std::move(names));
}

}  // namespace effitune::probes
