// Open-loop arrival schedules: when each request should be sent, decided before the run and never
// influenced by responses (the rate is the control, so there is no coordinated omission).
//
// Every schedule is a renewal process in "operational time" mapped through the rate profile: with
// Lambda(t) = integral of rate(u) du from 0 to t, the arrival times are t_i = Lambda^-1(tau_i), where
// tau_i are partial sums of unit-mean gaps: 1 (constant), Exp(1) (Poisson; with a varying rate this
// is exactly the inhomogeneous Poisson process) or Gamma(shape 1/cv^2, scale cv^2) (burstiness: cv > 1
// clusters arrivals, cv < 1 smooths them). Ramps and bursts are rate phases. All draws come from
// std::mt19937_64 with our own transforms, so a seed gives the same schedule on every platform.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "effitune/common/status.h"

namespace effitune::probes {

enum class ArrivalKind { kConstant, kPoisson, kGamma };
const char* arrival_kind_name(ArrivalKind kind);  // "constant", "poisson", "gamma"
// Inverse of arrival_kind_name; kInvalidArgument listing the known names.
Result<ArrivalKind> parse_arrival_kind(std::string_view name);

// The rate moves linearly from start to end over duration_s (start == end: a flat phase; a short
// high phase between low ones is a burst).
struct RatePhase {
  double duration_s = 0;
  double start_rate_per_s = 0;
  double end_rate_per_s = 0;
};

struct ArrivalSpec {
  ArrivalKind kind = ArrivalKind::kPoisson;
  double rate_per_s = 1;  // used when phases is empty
  double cv = 1;          // kGamma: coefficient of variation of the gaps, > 0
  // Optional rate profile; after the last phase its end rate continues.
  std::vector<RatePhase> phases;
};

// Arrival times in [0, duration_s), ascending, seconds from the start of the run. At most
// max_arrivals (kResourceExhausted beyond, naming the limit). kInvalidArgument for a non-positive or
// non-finite rate or duration, a negative phase rate, a phase of non-positive length or cv <= 0.
Result<std::vector<double>> schedule_arrivals(const ArrivalSpec& spec, double duration_s, uint64_t seed,
                                              size_t max_arrivals = 10'000'000);

// Rate phases from "R1:D1,R2:D2,R3-R4:D3" (rate per second : duration in seconds; "a-b" ramps from a
// to b). Example: "5:10,50:2,5:10" is a burst. kInvalidArgument naming the bad item.
Result<std::vector<RatePhase>> parse_rate_phases(std::string_view text);

// Uniform double in [0, 1) from the top 53 bits of one draw (platform-independent).
double unit_uniform(uint64_t draw);

}  // namespace effitune::probes
