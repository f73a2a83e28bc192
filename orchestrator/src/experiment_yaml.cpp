#include "experiment_yaml.h"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <set>

namespace effitune::orchestrator::yaml {
namespace {

std::string trim_number(double v) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  return std::string(buf, end);
}

// YAML 1.2 core-schema spellings of infinity and NaN; strtod alone would also take "inf", "nan" and
// hex floats, which YAML reads as strings.
bool is_plain_decimal(const std::string& s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || c == '.' || c == '-' || c == '+' || c == 'e' || c == 'E')) return false;
  }
  return true;
}

}  // namespace

std::string Reader::where(const YAML::Node& node) const {
  if (!node.IsDefined()) return source_;
  YAML::Mark m = node.Mark();
  if (m.is_null()) return source_;
  return source_ + ":" + std::to_string(m.line + 1) + ":" + std::to_string(m.column + 1);
}

Status Reader::error(const YAML::Node& at, const std::string& path, const std::string& expected,
                     const std::string& got, const std::string& todo) const {
  std::string msg = where(at) + ": key '" + path + "': expected " + expected;
  if (!got.empty()) msg += ", got " + got;
  if (!todo.empty()) msg += "; " + todo;
  return invalid_argument(msg);
}

std::string Reader::describe(const YAML::Node& node) {
  if (!node.IsDefined() || node.IsNull()) return "nothing";
  if (node.IsSequence()) return "a list";
  if (node.IsMap()) return "a mapping";
  std::string s = node.Scalar();
  if (s.size() > 40) s = s.substr(0, 40) + "...";
  return "'" + s + "'";
}

Result<std::string> Reader::string(const YAML::Node& node, const std::string& path) const {
  if (!node.IsDefined() || !node.IsScalar()) return error(node, path, "a text value", describe(node));
  return node.Scalar();
}

Result<int64_t> Reader::integer(const YAML::Node& node, const std::string& path) const {
  if (!node.IsDefined() || !node.IsScalar() || is_quoted(node)) {
    return error(node, path, "an integer", describe(node) + (is_quoted(node) ? " (quoted, so text)" : ""),
                 "write a whole number without quotes");
  }
  const std::string& s = node.Scalar();
  const char* begin = s.data();
  if (!s.empty() && s[0] == '+') ++begin;
  int64_t v = 0;
  auto [ptr, ec] = std::from_chars(begin, s.data() + s.size(), v);
  if (ec == std::errc::result_out_of_range) return error(node, path, "an integer within 64 bits", describe(node));
  if (ec != std::errc() || ptr != s.data() + s.size() || begin == s.data() + s.size()) {
    return error(node, path, "an integer", describe(node), "write a whole number such as 8");
  }
  return v;
}

Result<double> Reader::number(const YAML::Node& node, const std::string& path) const {
  if (!node.IsDefined() || !node.IsScalar() || is_quoted(node) || !is_plain_decimal(node.Scalar())) {
    return error(node, path, "a number", describe(node), "write a decimal number such as 0.5, without quotes");
  }
  const std::string& s = node.Scalar();
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size() || s.empty()) return error(node, path, "a number", describe(node));
  if (!std::isfinite(v)) return error(node, path, "a finite number", describe(node));
  return v;
}

Result<bool> Reader::boolean(const YAML::Node& node, const std::string& path) const {
  if (node.IsDefined() && node.IsScalar() && !is_quoted(node)) {
    const std::string& s = node.Scalar();
    if (s == "true" || s == "True" || s == "yes") return true;
    if (s == "false" || s == "False" || s == "no") return false;
  }
  return error(node, path, "true or false", describe(node));
}

Result<double> Reader::number_at_least(const YAML::Node& node, const std::string& path, double lo, bool strict,
                                       const std::string& todo) const {
  EFFITUNE_ASSIGN_OR_RETURN(double v, number(node, path));
  if (strict ? !(v > lo) : !(v >= lo)) {
    return error(node, path, std::string("a number ") + (strict ? "> " : ">= ") + trim_number(lo), describe(node), todo);
  }
  return v;
}

Result<int64_t> Reader::integer_at_least(const YAML::Node& node, const std::string& path, int64_t lo,
                                         const std::string& todo) const {
  EFFITUNE_ASSIGN_OR_RETURN(int64_t v, integer(node, path));
  if (v < lo) return error(node, path, "an integer >= " + std::to_string(lo), describe(node), todo);
  return v;
}

Result<Map> Map::open(const Reader& reader, const YAML::Node& node, const std::string& path,
                      std::initializer_list<const char*> known, bool allow_null) {
  const std::string shown = path.empty() ? "(top level)" : path;
  // A missing or empty section keeps its node (for positions); has() and get() see no keys in it.
  if (allow_null && (!node.IsDefined() || node.IsNull())) return Map(&reader, node, path);
  if (!node.IsDefined() || !node.IsMap()) {
    return reader.error(node, shown, "a mapping of keys to values", Reader::describe(node));
  }
  std::set<std::string> seen;
  for (const auto& kv : node) {
    const YAML::Node& key = kv.first;
    if (!key.IsScalar()) return reader.error(key, shown, "text keys", Reader::describe(key));
    const std::string& k = key.Scalar();
    const std::string full = path.empty() ? k : path + "." + k;
    bool ok = false;
    std::string list;
    for (const char* name : known) {
      ok = ok || k == name;
      list += (list.empty() ? "" : ", ") + std::string(name);
    }
    if (!ok) return reader.error(key, full, "one of: " + list, "an unknown key", "fix the spelling or remove it");
    if (!seen.insert(k).second) return reader.error(key, full, "each key once", "it a second time", "remove one");
  }
  return Map(&reader, node, path);
}

bool Map::has(const std::string& key) const {
  if (!node_.IsDefined() || !node_.IsMap()) return false;
  for (const auto& kv : node_) {
    if (kv.first.Scalar() == key) return !kv.second.IsNull();
  }
  return false;
}

YAML::Node Map::get(const std::string& key) const {
  if (!node_.IsDefined() || !node_.IsMap()) return YAML::Node(YAML::NodeType::Undefined);
  for (const auto& kv : node_) {
    if (kv.first.Scalar() == key) return kv.second;
  }
  return YAML::Node(YAML::NodeType::Undefined);
}

Result<YAML::Node> Map::required(const std::string& key, const std::string& expected) const {
  if (!has(key)) {
    return reader_->error(node_, child(key), expected, "nothing (the key is missing)",
                          "add '" + key + ":' to " + (path_.empty() ? "the file" : "'" + path_ + "'"));
  }
  return get(key);
}

}  // namespace effitune::orchestrator::yaml
