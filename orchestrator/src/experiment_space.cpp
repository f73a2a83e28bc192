// The `space:` section: a list of dimensions, each
//   {name, type: categorical|int|float, values | lo/hi/step/log, when: {parent: [values]}}
// turned into search::Space dimensions, plus the checks that tie the five well-known dimensions to
// what the engine and the tuning loop understand.
#include <algorithm>

#include "effitune/engine/batch_policy.h"
#include "effitune/orchestrator/experiment.h"
#include "effitune/search/space.h"
#include "experiment_yaml.h"

namespace effitune::orchestrator::yaml {
namespace {

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

template <size_t N>
std::vector<std::string> to_vector(const char* const (&arr)[N]) {
  return std::vector<std::string>(std::begin(arr), std::end(arr));
}

// The values a well-known categorical dimension may take; empty for other dimensions.
std::vector<std::string> allowed_values(const std::string& name) {
  if (name == "quant") return to_vector(kQuantValues);
  if (name == "decoding") return to_vector(kDecodingValues);
  if (name == "batch_policy") return engine::batch_policy_names();
  return {};
}

// The smallest value an integer well-known dimension may take; nullopt for other dimensions.
std::optional<int64_t> integer_floor(const std::string& name) {
  if (name == "history_budget") return 0;
  if (name == "response_budget" || name == "gpu_count") return 1;
  return std::nullopt;
}

Result<std::optional<search::Condition>> read_when(const Reader& r, const YAML::Node& node, const std::string& path) {
  if (!node.IsDefined() || node.IsNull()) return std::optional<search::Condition>();
  if (!node.IsMap() || node.size() != 1) {
    return r.error(node, path, "one 'parent: [values]' pair, e.g. when: {decoding: [beam]}", Reader::describe(node));
  }
  auto kv = *node.begin();
  search::Condition c;
  EFFITUNE_ASSIGN_OR_RETURN(c.parent, r.string(kv.first, path));
  const YAML::Node& values = kv.second;
  if (values.IsScalar()) {
    c.values.push_back(values.Scalar());
  } else if (values.IsSequence() && values.size() > 0) {
    for (const auto& v : values) {
      EFFITUNE_ASSIGN_OR_RETURN(std::string s, r.string(v, path + "." + c.parent));
      c.values.push_back(std::move(s));
    }
  } else {
    return r.error(values, path + "." + c.parent, "a value or a non-empty list of the parent's values",
                   Reader::describe(values));
  }
  return std::optional<search::Condition>(std::move(c));
}

Status read_dimension(const Reader& r, const YAML::Node& node, const std::string& path, search::Space& space) {
  EFFITUNE_ASSIGN_OR_RETURN(Map m, Map::open(r, node, path, {"name", "type", "values", "lo", "hi", "step", "log", "when"}));
  EFFITUNE_ASSIGN_OR_RETURN(YAML::Node name_node, m.required("name", "the dimension's name"));
  EFFITUNE_ASSIGN_OR_RETURN(std::string name, r.string(name_node, m.child("name")));
  EFFITUNE_ASSIGN_OR_RETURN(YAML::Node type_node, m.required("type", "categorical, int or float"));
  EFFITUNE_ASSIGN_OR_RETURN(std::string type, r.string(type_node, m.child("type")));
  EFFITUNE_ASSIGN_OR_RETURN(auto condition, read_when(r, m.get("when"), m.child("when")));
  auto misplaced = [&](const char* key, const char* kind) -> Status {
    if (!m.has(key)) return Status::ok_status();
    return r.error(m.get(key), m.child(key), std::string("no '") + key + "' in a " + kind + " dimension",
                   Reader::describe(m.get(key)), "remove it or change 'type'");
  };
  Status added;
  if (type == "categorical") {
    for (const char* key : {"lo", "hi", "step", "log"}) EFFITUNE_RETURN_IF_ERROR(misplaced(key, "categorical"));
    EFFITUNE_ASSIGN_OR_RETURN(YAML::Node values, m.required("values", "a list of the dimension's values"));
    if (!values.IsSequence() || values.size() == 0) {
      return r.error(values, m.child("values"), "a non-empty list, e.g. [f32, q8_0]", Reader::describe(values));
    }
    std::vector<std::string> choices;
    const std::vector<std::string> allowed = allowed_values(name);
    for (const auto& v : values) {
      EFFITUNE_ASSIGN_OR_RETURN(std::string s, r.string(v, m.child("values")));
      if (!allowed.empty() && std::find(allowed.begin(), allowed.end(), s) == allowed.end()) {
        return r.error(v, m.child("values"), "one of " + join(allowed), Reader::describe(v),
                       "the loop knows only these values of '" + name + "'");
      }
      choices.push_back(std::move(s));
    }
    added = space.add_categorical(name, std::move(choices), condition);
  } else if (type == "int") {
    EFFITUNE_RETURN_IF_ERROR(misplaced("values", "int"));
    EFFITUNE_ASSIGN_OR_RETURN(YAML::Node lo_node, m.required("lo", "the lowest value (an integer)"));
    EFFITUNE_ASSIGN_OR_RETURN(YAML::Node hi_node, m.required("hi", "the highest value (an integer)"));
    EFFITUNE_ASSIGN_OR_RETURN(int64_t lo, r.integer(lo_node, m.child("lo")));
    EFFITUNE_ASSIGN_OR_RETURN(int64_t hi, r.integer(hi_node, m.child("hi")));
    if (auto floor = integer_floor(name); floor && lo < *floor) {
      return r.error(lo_node, m.child("lo"), "an integer >= " + std::to_string(*floor), Reader::describe(lo_node),
                     "a negative or zero " + name + " is impossible");
    }
    if (lo > hi) {
      return r.error(lo_node, m.child("lo"), "lo <= hi (" + std::to_string(hi) + ")", Reader::describe(lo_node),
                     "swap lo and hi");
    }
    int64_t step = 1;
    if (m.has("step")) {
      EFFITUNE_ASSIGN_OR_RETURN(step, r.integer_at_least(m.get("step"), m.child("step"), 1, "use a step of 1 or more"));
    }
    bool log = false;
    if (m.has("log")) {
      EFFITUNE_ASSIGN_OR_RETURN(log, r.boolean(m.get("log"), m.child("log")));
    }
    added = space.add_integer(name, lo, hi, step, log, condition);
  } else if (type == "float") {
    EFFITUNE_RETURN_IF_ERROR(misplaced("values", "float"));
    EFFITUNE_RETURN_IF_ERROR(misplaced("step", "float"));
    if (integer_floor(name)) {
      return r.error(type_node, m.child("type"), "int", "'float'", "'" + name + "' counts tokens or GPUs");
    }
    EFFITUNE_ASSIGN_OR_RETURN(YAML::Node lo_node, m.required("lo", "the lowest value (a number)"));
    EFFITUNE_ASSIGN_OR_RETURN(YAML::Node hi_node, m.required("hi", "the highest value (a number)"));
    EFFITUNE_ASSIGN_OR_RETURN(double lo, r.number(lo_node, m.child("lo")));
    EFFITUNE_ASSIGN_OR_RETURN(double hi, r.number(hi_node, m.child("hi")));
    if (lo > hi) {
      return r.error(lo_node, m.child("lo"), "lo <= hi (" + hi_node.Scalar() + ")", Reader::describe(lo_node),
                     "swap lo and hi");
    }
    bool log = false;
    if (m.has("log")) {
      EFFITUNE_ASSIGN_OR_RETURN(log, r.boolean(m.get("log"), m.child("log")));
    }
    added = space.add_float(name, lo, hi, log, condition);
  } else {
    return r.error(type_node, m.child("type"), "categorical, int or float", Reader::describe(type_node));
  }
  if (!added.ok()) return invalid_argument(r.where(node) + ": key '" + path + "': " + added.message());
  if (!allowed_values(name).empty() && type != "categorical") {
    return r.error(type_node, m.child("type"), "categorical", Reader::describe(type_node),
                   "'" + name + "' takes named values");
  }
  if (integer_floor(name) && type != "int") {
    return r.error(type_node, m.child("type"), "int", Reader::describe(type_node), "'" + name + "' is a count");
  }
  return Status::ok_status();
}

}  // namespace

Status read_space(const Reader& r, const YAML::Node& node, search::Space& space) {
  if (!node.IsDefined() || !node.IsSequence() || node.size() == 0) {
    return r.error(node, "space", "a non-empty list of dimensions", Reader::describe(node),
                   "add entries such as '- {name: quant, type: categorical, values: [f32, q8_0]}'");
  }
  size_t index = 0;
  for (const auto& entry : node) {
    EFFITUNE_RETURN_IF_ERROR(read_dimension(r, entry, "space[" + std::to_string(index) + "]", space));
    ++index;
  }
  return Status::ok_status();
}

}  // namespace effitune::orchestrator::yaml
