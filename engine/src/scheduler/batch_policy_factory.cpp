#include <functional>

#include "effitune/engine/batch_policy.h"

namespace effitune::engine {
namespace {

template <typename Policy, typename Params>
Result<std::unique_ptr<BatchPolicy>> build(const PolicyParams& params) {
  EFFITUNE_ASSIGN_OR_RETURN(Params p, Params::from(params));
  return std::unique_ptr<BatchPolicy>(std::make_unique<Policy>(p));
}

using Builder = std::function<Result<std::unique_ptr<BatchPolicy>>(const PolicyParams&)>;

const std::vector<std::pair<std::string, Builder>>& registry() {
  static const std::vector<std::pair<std::string, Builder>> kRegistry = {
      {"static", build<StaticPolicy, StaticPolicyParams>},
      {"continuous", build<ContinuousPolicy, ContinuousPolicyParams>},
      {"adaptive", build<AdaptivePolicy, AdaptivePolicyParams>},
      {"time_window", build<TimeWindowPolicy, TimeWindowPolicyParams>},
      {"load", build<LoadPolicy, LoadPolicyParams>},
      {"predictive", build<PredictivePolicy, PredictivePolicyParams>},
      {"priority", build<PriorityPolicy, PriorityPolicyParams>},
      {"hybrid", build<HybridPolicy, HybridPolicyParams>},
  };
  return kRegistry;
}

}  // namespace

std::vector<std::string> batch_policy_names() {
  std::vector<std::string> names;
  for (const auto& [name, builder] : registry()) names.push_back(name);
  return names;
}

Result<std::unique_ptr<BatchPolicy>> make_batch_policy(const std::string& name, const PolicyParams& params) {
  for (const auto& [n, builder] : registry())
    if (n == name) return builder(params);
  std::string names;
  for (const auto& n : batch_policy_names()) names += (names.empty() ? "" : ", ") + n;
  return invalid_argument("unknown batch policy '" + name + "' (expected one of: " + names + ")");
}

}  // namespace effitune::engine
