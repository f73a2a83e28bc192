// The discrete values that grid search visits and hill climbing steps between, per dimension.
#pragma once

#include <vector>

#include "effitune/search/space.h"

namespace effitune::search {

// All choices of a categorical. For an integer: every value when it has at most `resolution`,
// else `resolution` values evenly spaced (in log space for log dimensions) and rounded to the step
// grid, always with lo and hi. For a float: `resolution` points from lo to hi inclusive (1: the
// midpoint; for log dimensions the geometric spacing). Ascending, no duplicates. resolution >= 1.
std::vector<Value> levels(const Dimension& dim, int resolution);

// Position of `v` relative to a dimension's numeric levels: the nearest level strictly below and
// strictly above (nullopt at the ends). Values within 1e-12 of the range count as equal.
struct Bracket {
  std::optional<Value> below;
  std::optional<Value> above;
};
Bracket bracket(const Dimension& dim, const std::vector<Value>& levels, const Value& v);

}  // namespace effitune::search
