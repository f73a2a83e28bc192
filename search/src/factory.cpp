#include "effitune/search/factory.h"

#include <algorithm>
#include <climits>
#include <cstdint>
#include <set>

#include "effitune/search/grid_search.h"
#include "effitune/search/hill_climbing.h"
#include "effitune/search/random_search.h"
#include "effitune/search/successive_halving.h"
#include "effitune/search/tpe.h"

namespace effitune::search {
namespace {

// Reads typed parameters and remembers which were used, so that leftovers (typos) are reported.
class ParamReader {
 public:
  ParamReader(std::string strategy, const StrategyParams& params) : strategy_(std::move(strategy)), params_(params) {}

  Status read(const std::string& key, int64_t& out) {
    allowed_.insert(key);
    const Value* v = find(key);
    if (!v) return Status::ok_status();
    if (const auto* i = std::get_if<int64_t>(v)) {
      out = *i;
      return Status::ok_status();
    }
    return wrong_type(key, "an integer", *v);
  }
  Status read(const std::string& key, int& out) {
    int64_t wide = out;
    EFFITUNE_RETURN_IF_ERROR(read(key, wide));
    if (wide < INT32_MIN || wide > INT32_MAX) return invalid_argument(where(key) + "is out of range");
    out = static_cast<int>(wide);
    return Status::ok_status();
  }
  Status read(const std::string& key, uint64_t& out) {
    int64_t wide = static_cast<int64_t>(out);
    EFFITUNE_RETURN_IF_ERROR(read(key, wide));
    if (wide < 0) return invalid_argument(where(key) + "must be >= 0");
    out = static_cast<uint64_t>(wide);
    return Status::ok_status();
  }
  Status read(const std::string& key, double& out) {
    allowed_.insert(key);
    const Value* v = find(key);
    if (!v) return Status::ok_status();
    if (const auto* d = std::get_if<double>(v)) out = *d;
    else if (const auto* i = std::get_if<int64_t>(v)) out = static_cast<double>(*i);
    else return wrong_type(key, "a number", *v);
    return Status::ok_status();
  }
  Status read(const std::string& key, bool& out) {
    allowed_.insert(key);
    const Value* v = find(key);
    if (!v) return Status::ok_status();
    const auto* i = std::get_if<int64_t>(v);
    const auto* s = std::get_if<std::string>(v);
    if (i && (*i == 0 || *i == 1)) out = *i == 1;
    else if (s && (*s == "true" || *s == "false")) out = *s == "true";
    else return wrong_type(key, "true/false or 0/1", *v);
    return Status::ok_status();
  }
  // Every parameter `<prefix><name>`, with the prefix removed.
  std::map<std::string, Value> with_prefix(const std::string& prefix) {
    allowed_.insert(prefix + "<dim>");
    std::map<std::string, Value> out;
    for (const auto& [key, value] : params_) {
      if (key.rfind(prefix, 0) == 0) {
        out[key.substr(prefix.size())] = value;
        used_.insert(key);
      }
    }
    return out;
  }
  // kInvalidArgument naming the first parameter nobody read.
  Status finish() const {
    for (const auto& [key, value] : params_) {
      if (used_.count(key)) continue;
      std::string known;
      for (const auto& a : allowed_) known += (known.empty() ? "" : ", ") + a;
      return invalid_argument(strategy_ + ": unknown parameter '" + key + "'; it takes: " + known);
    }
    return Status::ok_status();
  }
  std::string where(const std::string& key) const { return strategy_ + ": parameter '" + key + "' "; }

 private:
  const Value* find(const std::string& key) {
    auto it = params_.find(key);
    if (it == params_.end()) return nullptr;
    used_.insert(key);
    return &it->second;
  }
  Status wrong_type(const std::string& key, const char* expected, const Value& got) const {
    return invalid_argument(where(key) + "expects " + expected + ", got '" + value_to_string(got) + "'");
  }

  std::string strategy_;
  const StrategyParams& params_;
  std::set<std::string> allowed_;
  std::set<std::string> used_;
};

Status read_resolutions(ParamReader& p, std::map<std::string, int>& out) {
  for (const auto& [dim, v] : p.with_prefix("resolution.")) {
    const auto* i = std::get_if<int64_t>(&v);
    if (!i) return invalid_argument(p.where("resolution." + dim) + "expects an integer");
    out[dim] = static_cast<int>(std::clamp<int64_t>(*i, 0, INT32_MAX));
  }
  return Status::ok_status();
}

Result<std::unique_ptr<Strategy>> grid(ParamReader& p, const Space& space, uint64_t seed) {
  GridOptions o;
  EFFITUNE_RETURN_IF_ERROR(p.read("resolution", o.resolution));
  EFFITUNE_RETURN_IF_ERROR(p.read("shuffle", o.shuffle));
  EFFITUNE_RETURN_IF_ERROR(p.read("max_points", o.max_points));
  EFFITUNE_RETURN_IF_ERROR(read_resolutions(p, o.resolutions));
  EFFITUNE_RETURN_IF_ERROR(p.finish());
  return make_grid_search(space, o, seed);
}

Result<std::unique_ptr<Strategy>> random(ParamReader& p, const Space& space, uint64_t seed) {
  RandomOptions o;
  EFFITUNE_RETURN_IF_ERROR(p.read("max_trials", o.max_trials));
  EFFITUNE_RETURN_IF_ERROR(p.finish());
  return make_random_search(space, o, seed);
}

Result<std::unique_ptr<Strategy>> hill(ParamReader& p, const Space& space, uint64_t seed) {
  HillClimbingOptions o;
  EFFITUNE_RETURN_IF_ERROR(p.read("resolution", o.resolution));
  EFFITUNE_RETURN_IF_ERROR(p.read("min_improvement", o.min_improvement));
  EFFITUNE_RETURN_IF_ERROR(read_resolutions(p, o.resolutions));
  EFFITUNE_RETURN_IF_ERROR(p.read("max_trials", o.max_trials));
  auto start = p.with_prefix("start.");
  if (!start.empty()) o.start = Configuration{std::move(start)};
  EFFITUNE_RETURN_IF_ERROR(p.finish());
  return make_hill_climbing(space, o, seed);
}

Result<std::unique_ptr<Strategy>> halving(ParamReader& p, const Space& space, uint64_t seed) {
  HalvingOptions o;
  EFFITUNE_RETURN_IF_ERROR(p.read("min_fidelity", o.min_fidelity));
  EFFITUNE_RETURN_IF_ERROR(p.read("max_fidelity", o.max_fidelity));
  EFFITUNE_RETURN_IF_ERROR(p.read("eta", o.eta));
  EFFITUNE_RETURN_IF_ERROR(p.read("n_configs", o.n_configs));
  EFFITUNE_RETURN_IF_ERROR(p.finish());
  return make_successive_halving(space, o, seed);
}

Result<std::unique_ptr<Strategy>> tpe(ParamReader& p, const Space& space, uint64_t seed) {
  TpeOptions o;
  EFFITUNE_RETURN_IF_ERROR(p.read("n_startup_trials", o.n_startup_trials));
  EFFITUNE_RETURN_IF_ERROR(p.read("n_ei_candidates", o.n_ei_candidates));
  EFFITUNE_RETURN_IF_ERROR(p.read("gamma_fraction", o.gamma_fraction));
  EFFITUNE_RETURN_IF_ERROR(p.read("gamma_max", o.gamma_max));
  EFFITUNE_RETURN_IF_ERROR(p.read("prior_weight", o.prior_weight));
  EFFITUNE_RETURN_IF_ERROR(p.read("consider_magic_clip", o.consider_magic_clip));
  EFFITUNE_RETURN_IF_ERROR(p.read("consider_endpoints", o.consider_endpoints));
  EFFITUNE_RETURN_IF_ERROR(p.read("max_trials", o.max_trials));
  EFFITUNE_RETURN_IF_ERROR(p.finish());
  return make_tpe(space, o, seed);
}

}  // namespace

std::vector<std::string> strategy_names() { return {"grid", "random", "hill", "halving", "tpe"}; }

Result<std::unique_ptr<Strategy>> make_strategy(std::string_view name, const StrategyParams& params,
                                                const Space& space, uint64_t seed) {
  ParamReader p{std::string(name), params};
  if (name == "grid") return grid(p, space, seed);
  if (name == "random") return random(p, space, seed);
  if (name == "hill") return hill(p, space, seed);
  if (name == "halving") return halving(p, space, seed);
  if (name == "tpe") return tpe(p, space, seed);
  std::string known;
  for (const auto& n : strategy_names()) known += (known.empty() ? "" : ", ") + n;
  return invalid_argument("unknown strategy '" + std::string(name) + "'; use one of: " + known);
}

}  // namespace effitune::search
