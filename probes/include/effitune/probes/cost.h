// Running cost R (mission.md): $/hour of the deployment, from a price table, plus energy where power
// can be read, and $ per 1M good output tokens.
//
// GPU power comes from NVML, loaded at run time with dlopen("libnvidia-ml.so.1") so the binary has no
// link-time dependency on the driver. When NVML is absent or fails, energy is unknown (nullopt),
// never zero: an unknown cost must not look free.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "effitune/common/status.h"

namespace effitune::probes {

struct PriceTable {
  std::map<std::string, double> usd_per_gpu_hour;  // by GPU model, e.g. "H100" -> 2.49
  double usd_per_cpu_core_hour = 0;
  std::optional<double> usd_per_kwh;               // unset: energy is not priced
};

// "H100=2.49,H200=3.19,cpu_core=0.04,kwh=0.15": GPU models by name, plus the keys cpu_core and kwh.
// kInvalidArgument naming the bad item (no '=', a negative or non-numeric price, a repeated key).
Result<PriceTable> parse_price_table(std::string_view text);

// The price of `gpu_name` (as NVML reports it, e.g. "NVIDIA H100 80GB HBM3"): an exact key, else the
// longest key contained in the name, case-insensitively. kNotFound listing the known models.
Result<double> gpu_price_per_hour(const PriceTable& table, std::string_view gpu_name);

struct Deployment {
  std::string gpu_model;       // empty for CPU-only
  int32_t gpus_per_replica = 0;
  int32_t cpu_cores_per_replica = 0;
  int32_t replicas = 1;
};

struct CostInput {
  Deployment deployment;
  std::optional<double> mean_power_w;  // measured power of one replica's GPUs; nullopt = unknown
  double good_output_tokens = 0;       // output tokens of good requests during the measured span
  double measured_s = 0;               // span the tokens were produced in, by one replica
};

struct CostReport {
  double hardware_usd_per_hour = 0;           // GPUs and CPU cores of all replicas
  std::optional<double> energy_usd_per_hour;  // unknown without power or a $/kWh price
  double usd_per_hour = 0;                    // hardware + energy (energy counted only when known)
  bool energy_known = false;
  std::optional<double> usd_per_million_good_tokens;  // nullopt when no good tokens were produced
};

// kNotFound when the GPU model has no price; kInvalidArgument for negative counts or a non-positive
// measured span with tokens.
Result<CostReport> compute_cost(const PriceTable& prices, const CostInput& input);

struct EnergyReading {
  double joules = 0;
  double seconds = 0;
  double mean_power_w = 0;
  int64_t samples = 0;
  bool from_energy_counter = false;  // NVML's total-energy counter (Volta+), else integrated power samples
};

// Samples the power of NVIDIA GPUs on a background thread between start() and stop().
class PowerMeter {
 public:
  // Opens NVML and the GPUs `devices` (empty: all). nullptr when the library, a GPU or the power
  // query is unavailable (e.g. a CPU-only machine); `why` (optional) says which.
  static std::unique_ptr<PowerMeter> open(const std::vector<int>& devices = {}, std::string* why = nullptr);
  virtual ~PowerMeter() = default;
  virtual std::vector<std::string> gpu_names() const = 0;
  // Begins sampling every interval_s (>= 0.01). Not thread-safe with stop().
  virtual void start(double interval_s = 0.1) = 0;
  // Ends sampling; nullopt when no reading could be taken (energy unknown).
  virtual std::optional<EnergyReading> stop() = 0;
};

}  // namespace effitune::probes
