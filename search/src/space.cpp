#include "effitune/search/space.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>
#include <set>

namespace effitune::search {
namespace {

// Integers beyond 2^53 would not survive the unit-cube encoding (a double) exactly.
constexpr int64_t kMaxAbsInteger = int64_t{1} << 53;

bool valid_name(const std::string& name) {
  if (name.empty()) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
  });
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : ", ") + s;
  return out;
}

uint64_t saturating_mul(uint64_t a, uint64_t b) {
  if (a != 0 && b > std::numeric_limits<uint64_t>::max() / a) return std::numeric_limits<uint64_t>::max();
  return a * b;
}

uint64_t saturating_add(uint64_t a, uint64_t b) {
  return b > std::numeric_limits<uint64_t>::max() - a ? std::numeric_limits<uint64_t>::max() : a + b;
}

}  // namespace

const char* dimension_kind_name(DimensionKind kind) {
  switch (kind) {
    case DimensionKind::kCategorical: return "categorical";
    case DimensionKind::kInteger: return "integer";
    case DimensionKind::kFloat: return "float";
  }
  return "unknown";
}

std::optional<uint64_t> Dimension::count() const {
  switch (kind) {
    case DimensionKind::kCategorical: return choices.size();
    case DimensionKind::kInteger: return static_cast<uint64_t>((int_hi - int_lo) / step) + 1;
    case DimensionKind::kFloat:
      if (float_lo == float_hi) return 1;
      return std::nullopt;
  }
  return std::nullopt;
}

Status Space::check_new(const std::string& name, const std::optional<Condition>& condition) const {
  if (!valid_name(name)) {
    return invalid_argument("dimension name '" + name +
                            "' is empty or has characters other than letters, digits, '_', '.', '-'");
  }
  if (index_of(name)) return invalid_argument("dimension '" + name + "' is defined twice");
  if (!condition) return Status::ok_status();
  const std::string where = "dimension '" + name + "': condition parent '" + condition->parent + "'";
  auto parent = index_of(condition->parent);
  if (!parent) return invalid_argument(where + " is not defined before it; define the parent first");
  const Dimension& p = dims_[*parent];
  if (p.kind != DimensionKind::kCategorical) return invalid_argument(where + " is not categorical");
  if (condition->values.empty()) return invalid_argument(where + " lists no values");
  for (const auto& v : condition->values) {
    if (std::find(p.choices.begin(), p.choices.end(), v) == p.choices.end()) {
      return invalid_argument(where + " has no choice '" + v + "'; its choices are: " + join(p.choices));
    }
  }
  return Status::ok_status();
}

Status Space::add_categorical(std::string name, std::vector<std::string> choices,
                              std::optional<Condition> condition) {
  EFFITUNE_RETURN_IF_ERROR(check_new(name, condition));
  if (choices.empty()) return invalid_argument("dimension '" + name + "': categorical with no choices");
  std::set<std::string> seen(choices.begin(), choices.end());
  if (seen.size() != choices.size()) {
    return invalid_argument("dimension '" + name + "': a choice is listed twice in [" + join(choices) + "]");
  }
  Dimension d;
  d.name = std::move(name);
  d.kind = DimensionKind::kCategorical;
  d.choices = std::move(choices);
  d.condition = std::move(condition);
  dims_.push_back(std::move(d));
  return Status::ok_status();
}

Status Space::add_integer(std::string name, int64_t lo, int64_t hi, int64_t step, bool log,
                          std::optional<Condition> condition) {
  EFFITUNE_RETURN_IF_ERROR(check_new(name, condition));
  const std::string where = "dimension '" + name + "': ";
  if (lo > hi) return invalid_argument(where + "lo " + std::to_string(lo) + " > hi " + std::to_string(hi));
  if (std::abs(lo) > kMaxAbsInteger || std::abs(hi) > kMaxAbsInteger) {
    return invalid_argument(where + "bounds must lie within +-2^53");
  }
  if (step <= 0) return invalid_argument(where + "step must be positive, got " + std::to_string(step));
  if ((hi - lo) % step != 0) {
    return invalid_argument(where + "hi - lo = " + std::to_string(hi - lo) + " is not a multiple of step " +
                            std::to_string(step) + "; adjust hi");
  }
  if (log && lo <= 0) return invalid_argument(where + "log scale needs lo > 0, got " + std::to_string(lo));
  if (log && step != 1) return invalid_argument(where + "log scale needs step 1");
  Dimension d;
  d.name = std::move(name);
  d.kind = DimensionKind::kInteger;
  d.int_lo = lo;
  d.int_hi = hi;
  d.step = step;
  d.log = log;
  d.condition = std::move(condition);
  dims_.push_back(std::move(d));
  return Status::ok_status();
}

Status Space::add_float(std::string name, double lo, double hi, bool log, std::optional<Condition> condition) {
  EFFITUNE_RETURN_IF_ERROR(check_new(name, condition));
  const std::string where = "dimension '" + name + "': ";
  if (!std::isfinite(lo) || !std::isfinite(hi)) return invalid_argument(where + "bounds must be finite");
  if (lo > hi) return invalid_argument(where + "lo " + value_to_string(lo) + " > hi " + value_to_string(hi));
  if (log && lo <= 0) return invalid_argument(where + "log scale needs lo > 0, got " + value_to_string(lo));
  Dimension d;
  d.name = std::move(name);
  d.kind = DimensionKind::kFloat;
  d.float_lo = lo;
  d.float_hi = hi;
  d.log = log;
  d.condition = std::move(condition);
  dims_.push_back(std::move(d));
  return Status::ok_status();
}

std::optional<size_t> Space::index_of(std::string_view name) const {
  for (size_t i = 0; i < dims_.size(); ++i) {
    if (dims_[i].name == name) return i;
  }
  return std::nullopt;
}

bool Space::is_active(size_t index, const Configuration& config) const {
  const auto& cond = dims_[index].condition;
  if (!cond) return true;
  auto parent_value = config.get_string(cond->parent);
  if (!parent_value) return false;
  return std::find(cond->values.begin(), cond->values.end(), *parent_value) != cond->values.end();
}

Status Space::validate_value(const Dimension& dim, const Value& value) const {
  const std::string where = "dimension '" + dim.name + "': ";
  switch (dim.kind) {
    case DimensionKind::kCategorical: {
      const auto* s = std::get_if<std::string>(&value);
      if (!s) return invalid_argument(where + "expected one of [" + join(dim.choices) + "], got " + value_to_string(value));
      if (std::find(dim.choices.begin(), dim.choices.end(), *s) == dim.choices.end()) {
        return invalid_argument(where + "'" + *s + "' is not one of [" + join(dim.choices) + "]");
      }
      return Status::ok_status();
    }
    case DimensionKind::kInteger: {
      const auto* i = std::get_if<int64_t>(&value);
      if (!i) return invalid_argument(where + "expected an integer, got " + value_to_string(value));
      if (*i < dim.int_lo || *i > dim.int_hi || (*i - dim.int_lo) % dim.step != 0) {
        return invalid_argument(where + std::to_string(*i) + " is not in " + std::to_string(dim.int_lo) + ".." +
                                std::to_string(dim.int_hi) + " step " + std::to_string(dim.step));
      }
      return Status::ok_status();
    }
    case DimensionKind::kFloat: {
      const auto* d = std::get_if<double>(&value);
      if (!d) return invalid_argument(where + "expected a real number, got " + value_to_string(value));
      if (!(*d >= dim.float_lo && *d <= dim.float_hi)) {
        return invalid_argument(where + value_to_string(*d) + " is not in [" + value_to_string(dim.float_lo) +
                                ", " + value_to_string(dim.float_hi) + "]");
      }
      return Status::ok_status();
    }
  }
  return internal_error(where + "unknown kind");
}

Status Space::validate(const Configuration& config) const {
  for (const auto& [name, value] : config.values) {
    if (!index_of(name)) {
      std::vector<std::string> names;
      for (const auto& d : dims_) names.push_back(d.name);
      return invalid_argument("unknown dimension '" + name + "'; the space has: " + join(names));
    }
  }
  for (size_t i = 0; i < dims_.size(); ++i) {
    const Dimension& dim = dims_[i];
    auto it = config.values.find(dim.name);
    if (!is_active(i, config)) {
      if (it != config.values.end()) {
        return invalid_argument("dimension '" + dim.name + "' is inactive (it applies only when '" +
                                dim.condition->parent + "' is one of [" + join(dim.condition->values) +
                                "]) but has a value");
      }
      continue;
    }
    if (it == config.values.end()) return invalid_argument("dimension '" + dim.name + "' is active but has no value");
    EFFITUNE_RETURN_IF_ERROR(validate_value(dim, it->second));
  }
  return Status::ok_status();
}

Result<Configuration> Space::canonicalize(Configuration config) const {
  for (const auto& dim : dims_) {
    auto it = config.values.find(dim.name);
    if (it == config.values.end() || dim.kind != DimensionKind::kFloat) continue;
    if (const auto* i = std::get_if<int64_t>(&it->second)) it->second = static_cast<double>(*i);
  }
  EFFITUNE_RETURN_IF_ERROR(validate(config));
  return config;
}

std::optional<uint64_t> Space::count_from(size_t index, const Configuration& partial) const {
  if (index == dims_.size()) return 1;
  if (!is_active(index, partial)) return count_from(index + 1, partial);
  const Dimension& dim = dims_[index];
  const bool is_parent = std::any_of(dims_.begin() + static_cast<std::ptrdiff_t>(index) + 1, dims_.end(),
                                     [&](const Dimension& d) { return d.condition && d.condition->parent == dim.name; });
  if (is_parent) {
    uint64_t sum = 0;
    for (const auto& choice : dim.choices) {
      Configuration next = partial;
      next.values[dim.name] = choice;
      auto c = count_from(index + 1, next);
      if (!c) return std::nullopt;
      sum = saturating_add(sum, *c);
    }
    return sum;
  }
  auto own = dim.count();
  if (!own) return std::nullopt;
  auto rest = count_from(index + 1, partial);
  if (!rest) return std::nullopt;
  return saturating_mul(*own, *rest);
}

std::optional<uint64_t> Space::cardinality() const { return count_from(0, Configuration{}); }

}  // namespace effitune::search
