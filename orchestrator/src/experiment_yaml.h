// Typed, position-aware reads of an experiment YAML document. Private to experiment*.cpp: every
// error names "SOURCE:LINE:COLUMN: key 'a.b': expected ..., got ...; what to do".
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

#include "effitune/common/status.h"

namespace effitune::orchestrator::yaml {

class Reader {
 public:
  explicit Reader(std::string source) : source_(std::move(source)) {}

  // "SOURCE:LINE:COLUMN" (1-based) of a node, or "SOURCE" when the node has no position.
  std::string where(const YAML::Node& node) const;
  // kInvalidArgument "WHERE: key 'path': expected EXPECTED, got GOT; TODO".
  Status error(const YAML::Node& at, const std::string& path, const std::string& expected, const std::string& got,
               const std::string& todo = "") const;
  // A short rendering of a node for messages: the scalar (quoted), "a list", "a mapping".
  static std::string describe(const YAML::Node& node);

  // Scalar reads. A quoted scalar is a string, never a number.
  Result<std::string> string(const YAML::Node& node, const std::string& path) const;
  Result<int64_t> integer(const YAML::Node& node, const std::string& path) const;
  Result<double> number(const YAML::Node& node, const std::string& path) const;  // finite
  Result<bool> boolean(const YAML::Node& node, const std::string& path) const;
  // Quoted scalars ('8', "8") carry the non-specific tag "!": they are text, never numbers.
  static bool is_quoted(const YAML::Node& node) { return node.IsDefined() && node.Tag() == "!"; }

  // number() then a check `value >= lo` (or > lo when strict), with a message naming the bound.
  Result<double> number_at_least(const YAML::Node& node, const std::string& path, double lo, bool strict,
                                 const std::string& todo) const;
  Result<int64_t> integer_at_least(const YAML::Node& node, const std::string& path, int64_t lo,
                                   const std::string& todo) const;

  const std::string& source() const { return source_; }

 private:
  std::string source_;
};

// A mapping whose keys are checked against `known` up front: an unknown key (with the list of known
// ones), a repeated key or a non-scalar key is an error at that key's position.
class Map {
 public:
  // kInvalidArgument when `node` is not a mapping (a null node reads as an empty mapping when
  // `allow_null`, so an empty section is allowed).
  static Result<Map> open(const Reader& reader, const YAML::Node& node, const std::string& path,
                          std::initializer_list<const char*> known, bool allow_null = false);

  bool has(const std::string& key) const;
  YAML::Node get(const std::string& key) const;  // an undefined node when absent
  // The value of a required key; when absent, an error at the mapping naming the key.
  Result<YAML::Node> required(const std::string& key, const std::string& expected) const;
  std::string child(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }
  const YAML::Node& node() const { return node_; }

 private:
  Map(const Reader* reader, YAML::Node node, std::string path) : reader_(reader), node_(std::move(node)), path_(std::move(path)) {}
  const Reader* reader_;
  YAML::Node node_;
  std::string path_;
};

}  // namespace effitune::orchestrator::yaml

namespace effitune::search {
class Space;
}

namespace effitune::orchestrator::yaml {

// Reads the `space:` list into `space` (experiment_space.cpp), including the checks on the
// well-known dimensions (quant, decoding, batch_policy, budgets, gpu_count).
Status read_space(const Reader& reader, const YAML::Node& node, search::Space& space);

}  // namespace effitune::orchestrator::yaml
