#include "effitune/orchestrator/study_json.h"

#include <charconv>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "study_json_detail.h"

namespace effitune::orchestrator {

// ordered: exported trials read id, experiment, status, configuration first, as people expect.
using json = nlohmann::ordered_json;

const char* trial_state_name(TrialState s) {
  switch (s) {
    case TrialState::kPending: return "pending";
    case TrialState::kRunning: return "running";
    case TrialState::kComplete: return "complete";
    case TrialState::kFailed: return "failed";
    case TrialState::kPruned: return "pruned";
  }
  return "unknown";
}

const char* quadrant_name(Quadrant q) {
  switch (q) {
    case Quadrant::kEfficient: return "efficient";
    case Quadrant::kScaledProduction: return "scaled-production";
    case Quadrant::kExperimental: return "experimental";
    case Quadrant::kBudgetEater: return "budget-eater";
  }
  return "unknown";
}

std::optional<TrialState> parse_trial_state(std::string_view name) {
  for (auto s : {TrialState::kPending, TrialState::kRunning, TrialState::kComplete, TrialState::kFailed,
                 TrialState::kPruned}) {
    if (name == trial_state_name(s)) return s;
  }
  return std::nullopt;
}

std::optional<Quadrant> parse_quadrant(std::string_view name) {
  for (auto q : {Quadrant::kEfficient, Quadrant::kScaledProduction, Quadrant::kExperimental, Quadrant::kBudgetEater}) {
    if (name == quadrant_name(q)) return q;
  }
  return std::nullopt;
}

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Text from YAML files and configurations may hold invalid UTF-8; replace it rather than throw.
std::string dump(const json& j, int indent = -1) { return j.dump(indent, ' ', false, json::error_handler_t::replace); }

// JSON has no NaN or infinity; they are written as null and read back as NaN.
json num(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

// Typed reads that name the field; a missing key keeps the default, so older rows still read.
Status get_double(const json& j, const char* key, double& out) {
  auto it = j.find(key);
  if (it == j.end()) return Status::ok_status();
  if (it->is_null()) {
    out = kNaN;
  } else if (it->is_number()) {
    out = it->get<double>();
  } else {
    return invalid_argument(std::string("field '") + key + "': expected a number, got " + it->dump());
  }
  return Status::ok_status();
}

template <typename Int>
Status get_int(const json& j, const char* key, Int& out) {
  auto it = j.find(key);
  if (it == j.end()) return Status::ok_status();
  if (!it->is_number_integer()) {
    return invalid_argument(std::string("field '") + key + "': expected an integer, got " + it->dump());
  }
  out = it->get<Int>();
  return Status::ok_status();
}

Status get_string(const json& j, const char* key, std::string& out) {
  auto it = j.find(key);
  if (it == j.end()) return Status::ok_status();
  if (!it->is_string()) {
    return invalid_argument(std::string("field '") + key + "': expected a string, got " + it->dump());
  }
  out = it->get<std::string>();
  return Status::ok_status();
}

Status get_bool(const json& j, const char* key, bool& out) {
  auto it = j.find(key);
  if (it == j.end()) return Status::ok_status();
  if (!it->is_boolean()) {
    return invalid_argument(std::string("field '") + key + "': expected true/false, got " + it->dump());
  }
  out = it->get<bool>();
  return Status::ok_status();
}

Status get_opt_double(const json& j, const char* key, std::optional<double>& out) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    out.reset();
    return Status::ok_status();
  }
  double v = 0;
  EFFITUNE_RETURN_IF_ERROR(get_double(j, key, v));
  out = v;
  return Status::ok_status();
}

Result<json> parse(std::string_view text, const char* what) {
  try {
    return json::parse(text.begin(), text.end());
  } catch (const json::exception& e) {
    return invalid_argument(std::string(what) + ": not valid JSON: " + e.what());
  }
}

json interval_json(const Interval& i) {
  return json{{"value", num(i.value)}, {"ci_low", num(i.ci_low)}, {"ci_high", num(i.ci_high)}, {"n", i.n}};
}

Result<Interval> interval_of(const json& j, const std::string& field) {
  if (!j.is_object()) return invalid_argument("field '" + field + "': expected an object {value, ci_low, ci_high, n}");
  Interval i;
  Status s = get_double(j, "value", i.value);
  if (s.ok()) s = get_double(j, "ci_low", i.ci_low);
  if (s.ok()) s = get_double(j, "ci_high", i.ci_high);
  if (s.ok()) s = get_int(j, "n", i.n);
  if (!s.ok()) return s.with_context(field);
  return i;
}

Status read_interval(const json& j, const char* key, Interval& out) {
  auto it = j.find(key);
  if (it == j.end()) return Status::ok_status();
  EFFITUNE_ASSIGN_OR_RETURN(out, interval_of(*it, key));
  return Status::ok_status();
}

json indicators_json(const Indicators& ind) {
  json parts = json::object();
  for (const auto& [name, interval] : ind.parts) parts[name] = interval_json(interval);
  return json{{"performance", interval_json(ind.performance)}, {"consistency", interval_json(ind.consistency)},
              {"completeness", interval_json(ind.completeness)}, {"accuracy", interval_json(ind.accuracy)},
              {"quality", interval_json(ind.quality)}, {"parts", parts}};
}

Result<Indicators> indicators_of(const json& j) {
  if (!j.is_object()) return invalid_argument("field 'indicators': expected an object");
  Indicators ind;
  EFFITUNE_RETURN_IF_ERROR(read_interval(j, "performance", ind.performance));
  EFFITUNE_RETURN_IF_ERROR(read_interval(j, "consistency", ind.consistency));
  EFFITUNE_RETURN_IF_ERROR(read_interval(j, "completeness", ind.completeness));
  EFFITUNE_RETURN_IF_ERROR(read_interval(j, "accuracy", ind.accuracy));
  EFFITUNE_RETURN_IF_ERROR(read_interval(j, "quality", ind.quality));
  if (auto it = j.find("parts"); it != j.end()) {
    if (!it->is_object()) return invalid_argument("field 'indicators.parts': expected an object");
    for (const auto& [name, value] : it->items()) {
      EFFITUNE_ASSIGN_OR_RETURN(ind.parts[name], interval_of(value, "indicators.parts." + name));
    }
  }
  return ind;
}

json cost_json(const Cost& c) {
  return json{{"usd_per_hour", num(c.usd_per_hour)},
              {"usd_per_hour_per_replica", num(c.usd_per_hour_per_replica)},
              {"energy_usd_per_hour", c.energy_usd_per_hour ? num(*c.energy_usd_per_hour) : json(nullptr)},
              {"usd_per_million_good_tokens",
               c.usd_per_million_good_tokens ? num(*c.usd_per_million_good_tokens) : json(nullptr)},
              {"replicas", c.replicas},
              {"gpus_per_replica", c.gpus_per_replica},
              {"cpu_cores_per_replica", c.cpu_cores_per_replica},
              {"capacity_rps", num(c.capacity_rps)},
              {"capacity_rps_interval", interval_json(c.capacity_rps_interval)},
              {"capacity_users", num(c.capacity_users)}};
}

Result<Cost> cost_of(const json& j) {
  if (!j.is_object()) return invalid_argument("field 'cost': expected an object");
  Cost c;
  Status s = get_double(j, "usd_per_hour", c.usd_per_hour);
  if (s.ok()) s = get_double(j, "usd_per_hour_per_replica", c.usd_per_hour_per_replica);
  if (s.ok()) s = get_opt_double(j, "energy_usd_per_hour", c.energy_usd_per_hour);
  if (s.ok()) s = get_opt_double(j, "usd_per_million_good_tokens", c.usd_per_million_good_tokens);
  if (s.ok()) s = get_int(j, "replicas", c.replicas);
  if (s.ok()) s = get_int(j, "gpus_per_replica", c.gpus_per_replica);
  if (s.ok()) s = get_int(j, "cpu_cores_per_replica", c.cpu_cores_per_replica);
  if (s.ok()) s = get_double(j, "capacity_rps", c.capacity_rps);
  if (s.ok()) s = read_interval(j, "capacity_rps_interval", c.capacity_rps_interval);
  if (s.ok()) s = get_double(j, "capacity_users", c.capacity_users);
  if (!s.ok()) return s.with_context("cost");
  return c;
}

json constraints_json(const std::map<std::string, double>& constraints) {
  json j = json::object();
  for (const auto& [name, v] : constraints) j[name] = num(v);
  return j;
}

Result<std::map<std::string, double>> constraints_of(const json& j) {
  if (!j.is_object()) return invalid_argument("field 'constraints': expected an object");
  std::map<std::string, double> out;
  for (const auto& [name, v] : j.items()) {
    if (v.is_null()) out[name] = kNaN;
    else if (v.is_number()) out[name] = v.get<double>();
    else return invalid_argument("field 'constraints." + name + "': expected a number");
  }
  return out;
}

json load_curve_json(const std::vector<LoadPoint>& curve) {
  json arr = json::array();
  for (const auto& p : curve) {
    arr.push_back(json{{"offered_rps", num(p.offered_rps)}, {"achieved_rps", num(p.achieved_rps)},
                       {"goodput_rps", num(p.goodput_rps)}, {"ttft_p95_ms", num(p.ttft_p95_ms)},
                       {"tpot_p95_ms", num(p.tpot_p95_ms)}, {"e2e_p95_ms", num(p.e2e_p95_ms)},
                       {"performance", num(p.performance)}});
  }
  return arr;
}

Result<std::vector<LoadPoint>> load_curve_of(const json& j) {
  if (!j.is_array()) return invalid_argument("field 'load_curve': expected an array");
  std::vector<LoadPoint> out;
  for (const auto& e : j) {
    if (!e.is_object()) return invalid_argument("field 'load_curve': expected objects");
    LoadPoint p;
    Status s = get_double(e, "offered_rps", p.offered_rps);
    if (s.ok()) s = get_double(e, "achieved_rps", p.achieved_rps);
    if (s.ok()) s = get_double(e, "goodput_rps", p.goodput_rps);
    if (s.ok()) s = get_double(e, "ttft_p95_ms", p.ttft_p95_ms);
    if (s.ok()) s = get_double(e, "tpot_p95_ms", p.tpot_p95_ms);
    if (s.ok()) s = get_double(e, "e2e_p95_ms", p.e2e_p95_ms);
    if (s.ok()) s = get_double(e, "performance", p.performance);
    if (!s.ok()) return s.with_context("load_curve[" + std::to_string(out.size()) + "]");
    out.push_back(p);
  }
  return out;
}

// Embeds free-form JSON text as a value; text that does not parse is kept as a string.
json embedded(const std::string& text, json empty) {
  if (text.empty()) return empty;
  try {
    return json::parse(text);
  } catch (const json::exception&) {
    return json(text);
  }
}

std::string unembedded(const json& j) {
  if (j.is_string()) return j.get<std::string>();
  if (j.is_null()) return "";
  return dump(j);
}

json record_json(const TrialRecord& r) {
  json j;
  j["id"] = r.id;
  j["experiment"] = r.experiment;
  j["status"] = trial_state_name(r.state);
  j["configuration"] = embedded(r.configuration_json, json::object());
  j["fidelity"] = r.fidelity ? num(*r.fidelity) : json(nullptr);
  j["failure_reason"] = r.failure_reason;
  j["started_at"] = num(r.started_at);
  j["finished_at"] = num(r.finished_at);
  j["heartbeat_at"] = num(r.heartbeat_at);
  j["attempts"] = r.attempts;
  j["indicators"] = indicators_json(r.indicators);
  j["cost"] = cost_json(r.cost);
  j["efficiency"] = num(r.efficiency);
  j["efficiency_interval"] = interval_json(r.efficiency_interval);
  j["feasible"] = r.feasible;
  j["constraints"] = constraints_json(r.constraints);
  j["quadrant"] = r.quadrant ? json(quadrant_name(*r.quadrant)) : json(nullptr);
  j["load_curve"] = load_curve_json(r.load_curve);
  j["measurements"] = embedded(r.measurements_json, json::object());
  return j;
}

Result<TrialRecord> record_of(const json& j) {
  if (!j.is_object()) return invalid_argument("trial: expected a JSON object");
  TrialRecord r;
  EFFITUNE_RETURN_IF_ERROR(get_int(j, "id", r.id));
  EFFITUNE_RETURN_IF_ERROR(get_string(j, "experiment", r.experiment));
  std::string state = trial_state_name(r.state);
  EFFITUNE_RETURN_IF_ERROR(get_string(j, "status", state));
  auto parsed_state = parse_trial_state(state);
  if (!parsed_state) {
    return invalid_argument("field 'status': expected pending, running, complete, failed or pruned, got '" + state + "'");
  }
  r.state = *parsed_state;
  if (auto it = j.find("configuration"); it != j.end()) r.configuration_json = unembedded(*it);
  EFFITUNE_RETURN_IF_ERROR(get_opt_double(j, "fidelity", r.fidelity));
  EFFITUNE_RETURN_IF_ERROR(get_string(j, "failure_reason", r.failure_reason));
  EFFITUNE_RETURN_IF_ERROR(get_double(j, "started_at", r.started_at));
  EFFITUNE_RETURN_IF_ERROR(get_double(j, "finished_at", r.finished_at));
  EFFITUNE_RETURN_IF_ERROR(get_double(j, "heartbeat_at", r.heartbeat_at));
  EFFITUNE_RETURN_IF_ERROR(get_int(j, "attempts", r.attempts));
  if (auto it = j.find("indicators"); it != j.end()) {
    EFFITUNE_ASSIGN_OR_RETURN(r.indicators, indicators_of(*it));
  }
  if (auto it = j.find("cost"); it != j.end()) {
    EFFITUNE_ASSIGN_OR_RETURN(r.cost, cost_of(*it));
  }
  EFFITUNE_RETURN_IF_ERROR(get_double(j, "efficiency", r.efficiency));
  EFFITUNE_RETURN_IF_ERROR(read_interval(j, "efficiency_interval", r.efficiency_interval));
  EFFITUNE_RETURN_IF_ERROR(get_bool(j, "feasible", r.feasible));
  if (auto it = j.find("constraints"); it != j.end()) {
    EFFITUNE_ASSIGN_OR_RETURN(r.constraints, constraints_of(*it));
  }
  if (auto it = j.find("quadrant"); it != j.end() && !it->is_null()) {
    auto q = it->is_string() ? parse_quadrant(it->get<std::string>()) : std::nullopt;
    if (!q) return invalid_argument("field 'quadrant': expected efficient, scaled-production, experimental or budget-eater");
    r.quadrant = q;
  }
  if (auto it = j.find("load_curve"); it != j.end()) {
    EFFITUNE_ASSIGN_OR_RETURN(r.load_curve, load_curve_of(*it));
  }
  if (auto it = j.find("measurements"); it != j.end()) r.measurements_json = unembedded(*it);
  return r;
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string csv_num(double v) {
  if (!std::isfinite(v)) return "";
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);  // shortest text that reads back exactly
  return std::string(buf, end);
}

}  // namespace

std::string configuration_to_json(const search::Configuration& configuration) {
  json j = json::object();
  for (const auto& [name, value] : configuration.values) {
    if (const auto* i = std::get_if<int64_t>(&value)) j[name] = *i;
    else if (const auto* d = std::get_if<double>(&value)) j[name] = num(*d);
    else j[name] = std::get<std::string>(value);
  }
  return dump(j);
}

Result<search::Configuration> configuration_from_json(std::string_view text) {
  EFFITUNE_ASSIGN_OR_RETURN(json j, parse(text, "configuration"));
  if (!j.is_object()) return invalid_argument("configuration: expected a JSON object {\"name\": value}");
  search::Configuration c;
  for (const auto& [name, v] : j.items()) {
    if (v.is_number_integer()) c.values[name] = v.get<int64_t>();
    else if (v.is_number_float()) c.values[name] = v.get<double>();
    else if (v.is_string()) c.values[name] = v.get<std::string>();
    else return invalid_argument("configuration: dimension '" + name + "' must be an integer, a real or a string");
  }
  return c;
}

std::string trial_to_json(const TrialRecord& record, int indent) { return dump(record_json(record), indent); }

Result<TrialRecord> trial_from_json(std::string_view text) {
  EFFITUNE_ASSIGN_OR_RETURN(json j, parse(text, "trial"));
  return record_of(j);
}

std::string trials_to_json(const std::vector<TrialRecord>& records, int indent) {
  json arr = json::array();
  for (const auto& r : records) arr.push_back(record_json(r));
  return dump(json{{"trials", arr}}, indent);
}

std::string trials_to_csv(const std::vector<TrialRecord>& records) {
  std::set<std::string> dims, constraints;
  std::vector<json> configs;
  for (const auto& r : records) {
    for (const auto& [name, v] : r.constraints) constraints.insert(name);
    json c = embedded(r.configuration_json, json::object());
    if (c.is_object()) {
      for (const auto& [name, v] : c.items()) dims.insert(name);
    }
    configs.push_back(std::move(c));
  }
  std::ostringstream os;
  os << "id,experiment,status";
  for (const auto& d : dims) os << ',' << csv_field(d);
  const char* kIndicators[] = {"P", "C", "Cm", "A", "Q"};
  for (const char* name : kIndicators) os << ',' << name << ',' << name << "_lo," << name << "_hi";
  os << ",R_usd_per_hour,replicas,E,E_lo,E_hi,feasible,quadrant,attempts,failure_reason";
  // One column per constraint (Optuna's convention: <= 0 satisfied, > 0 by how much it is broken), so
  // that a spreadsheet shows why a complete trial is not feasible.
  for (const auto& c : constraints) os << ',' << csv_field("c_" + c);
  os << '\n';
  for (size_t k = 0; k < records.size(); ++k) {
    const auto& r = records[k];
    os << r.id << ',' << csv_field(r.experiment) << ',' << trial_state_name(r.state);
    for (const auto& d : dims) {
      os << ',';
      if (configs[k].is_object() && configs[k].contains(d)) {
        const json& v = configs[k][d];
        os << csv_field(v.is_string() ? v.get<std::string>() : v.dump());
      }
    }
    const Interval* ivs[] = {&r.indicators.performance, &r.indicators.consistency, &r.indicators.completeness,
                             &r.indicators.accuracy, &r.indicators.quality};
    for (const Interval* iv : ivs) os << ',' << csv_num(iv->value) << ',' << csv_num(iv->ci_low) << ',' << csv_num(iv->ci_high);
    os << ',' << csv_num(r.cost.usd_per_hour) << ',' << r.cost.replicas << ',' << csv_num(r.efficiency) << ','
       << csv_num(r.efficiency_interval.ci_low) << ',' << csv_num(r.efficiency_interval.ci_high) << ','
       << (r.feasible ? "true" : "false") << ',' << (r.quadrant ? quadrant_name(*r.quadrant) : "") << ','
       << r.attempts << ',' << csv_field(r.failure_reason);
    for (const auto& c : constraints) {
      os << ',';
      if (auto it = r.constraints.find(c); it != r.constraints.end()) os << csv_num(it->second);
    }
    os << '\n';
  }
  return os.str();
}

std::string experiment_to_json(const Experiment& e, int indent) {
  json dims = json::array();
  for (const auto& d : e.space.dimensions()) {
    json dj{{"name", d.name}, {"type", search::dimension_kind_name(d.kind)}};
    if (d.kind == search::DimensionKind::kCategorical) {
      dj["values"] = d.choices;
    } else if (d.kind == search::DimensionKind::kInteger) {
      dj["lo"] = d.int_lo;
      dj["hi"] = d.int_hi;
      dj["step"] = d.step;
      dj["log"] = d.log;
    } else {
      dj["lo"] = num(d.float_lo);
      dj["hi"] = num(d.float_hi);
      dj["log"] = d.log;
    }
    if (d.condition) dj["when"] = json{{d.condition->parent, d.condition->values}};
    dims.push_back(std::move(dj));
  }
  json params = json::object();
  for (const auto& [k, v] : e.strategy.params) {
    if (const auto* i = std::get_if<int64_t>(&v)) params[k] = *i;
    else if (const auto* d = std::get_if<double>(&v)) params[k] = num(*d);
    else params[k] = std::get<std::string>(v);
  }
  auto opt = [](const std::optional<double>& v) { return v ? num(*v) : json(nullptr); };
  json j;
  j["name"] = e.name;
  j["yaml_path"] = e.yaml_path;
  j["model"] = json{{"path", e.model.path}, {"tokenizer", e.model.tokenizer_path ? json(*e.model.tokenizer_path) : json(nullptr)}};
  j["engine"] = json{{"backend", e.engine.backend}, {"devices", e.engine.devices}, {"threads", e.engine.threads},
                     {"context_length", e.engine.context_length}, {"max_sequences", e.engine.max_sequences}};
  j["workload"] = json{{"eval_set", e.workload.eval_set_path}, {"items", e.workload.items},
                       {"repeats", e.workload.repeats}, {"load_test_s", num(e.workload.load_test_s)},
                       {"warmup_s", num(e.workload.warmup_s)}, {"max_new_tokens", e.workload.max_new_tokens},
                       {"capacity_probes", e.workload.capacity_probes},
                       {"capacity_search", e.workload.capacity_search}};
  j["goal"] = json{{"users", opt(e.goal.users)}, {"think_time_s", num(e.goal.think_time_s)},
                   {"requests_per_s", opt(e.goal.requests_per_s)}};
  j["slo"] = json{{"ttft_p95_ms", opt(e.slo.ttft_p95_ms)}, {"tpot_p95_ms", opt(e.slo.tpot_p95_ms)},
                  {"e2e_p95_ms", opt(e.slo.e2e_p95_ms)}};
  const auto& o = e.objective;
  j["objective"] = json{{"r0_usd_per_hour", num(o.r0_usd_per_hour)},
                        {"e0", num(o.e0)},
                        {"weights", json{{"P", num(o.weights.performance)}, {"C", num(o.weights.consistency)},
                                         {"Cm", num(o.weights.completeness)}, {"A", num(o.weights.accuracy)},
                                         {"ICS", num(o.weights.ics)}}},
                        // null: no floor on that indicator (the YAML's keys, as for the weights)
                        {"floors", json{{"P", opt(o.floors.performance)}, {"C", opt(o.floors.consistency)},
                                        {"Cm", opt(o.floors.completeness)}, {"A", opt(o.floors.accuracy)},
                                        {"ICS", opt(o.floors.ics)}, {"Q", opt(o.floors.quality)}}},
                        {"quality_split", num(o.quality_split)},
                        {"cost_split_usd_per_hour", num(o.cost_split_usd_per_hour)},
                        {"e1_patience", o.e1_patience},
                        {"e1_min_relative_gain", num(o.e1_min_relative_gain)}};
  json gpu = json::object();
  for (const auto& [model, price] : e.prices.usd_per_gpu_hour) gpu[model] = num(price);
  j["prices"] = json{{"usd_per_gpu_hour", gpu}, {"usd_per_cpu_core_hour", num(e.prices.usd_per_cpu_core_hour)},
                     {"usd_per_kwh", num(e.prices.usd_per_kwh)}};
  j["space"] = dims;
  j["strategy"] = json{{"name", e.strategy.name}, {"params", params}, {"max_trials", e.strategy.max_trials},
                       {"max_wall_s", num(e.strategy.max_wall_s)}};
  j["seed"] = e.seed;
  return dump(j, indent);
}

namespace detail {

namespace {
template <typename T, typename F>
Result<T> from_text(std::string_view text, const char* what, F f) {
  EFFITUNE_ASSIGN_OR_RETURN(json j, parse(text, what));
  return f(j);
}
}  // namespace

std::string interval_to_json(const Interval& interval) { return dump(interval_json(interval)); }
Result<Interval> interval_from_json(std::string_view text) {
  return from_text<Interval>(text, "interval", [](const json& j) { return interval_of(j, "interval"); });
}
std::string indicators_to_json(const Indicators& indicators) { return dump(indicators_json(indicators)); }
Result<Indicators> indicators_from_json(std::string_view text) {
  return from_text<Indicators>(text, "indicators", indicators_of);
}
std::string cost_to_json(const Cost& cost) { return dump(cost_json(cost)); }
Result<Cost> cost_from_json(std::string_view text) { return from_text<Cost>(text, "cost", cost_of); }
std::string constraints_to_json(const std::map<std::string, double>& constraints) {
  return dump(constraints_json(constraints));
}
Result<std::map<std::string, double>> constraints_from_json(std::string_view text) {
  return from_text<std::map<std::string, double>>(text, "constraints", constraints_of);
}
std::string load_curve_to_json(const std::vector<LoadPoint>& curve) { return dump(load_curve_json(curve)); }
Result<std::vector<LoadPoint>> load_curve_from_json(std::string_view text) {
  return from_text<std::vector<LoadPoint>>(text, "load_curve", load_curve_of);
}

}  // namespace detail
}  // namespace effitune::orchestrator
