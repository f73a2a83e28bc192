// Configuration: one point of a search space, as plain named values.
// The search module knows nothing of LLMs: a value is an integer, a real or a string.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace effitune::search {

using Value = std::variant<int64_t, double, std::string>;

// Shortest text that reads back to the same value: 3, 0.25, beam. Strings are not quoted.
std::string value_to_string(const Value& value);

// The values of the active dimensions only (an inactive conditional dimension is absent).
// Ordered by name, so that equal configurations compare and print equally.
struct Configuration {
  std::map<std::string, Value> values;

  bool has(std::string_view name) const { return values.find(std::string(name)) != values.end(); }
  // Typed reads: nullopt when the dimension is absent or holds another type.
  std::optional<int64_t> get_int(std::string_view name) const;
  std::optional<double> get_double(std::string_view name) const;  // an int64 value is widened
  std::optional<std::string> get_string(std::string_view name) const;

  // Canonical key for deduplication: `a=1,b=0.5,c="beam"`. Strings are quoted and escaped so that
  // no two different configurations share a key; an int 1 and a double 1 differ (`1` vs `1.0`).
  std::string key() const;

  friend bool operator==(const Configuration&, const Configuration&) = default;
};

}  // namespace effitune::search
