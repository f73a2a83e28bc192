// Space: the named dimensions a strategy searches over, with validation and the unit-hypercube
// encoding that model-based strategies work in.
//
// Thread safety: a const Space may be shared by threads; building one (add_*) is single-threaded.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "effitune/common/status.h"
#include "effitune/search/configuration.h"

namespace effitune::search {

enum class DimensionKind : uint8_t { kCategorical, kInteger, kFloat };

const char* dimension_kind_name(DimensionKind kind);

// A dimension is active only when the categorical `parent` holds one of `values`
// (e.g. beam_width only when decoding = beam). A parent may itself be conditional.
struct Condition {
  std::string parent;
  std::vector<std::string> values;
};

struct Dimension {
  std::string name;
  DimensionKind kind = DimensionKind::kFloat;
  std::vector<std::string> choices;  // kCategorical
  int64_t int_lo = 0;                // kInteger: lo, lo + step, ..., hi (hi - lo is a multiple of step)
  int64_t int_hi = 0;
  int64_t step = 1;
  double float_lo = 0;  // kFloat: [float_lo, float_hi]
  double float_hi = 0;
  bool log = false;  // kInteger/kFloat: searched in log space (lo > 0, step 1)
  std::optional<Condition> condition;

  // Number of distinct values; nullopt for a float dimension with lo < hi.
  std::optional<uint64_t> count() const;
};

class Space {
 public:
  // Each add_* returns kInvalidArgument naming the dimension when: the name is empty, has characters
  // other than [A-Za-z0-9_.-] or is taken; the range is empty or not finite; log is asked with
  // lo <= 0 (or with step != 1); (hi - lo) is not a multiple of step; choices are empty or repeat;
  // the condition's parent is not an earlier categorical dimension or names a value it lacks.
  // Parents come before children, so dimensions() is always in a valid evaluation order.
  Status add_categorical(std::string name, std::vector<std::string> choices,
                         std::optional<Condition> condition = std::nullopt);
  Status add_integer(std::string name, int64_t lo, int64_t hi, int64_t step = 1, bool log = false,
                     std::optional<Condition> condition = std::nullopt);
  Status add_float(std::string name, double lo, double hi, bool log = false,
                   std::optional<Condition> condition = std::nullopt);

  const std::vector<Dimension>& dimensions() const { return dims_; }
  size_t size() const { return dims_.size(); }
  bool empty() const { return dims_.empty(); }
  std::optional<size_t> index_of(std::string_view name) const;

  // Whether dimension `index` is active given the values already in `config` (its parent's).
  bool is_active(size_t index, const Configuration& config) const;

  // Ok when `config` holds exactly the active dimensions, each of the right type and in range.
  // Otherwise kInvalidArgument naming the first offending dimension and what it expected.
  Status validate(const Configuration& config) const;
  // Like validate, but first widens an int64 given for a float dimension to double (as a YAML
  // reader may produce), so that keys are canonical. Returns the fixed configuration.
  Result<Configuration> canonicalize(Configuration config) const;

  // One coordinate in [0, 1] per dimension (size() entries), NaN for inactive dimensions.
  // Integer and categorical values map to the centre of their cell, so decode(encode(c)) == c.
  // Precondition: validate(config) is ok.
  std::vector<double> encode(const Configuration& config) const;
  // The configuration at `unit` (size() entries, clamped to [0, 1]; NaN reads as 0.5). Inactive
  // dimensions are skipped. A uniform `unit` gives a uniform (log-uniform for log dims) sample.
  Configuration decode(std::span<const double> unit) const;
  // Keeps the values of `partial` that are active and valid, drops the rest, and fills each
  // missing active dimension from `fallback_unit` (size() entries) as decode does. Used after
  // changing a parent, which may switch children on or off.
  Configuration complete(const Configuration& partial, std::span<const double> fallback_unit) const;

  // The value of dimension `index` at unit coordinate u (clamped to [0, 1]).
  Value decode_one(size_t index, double u) const;
  // The unit coordinate of `value` in dimension `index`. Precondition: the value is valid there.
  double encode_one(size_t index, const Value& value) const;

  // Number of distinct configurations (conditionals respected); nullopt when a float dimension
  // with lo < hi can be active; saturates at UINT64_MAX.
  std::optional<uint64_t> cardinality() const;

 private:
  Status check_new(const std::string& name, const std::optional<Condition>& condition) const;
  Status validate_value(const Dimension& dim, const Value& value) const;
  std::optional<uint64_t> count_from(size_t index, const Configuration& partial) const;

  std::vector<Dimension> dims_;
};

}  // namespace effitune::search
