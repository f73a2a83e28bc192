#include "scheduler/policy_params.h"

#include <cmath>

namespace effitune::engine {

double ParamReader::real(const std::string& key, double def, double lo, double hi) {
  known_.insert(key);
  auto it = params_.find(key);
  if (it == params_.end()) return def;
  const double v = it->second;
  if (!std::isfinite(v) || v < lo || v > hi) {
    if (error_.ok())
      error_ = invalid_argument("batch policy '" + policy_ + "': parameter '" + key + "' = " + std::to_string(v) +
                                " is outside [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
    return def;
  }
  return v;
}

int32_t ParamReader::integer(const std::string& key, int32_t def, int32_t lo, int32_t hi) {
  const double v = real(key, def, lo, hi);
  if (v != std::floor(v) && error_.ok())
    error_ = invalid_argument("batch policy '" + policy_ + "': parameter '" + key + "' must be a whole number, got " +
                              std::to_string(v));
  return static_cast<int32_t>(v);
}

bool ParamReader::flag(const std::string& key, bool def) { return integer(key, def ? 1 : 0, 0, 1) != 0; }

Status ParamReader::finish() const {
  if (!error_.ok()) return error_;
  for (const auto& [key, value] : params_) {
    if (known_.count(key)) continue;
    std::string names;
    for (const auto& k : known_) names += (names.empty() ? "" : ", ") + k;
    return invalid_argument("batch policy '" + policy_ + "': unknown parameter '" + key + "' (known: " + names + ")");
  }
  return {};
}

}  // namespace effitune::engine
