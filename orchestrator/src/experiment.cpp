// The experiment YAML reader: one function per section, each checking its keys, types and ranges
// and naming the position of the first problem (schema: experiments/README.md).
#include "effitune/orchestrator/experiment.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "effitune/probes/capacity_search.h"
#include "effitune/search/factory.h"
#include "experiment_yaml.h"

namespace effitune::orchestrator {
namespace {

namespace fs = std::filesystem;
using yaml::Map;
using yaml::Reader;

// Experiment files are a few kilobytes; the cap keeps a hostile file from costing much memory.
constexpr size_t kMaxYamlBytes = size_t{1} << 20;

bool valid_name(const std::string& s) {
  return !s.empty() && s.size() <= 128 && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
           c == '.';
  });
}

std::string resolve(const std::string& base_dir, const std::string& p) {
  fs::path path(p);
  if (path.is_absolute() || base_dir.empty()) return path.lexically_normal().string();
  return (fs::path(base_dir) / path).lexically_normal().string();
}

Status check_file(const Reader& r, const YAML::Node& at, const std::string& key, const std::string& path,
                  const std::string& what) {
  std::error_code ec;
  if (fs::is_regular_file(path, ec)) return Status::ok_status();
  Status s = r.error(at, key, "an existing " + what, "'" + path + "', which does not exist",
                     "paths are relative to the experiment file's folder");
  return {StatusCode::kNotFound, s.message()};
}

Status read_model(const Reader& r, const Map& top, const std::string& base_dir, bool check_files, ModelRef& out) {
  EFFITUNE_ASSIGN_OR_RETURN(YAML::Node node, top.required("model", "a model file path or synthetic:NAME"));
  // YAML::Node's operator= writes through to the node it refers to, so rebind with reset().
  YAML::Node path_node;
  path_node.reset(node);
  if (node.IsMap()) {
    EFFITUNE_ASSIGN_OR_RETURN(Map m, Map::open(r, node, "model", {"path", "tokenizer"}));
    EFFITUNE_ASSIGN_OR_RETURN(YAML::Node inner, m.required("path", "a model file path or synthetic:NAME"));
    path_node.reset(inner);
    if (m.has("tokenizer")) {
      EFFITUNE_ASSIGN_OR_RETURN(std::string t, r.string(m.get("tokenizer"), "model.tokenizer"));
      out.tokenizer_path = resolve(base_dir, t);
      if (check_files) EFFITUNE_RETURN_IF_ERROR(check_file(r, m.get("tokenizer"), "model.tokenizer", *out.tokenizer_path, "tokenizer file"));
    }
  }
  EFFITUNE_ASSIGN_OR_RETURN(std::string p, r.string(path_node, "model"));
  if (p.empty()) return r.error(path_node, "model", "a model file path or synthetic:NAME", "an empty text");
  if (p.rfind("synthetic:", 0) == 0) {
    if (p.size() == 10) return r.error(path_node, "model", "synthetic:NAME", "'synthetic:'", "name the shape, e.g. synthetic:llama-1b");
    out.path = p;
    return Status::ok_status();
  }
  out.path = resolve(base_dir, p);
  if (check_files) return check_file(r, path_node, "model", out.path, "model file (.gguf or llama2.c .bin)");
  return Status::ok_status();
}

Status read_engine(const Reader& r, const YAML::Node& node, EngineSection& out) {
  EFFITUNE_ASSIGN_OR_RETURN(Map m, Map::open(r, node, "engine", {"backend", "devices", "threads", "context_length", "max_sequences"}, true));
  if (m.has("backend")) {
    EFFITUNE_ASSIGN_OR_RETURN(out.backend, r.string(m.get("backend"), "engine.backend"));
    if (out.backend != "cpu" && out.backend != "cuda") {
      return r.error(m.get("backend"), "engine.backend", "cpu or cuda", Reader::describe(m.get("backend")));
    }
  }
  if (m.has("devices")) {
    YAML::Node d = m.get("devices");
    if (!d.IsSequence()) return r.error(d, "engine.devices", "a list of device ordinals, e.g. [0, 1]", Reader::describe(d));
    for (const auto& v : d) {
      EFFITUNE_ASSIGN_OR_RETURN(int64_t ordinal, r.integer_at_least(v, "engine.devices", 0, "device ordinals start at 0"));
      if (ordinal > 1024) return r.error(v, "engine.devices", "a device ordinal <= 1024", Reader::describe(v));
      out.devices.push_back(static_cast<int32_t>(ordinal));
    }
  }
  auto small_int = [&](const char* key, int64_t lo, int32_t& field) -> Status {
    if (!m.has(key)) return Status::ok_status();
    EFFITUNE_ASSIGN_OR_RETURN(int64_t v, r.integer_at_least(m.get(key), m.child(key), lo, ""));
    if (v > (int64_t{1} << 24)) return r.error(m.get(key), m.child(key), "a value <= 16777216", Reader::describe(m.get(key)));
    field = static_cast<int32_t>(v);
    return Status::ok_status();
  };
  EFFITUNE_RETURN_IF_ERROR(small_int("threads", 0, out.threads));
  EFFITUNE_RETURN_IF_ERROR(small_int("context_length", 0, out.context_length));
  return small_int("max_sequences", 1, out.max_sequences);
}

Status read_workload(const Reader& r, const Map& top, const std::string& base_dir, bool check_files,
                     WorkloadSection& out) {
  EFFITUNE_ASSIGN_OR_RETURN(YAML::Node node, top.required("workload", "a mapping with eval_set, items, repeats, ..."));
  EFFITUNE_ASSIGN_OR_RETURN(Map m, Map::open(r, node, "workload", {"eval_set", "items", "repeats", "load_test_s", "warmup_s", "max_new_tokens", "capacity_probes", "capacity_search"}));
  EFFITUNE_ASSIGN_OR_RETURN(YAML::Node eval, m.required("eval_set", "the evaluation set (JSONL) path"));
  EFFITUNE_ASSIGN_OR_RETURN(std::string p, r.string(eval, "workload.eval_set"));
  out.eval_set_path = resolve(base_dir, p);
  if (check_files) EFFITUNE_RETURN_IF_ERROR(check_file(r, eval, "workload.eval_set", out.eval_set_path, "evaluation set (JSONL)"));
  auto int_field = [&](const char* key, int64_t lo, int32_t& field, const char* todo) -> Status {
    if (!m.has(key)) return Status::ok_status();
    EFFITUNE_ASSIGN_OR_RETURN(int64_t v, r.integer_at_least(m.get(key), m.child(key), lo, todo));
    if (v > 100'000'000) return r.error(m.get(key), m.child(key), "a value <= 100000000", Reader::describe(m.get(key)));
    field = static_cast<int32_t>(v);
    return Status::ok_status();
  };
  EFFITUNE_RETURN_IF_ERROR(int_field("items", 0, out.items, "0 means every item of the set"));
  EFFITUNE_RETURN_IF_ERROR(int_field("repeats", 1, out.repeats, "1 means no repeats"));
  EFFITUNE_RETURN_IF_ERROR(int_field("max_new_tokens", 0, out.max_new_tokens, "0 means no cap"));
  EFFITUNE_RETURN_IF_ERROR(int_field("capacity_probes", 2, out.capacity_probes, "the search needs a passing and a failing load"));
  if (out.capacity_probes > 64) {
    return r.error(m.get("capacity_probes"), "workload.capacity_probes", "at most 64", Reader::describe(m.get("capacity_probes")),
                   "more probes only narrow the capacity bracket further");
  }
  if (m.has("capacity_search")) {
    EFFITUNE_ASSIGN_OR_RETURN(out.capacity_search, r.string(m.get("capacity_search"), "workload.capacity_search"));
    if (!probes::parse_capacity_interpolation(out.capacity_search).ok())
      return r.error(m.get("capacity_search"), "workload.capacity_search", "bisect or pchip",
                     Reader::describe(m.get("capacity_search")),
                     "pchip places probes where a monotone fit of the SLO margin crosses 1 (fewer probes)");
  }
  if (m.has("load_test_s")) {
    EFFITUNE_ASSIGN_OR_RETURN(out.load_test_s, r.number_at_least(m.get("load_test_s"), "workload.load_test_s", 0, true, "a load test needs some duration"));
  }
  if (m.has("warmup_s")) {
    EFFITUNE_ASSIGN_OR_RETURN(out.warmup_s, r.number_at_least(m.get("warmup_s"), "workload.warmup_s", 0, false, "use 0 for no warm-up"));
  }
  return Status::ok_status();
}

Status read_goal(const Reader& r, const Map& top, GoalSection& out) {
  EFFITUNE_ASSIGN_OR_RETURN(YAML::Node node, top.required("goal", "the volumetry goal: users and/or requests_per_s"));
  EFFITUNE_ASSIGN_OR_RETURN(Map m, Map::open(r, node, "goal", {"users", "think_time_s", "requests_per_s"}));
  if (m.has("users")) {
    EFFITUNE_ASSIGN_OR_RETURN(out.users, r.number_at_least(m.get("users"), "goal.users", 0, true, "the goal needs at least one user"));
  }
  if (m.has("think_time_s")) {
    EFFITUNE_ASSIGN_OR_RETURN(out.think_time_s, r.number_at_least(m.get("think_time_s"), "goal.think_time_s", 0, false, ""));
  }
  if (m.has("requests_per_s")) {
    EFFITUNE_ASSIGN_OR_RETURN(out.requests_per_s, r.number_at_least(m.get("requests_per_s"), "goal.requests_per_s", 0, true, ""));
  }
  if (!out.users && !out.requests_per_s) {
    return r.error(node, "goal", "users and/or requests_per_s", "neither", "set the volumetry goal to reach");
  }
  return Status::ok_status();
}

Status read_slo(const Reader& r, const YAML::Node& node, SloSection& out) {
  EFFITUNE_ASSIGN_OR_RETURN(Map m, Map::open(r, node, "slo", {"ttft_p95_ms", "tpot_p95_ms", "e2e_p95_ms"}, true));
  std::pair<const char*, std::optional<double>*> fields[] = {
      {"ttft_p95_ms", &out.ttft_p95_ms}, {"tpot_p95_ms", &out.tpot_p95_ms}, {"e2e_p95_ms", &out.e2e_p95_ms}};
  for (auto& [key, field] : fields) {
    if (!m.has(key)) continue;
    EFFITUNE_ASSIGN_OR_RETURN(*field, r.number_at_least(m.get(key), m.child(key), 0, true, "leave the key out for no SLO"));
  }
  return Status::ok_status();
}

Status read_objective(const Reader& r, const Map& top, ObjectiveSection& out) {
  EFFITUNE_ASSIGN_OR_RETURN(YAML::Node node, top.required("objective", "a mapping with r0_usd_per_hour, e0, weights, ..."));
  EFFITUNE_ASSIGN_OR_RETURN(Map m, Map::open(r, node, "objective", {"r0_usd_per_hour", "e0", "weights", "floors", "quality_split", "cost_split_usd_per_hour", "e1_patience", "e1_min_relative_gain"}));
  EFFITUNE_ASSIGN_OR_RETURN(YAML::Node r0, m.required("r0_usd_per_hour", "R0, the running-cost ceiling in USD per hour"));
  EFFITUNE_ASSIGN_OR_RETURN(out.r0_usd_per_hour, r.number_at_least(r0, "objective.r0_usd_per_hour", 0, true, "R0 is a ceiling above zero"));
  if (m.has("e0")) {
    EFFITUNE_ASSIGN_OR_RETURN(out.e0, r.number_at_least(m.get("e0"), "objective.e0", 0, false, "use 0 for no efficiency floor"));
  }
  if (m.has("weights")) {
    EFFITUNE_ASSIGN_OR_RETURN(Map w, Map::open(r, m.get("weights"), "objective.weights", {"P", "C", "Cm", "A", "ICS"}));
    std::pair<const char*, double*> fields[] = {{"P", &out.weights.performance}, {"C", &out.weights.consistency},
                                                {"Cm", &out.weights.completeness}, {"A", &out.weights.accuracy},
                                                {"ICS", &out.weights.ics}};
    for (auto& [key, field] : fields) {
      if (!w.has(key)) continue;
      EFFITUNE_ASSIGN_OR_RETURN(*field, r.number_at_least(w.get(key), w.child(key), 0, false, "weights cannot be negative"));
    }
    const auto& q = out.weights;
    if (q.performance + q.consistency + q.completeness + q.accuracy + q.ics <= 0) {
      return r.error(m.get("weights"), "objective.weights", "at least one positive weight", "all zero");
    }
  }
  if (m.has("floors")) {
    EFFITUNE_ASSIGN_OR_RETURN(Map f, Map::open(r, m.get("floors"), "objective.floors", {"P", "C", "Cm", "A", "ICS", "Q"}));
    std::pair<const char*, std::optional<double>*> fields[] = {
        {"P", &out.floors.performance}, {"C", &out.floors.consistency}, {"Cm", &out.floors.completeness},
        {"A", &out.floors.accuracy},    {"ICS", &out.floors.ics},       {"Q", &out.floors.quality}};
    for (auto& [key, field] : fields) {
      if (!f.has(key)) continue;
      EFFITUNE_ASSIGN_OR_RETURN(double v, r.number_at_least(f.get(key), f.child(key), 0, false, "a floor is a minimum in [0, 1]"));
      if (v > 1) {
        return r.error(f.get(key), f.child(key), "a floor in [0, 1]", Reader::describe(f.get(key)),
                       "indicators are in [0, 1]; a floor above 1 makes every configuration infeasible");
      }
      *field = v;
    }
  }
  if (m.has("quality_split")) {
    EFFITUNE_ASSIGN_OR_RETURN(out.quality_split, r.number_at_least(m.get("quality_split"), "objective.quality_split", 0, false, ""));
    if (out.quality_split > 1) {
      return r.error(m.get("quality_split"), "objective.quality_split", "a number in [0, 1]", Reader::describe(m.get("quality_split")), "Q is in [0, 1]");
    }
  }
  if (m.has("cost_split_usd_per_hour")) {
    EFFITUNE_ASSIGN_OR_RETURN(out.cost_split_usd_per_hour, r.number_at_least(m.get("cost_split_usd_per_hour"), "objective.cost_split_usd_per_hour", 0, false, "use 0 for R0 / 2"));
  }
  if (m.has("e1_patience")) {
    EFFITUNE_ASSIGN_OR_RETURN(int64_t k, r.integer_at_least(m.get("e1_patience"), "objective.e1_patience", 1, ""));
    if (k > 1000) return r.error(m.get("e1_patience"), "objective.e1_patience", "at most 1000", Reader::describe(m.get("e1_patience")));
    out.e1_patience = static_cast<int32_t>(k);
  }
  if (m.has("e1_min_relative_gain")) {
    EFFITUNE_ASSIGN_OR_RETURN(out.e1_min_relative_gain, r.number_at_least(m.get("e1_min_relative_gain"), "objective.e1_min_relative_gain", 0, false, ""));
  }
  return Status::ok_status();
}

Status read_prices(const Reader& r, const Map& top, const std::string& backend, PriceTable& out) {
  EFFITUNE_ASSIGN_OR_RETURN(YAML::Node node, top.required("prices", "the price table (usd_per_cpu_core_hour, usd_per_gpu_hour, usd_per_kwh)"));
  EFFITUNE_ASSIGN_OR_RETURN(Map m, Map::open(r, node, "prices", {"usd_per_gpu_hour", "usd_per_cpu_core_hour", "usd_per_kwh"}));
  if (m.has("usd_per_gpu_hour")) {
    YAML::Node g = m.get("usd_per_gpu_hour");
    if (!g.IsMap()) return r.error(g, "prices.usd_per_gpu_hour", "a mapping of GPU model to price, e.g. {H100: 2.5}", Reader::describe(g));
    for (const auto& kv : g) {
      EFFITUNE_ASSIGN_OR_RETURN(std::string model, r.string(kv.first, "prices.usd_per_gpu_hour"));
      const std::string key = "prices.usd_per_gpu_hour." + model;
      if (out.usd_per_gpu_hour.count(model)) return r.error(kv.first, key, "each GPU model once", "it a second time");
      EFFITUNE_ASSIGN_OR_RETURN(out.usd_per_gpu_hour[model], r.number_at_least(kv.second, key, 0, false, "prices cannot be negative"));
    }
  }
  if (m.has("usd_per_cpu_core_hour")) {
    EFFITUNE_ASSIGN_OR_RETURN(out.usd_per_cpu_core_hour, r.number_at_least(m.get("usd_per_cpu_core_hour"), "prices.usd_per_cpu_core_hour", 0, false, "prices cannot be negative"));
  }
  if (m.has("usd_per_kwh")) {
    EFFITUNE_ASSIGN_OR_RETURN(out.usd_per_kwh, r.number_at_least(m.get("usd_per_kwh"), "prices.usd_per_kwh", 0, false, "prices cannot be negative"));
  }
  // Without a price R is 0 and E = Q / R is undefined, so the backend's own price is required.
  if (backend == "cpu" && !(out.usd_per_cpu_core_hour > 0)) {
    return r.error(node, "prices.usd_per_cpu_core_hour", "a price > 0 for the cpu backend", "none",
                   "E = Q / R needs a running cost");
  }
  if (backend == "cuda") {
    bool any = std::any_of(out.usd_per_gpu_hour.begin(), out.usd_per_gpu_hour.end(), [](const auto& kv) { return kv.second > 0; });
    if (!any) {
      return r.error(node, "prices.usd_per_gpu_hour", "a price > 0 for the GPU model used", "none",
                     "add e.g. usd_per_gpu_hour: {H100: 2.5}");
    }
  }
  return Status::ok_status();
}

Result<search::Value> param_value(const Reader& r, const YAML::Node& v, const std::string& path) {
  if (!v.IsScalar()) return r.error(v, path, "a number or a word", Reader::describe(v));
  if (!Reader::is_quoted(v)) {
    if (auto i = r.integer(v, path); i.ok()) return search::Value(i.value());
    if (auto d = r.number(v, path); d.ok()) return search::Value(d.value());
  }
  return search::Value(v.Scalar());
}

Status read_strategy(const Reader& r, const Map& top, StrategySection& out) {
  YAML::Node node = top.get("strategy");
  EFFITUNE_ASSIGN_OR_RETURN(Map m, Map::open(r, node, "strategy", {"name", "params", "max_trials", "max_wall_s"}, true));
  if (m.has("name")) {
    EFFITUNE_ASSIGN_OR_RETURN(out.name, r.string(m.get("name"), "strategy.name"));
    const auto names = search::strategy_names();
    if (std::find(names.begin(), names.end(), out.name) == names.end()) {
      std::string list;
      for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
      return r.error(m.get("name"), "strategy.name", "one of " + list, Reader::describe(m.get("name")));
    }
  }
  if (m.has("params")) {
    YAML::Node p = m.get("params");
    if (!p.IsMap()) return r.error(p, "strategy.params", "a mapping of parameter to value", Reader::describe(p));
    for (const auto& kv : p) {
      EFFITUNE_ASSIGN_OR_RETURN(std::string key, r.string(kv.first, "strategy.params"));
      if (out.params.count(key)) return r.error(kv.first, "strategy.params." + key, "each parameter once", "it a second time");
      EFFITUNE_ASSIGN_OR_RETURN(out.params[key], param_value(r, kv.second, "strategy.params." + key));
    }
  }
  if (m.has("max_trials")) {
    EFFITUNE_ASSIGN_OR_RETURN(out.max_trials, r.integer_at_least(m.get("max_trials"), "strategy.max_trials", 1, "a study needs at least one trial"));
  }
  if (m.has("max_wall_s")) {
    EFFITUNE_ASSIGN_OR_RETURN(out.max_wall_s, r.number_at_least(m.get("max_wall_s"), "strategy.max_wall_s", 0, false, "use 0 for no limit"));
  }
  return Status::ok_status();
}

Result<Experiment> parse_document(const Reader& r, const YAML::Node& doc, const std::string& base_dir, bool check_files) {
  Experiment e;
  EFFITUNE_ASSIGN_OR_RETURN(Map top, Map::open(r, doc, "", {"name", "model", "engine", "workload", "goal", "slo", "objective", "prices", "space", "strategy", "seed"}));
  EFFITUNE_ASSIGN_OR_RETURN(YAML::Node name, top.required("name", "the experiment's name"));
  EFFITUNE_ASSIGN_OR_RETURN(e.name, r.string(name, "name"));
  if (!valid_name(e.name)) {
    return r.error(name, "name", "1-128 characters of A-Z a-z 0-9 _ . -", Reader::describe(name), "the name keys the study");
  }
  EFFITUNE_RETURN_IF_ERROR(read_model(r, top, base_dir, check_files, e.model));
  EFFITUNE_RETURN_IF_ERROR(read_engine(r, top.get("engine"), e.engine));
  EFFITUNE_RETURN_IF_ERROR(read_workload(r, top, base_dir, check_files, e.workload));
  EFFITUNE_RETURN_IF_ERROR(read_goal(r, top, e.goal));
  EFFITUNE_RETURN_IF_ERROR(read_slo(r, top.get("slo"), e.slo));
  EFFITUNE_RETURN_IF_ERROR(read_objective(r, top, e.objective));
  EFFITUNE_RETURN_IF_ERROR(read_prices(r, top, e.engine.backend, e.prices));
  EFFITUNE_ASSIGN_OR_RETURN(YAML::Node space, top.required("space", "a list of dimensions"));
  EFFITUNE_RETURN_IF_ERROR(yaml::read_space(r, space, e.space));
  if (top.has("seed")) {
    EFFITUNE_ASSIGN_OR_RETURN(int64_t seed, r.integer_at_least(top.get("seed"), "seed", 0, ""));
    e.seed = static_cast<uint64_t>(seed);
  }
  EFFITUNE_RETURN_IF_ERROR(read_strategy(r, top, e.strategy));
  // Building the strategy checks its parameters against the space now, not at the first trial.
  auto strategy = search::make_strategy(e.strategy.name, e.strategy.params, e.space, e.seed);
  if (!strategy.ok()) {
    YAML::Node at = top.get("strategy");
    return invalid_argument(r.where(at) + ": key 'strategy': " + strategy.status().message());
  }
  return e;
}

}  // namespace

Result<Experiment> parse_experiment(std::string_view yaml_text, std::string_view source, const std::string& base_dir,
                                    bool check_files) {
  const std::string src(source);
  if (yaml_text.size() > kMaxYamlBytes) {
    return invalid_argument(src + ": " + std::to_string(yaml_text.size()) + " bytes; an experiment file is at most " +
                            std::to_string(kMaxYamlBytes) + " bytes");
  }
  Reader reader(src);
  try {
    YAML::Node doc = YAML::Load(std::string(yaml_text));
    auto e = parse_document(reader, doc, base_dir, check_files);
    if (!e.ok()) return e.status();
    e->yaml_text = std::string(yaml_text);
    return e;
  } catch (const YAML::Exception& ex) {
    std::string where = src;
    if (!ex.mark.is_null()) where += ":" + std::to_string(ex.mark.line + 1) + ":" + std::to_string(ex.mark.column + 1);
    return invalid_argument(where + ": not valid YAML: " + ex.msg + "; check indentation, quotes and brackets there");
  } catch (const std::exception& ex) {
    return invalid_argument(src + ": cannot read the experiment: " + ex.what());
  }
}

Result<Experiment> load_experiment(const std::string& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) {
    return not_found(path + ": no such experiment file; give the path of an experiment YAML (see experiments/README.md)");
  }
  if (fs::file_size(path, ec) > kMaxYamlBytes) {
    return invalid_argument(path + ": larger than " + std::to_string(kMaxYamlBytes) + " bytes; is it an experiment file?");
  }
  std::ifstream in(path, std::ios::binary);
  std::stringstream buf;
  buf << in.rdbuf();
  if (!in.good() && !in.eof()) return not_found(path + ": cannot be read");
  const std::string absolute = fs::absolute(path, ec).lexically_normal().string();
  auto e = parse_experiment(buf.str(), path, fs::path(absolute).parent_path().string(), true);
  if (!e.ok()) return e.status();
  e->yaml_path = absolute;
  return e;
}

}  // namespace effitune::orchestrator
