// Arrival schedules: unit-mean renewal gaps in operational time, mapped through the rate profile.
#include "effitune/probes/arrivals.h"

#include <charconv>
#include <cmath>
#include <random>

#include "random_draws.h"

namespace effitune::probes {
namespace {

bool finite_positive(double x) { return std::isfinite(x) && x > 0; }

// Operational time -> wall time for a piecewise-linear rate profile.
class RateProfile {
 public:
  explicit RateProfile(std::vector<RatePhase> phases) : phases_(std::move(phases)) {
    double start = 0, mass = 0;
    for (const RatePhase& p : phases_) {
      starts_.push_back(start);
      masses_.push_back(mass);
      start += p.duration_s;
      mass += 0.5 * (p.start_rate_per_s + p.end_rate_per_s) * p.duration_s;
    }
    end_s_ = start;
    end_mass_ = mass;
    tail_rate_ = phases_.back().end_rate_per_s;
  }

  // The t with Lambda(t) = tau; +inf when the profile never accumulates that much.
  double invert(double tau) {
    while (cur_ < phases_.size() && tau > masses_[cur_] + phase_mass(cur_)) ++cur_;
    if (cur_ == phases_.size()) {
      if (tail_rate_ <= 0) return INFINITY;
      return end_s_ + (tau - end_mass_) / tail_rate_;
    }
    const RatePhase& p = phases_[cur_];
    const double m = tau - masses_[cur_];
    const double a = p.start_rate_per_s;
    const double slope = (p.end_rate_per_s - a) / p.duration_s;
    // Solve a*s + slope*s^2/2 = m for s >= 0, in the form that is stable when slope -> 0.
    const double disc = std::max(0.0, a * a + 2 * slope * m);
    const double denom = a + std::sqrt(disc);
    const double s = denom > 0 ? 2 * m / denom : 0.0;
    return starts_[cur_] + std::min(s, p.duration_s);
  }

 private:
  double phase_mass(size_t i) const {
    return 0.5 * (phases_[i].start_rate_per_s + phases_[i].end_rate_per_s) * phases_[i].duration_s;
  }
  std::vector<RatePhase> phases_;
  std::vector<double> starts_, masses_;
  double end_s_ = 0, end_mass_ = 0, tail_rate_ = 0;
  size_t cur_ = 0;
};

}  // namespace

double unit_uniform(uint64_t draw) { return static_cast<double>(draw >> 11) * 0x1.0p-53; }

const char* arrival_kind_name(ArrivalKind kind) {
  switch (kind) {
    case ArrivalKind::kConstant: return "constant";
    case ArrivalKind::kPoisson: return "poisson";
    case ArrivalKind::kGamma: return "gamma";
  }
  return "?";
}

Result<ArrivalKind> parse_arrival_kind(std::string_view name) {
  if (name == "constant") return ArrivalKind::kConstant;
  if (name == "poisson") return ArrivalKind::kPoisson;
  if (name == "gamma") return ArrivalKind::kGamma;
  return invalid_argument("unknown arrival process '" + std::string(name.substr(0, 40)) +
                          "' (known: constant, poisson, gamma)");
}

Result<std::vector<double>> schedule_arrivals(const ArrivalSpec& spec, double duration_s, uint64_t seed,
                                              size_t max_arrivals) {
  if (!finite_positive(duration_s)) return invalid_argument("duration_s must be a positive number of seconds");
  std::vector<RatePhase> phases = spec.phases;
  if (phases.empty()) {
    if (!finite_positive(spec.rate_per_s)) return invalid_argument("rate_per_s must be positive and finite");
    phases.push_back({duration_s, spec.rate_per_s, spec.rate_per_s});
  }
  for (size_t i = 0; i < phases.size(); ++i) {
    const RatePhase& p = phases[i];
    if (!finite_positive(p.duration_s) || !std::isfinite(p.start_rate_per_s) || !std::isfinite(p.end_rate_per_s) ||
        p.start_rate_per_s < 0 || p.end_rate_per_s < 0)
      return invalid_argument("rate phase " + std::to_string(i + 1) +
                              ": needs a positive duration and non-negative finite rates");
  }
  if (spec.kind == ArrivalKind::kGamma && !finite_positive(spec.cv))
    return invalid_argument("gamma arrivals need cv > 0 (1 = Poisson, > 1 bursty)");

  RateProfile profile(std::move(phases));
  detail::Draws draws(seed);
  const double shape = spec.kind == ArrivalKind::kGamma ? 1.0 / (spec.cv * spec.cv) : 1.0;
  std::vector<double> times;
  double tau = 0;
  bool first = true;
  while (true) {
    double gap = 1.0;
    if (spec.kind == ArrivalKind::kPoisson) gap = draws.exponential();
    else if (spec.kind == ArrivalKind::kGamma) gap = draws.gamma(shape) / shape;
    // A constant schedule starts at 0; a random one starts after one random gap, like the process.
    if (spec.kind == ArrivalKind::kConstant && first) gap = 0;
    first = false;
    tau += gap;
    const double t = profile.invert(tau);
    if (!(t < duration_s)) break;
    if (times.size() == max_arrivals)
      return resource_exhausted("the schedule has more than " + std::to_string(max_arrivals) +
                                " arrivals; lower the rate or the duration");
    times.push_back(t);
  }
  return times;
}

Result<std::vector<RatePhase>> parse_rate_phases(std::string_view text) {
  std::vector<RatePhase> out;
  size_t start = 0;
  auto number = [](std::string_view s, double& v) {
    const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
    return !s.empty() && r.ec == std::errc() && r.ptr == s.data() + s.size() && std::isfinite(v) && v >= 0;
  };
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    if (comma == std::string_view::npos) comma = text.size();
    const std::string_view item = text.substr(start, comma - start);
    const std::string err = "rate phase '" + std::string(item.substr(0, 40)) +
                            "': expected RATE:SECONDS or RATE-RATE:SECONDS, e.g. 5:10,50:2,5-20:30";
    const size_t colon = item.find(':');
    if (colon == std::string_view::npos || out.size() >= 10000) return invalid_argument(err);
    const std::string_view rates = item.substr(0, colon);
    RatePhase p;
    const size_t dash = rates.find('-');
    if (!number(item.substr(colon + 1), p.duration_s) || p.duration_s <= 0) return invalid_argument(err);
    if (dash == std::string_view::npos) {
      if (!number(rates, p.start_rate_per_s)) return invalid_argument(err);
      p.end_rate_per_s = p.start_rate_per_s;
    } else if (!number(rates.substr(0, dash), p.start_rate_per_s) ||
               !number(rates.substr(dash + 1), p.end_rate_per_s)) {
      return invalid_argument(err);
    }
    out.push_back(p);
    start = comma + 1;
  }
  return out;
}

}  // namespace effitune::probes
