// Reads a policy's numeric parameters with range checks and rejects names the policy does not know,
// so a typo in an experiment file fails loudly instead of silently using a default.
#pragma once

#include <cstdint>
#include <set>
#include <string>

#include "effitune/engine/batch_policy.h"

namespace effitune::engine {

class ParamReader {
 public:
  ParamReader(std::string policy, const PolicyParams& params) : policy_(std::move(policy)), params_(params) {}
  // Each getter returns the default when absent; records an error when the value is out of [lo, hi].
  double real(const std::string& key, double def, double lo, double hi);
  int32_t integer(const std::string& key, int32_t def, int32_t lo, int32_t hi);
  bool flag(const std::string& key, bool def);
  // kInvalidArgument for the first bad value or unknown key (listing the known ones), else OK.
  Status finish() const;

 private:
  std::string policy_;
  const PolicyParams& params_;
  std::set<std::string> known_;
  Status error_;
};

}  // namespace effitune::engine
