// Shared by the search tests: a sequential ask/tell loop and the synthetic test functions.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <numbers>
#include <optional>
#include <string>
#include <vector>

#include "effitune/search/space.h"
#include "effitune/search/strategy.h"

namespace effitune::search::testing {

struct Evaluation {
  TrialStatus status = TrialStatus::kComplete;
  double objective = 0;
  std::map<std::string, double> constraints;  // > 0 violated
};

using Objective = std::function<Evaluation(const Trial&)>;

struct RunLog {
  std::vector<Trial> trials;
  std::vector<TrialOutcome> outcomes;
  bool finished = false;  // ask() returned nullopt
};

inline TrialOutcome outcome_of(const Trial& trial, const Evaluation& e) {
  TrialOutcome o;
  o.trial_id = trial.id;
  o.configuration = trial.configuration;
  o.status = e.status;
  o.objective = e.objective;
  o.constraints = e.constraints;
  o.fidelity = trial.fidelity;
  for (const auto& [name, v] : e.constraints) o.feasible = o.feasible && v <= 0;
  return o;
}

// Asks and tells up to `budget` trials, one at a time.
inline RunLog run_loop(Strategy& strategy, const Objective& f, int budget) {
  RunLog log;
  for (int i = 0; i < budget; ++i) {
    auto next = strategy.ask();
    EXPECT_TRUE(next.ok()) << next.status().to_string();
    if (!next.ok()) break;
    if (!next->has_value()) {
      log.finished = true;
      break;
    }
    const Trial trial = **next;
    const TrialOutcome o = outcome_of(trial, f(trial));
    EXPECT_TRUE(strategy.tell(o).ok());
    log.trials.push_back(trial);
    log.outcomes.push_back(o);
  }
  return log;
}

// Best objective among feasible complete outcomes; -inf if none.
inline double best_feasible(const std::vector<TrialOutcome>& outcomes) {
  double best = -INFINITY;
  for (const auto& o : outcomes) {
    if (is_feasible_complete(o)) best = std::max(best, o.objective);
  }
  return best;
}

inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Branin-Hoo (Dixon & Szego 1978 as in the Surjanovic-Bingham library), x1 in [-5, 10], x2 in [0, 15];
// global minimum 0.397887 at (-pi, 12.275), (pi, 2.275), (9.42478, 2.475).
inline double branin(double x1, double x2) {
  const double pi = std::numbers::pi;
  const double b = 5.1 / (4 * pi * pi), c = 5 / pi, t = 1 / (8 * pi);
  const double a = x2 - b * x1 * x1 + c * x1 - 6;
  return a * a + 10 * (1 - t) * std::cos(x1) + 10;
}
inline constexpr double kBraninMin = 0.397887357729739;

// Hartmann 3-D on [0, 1]^3; global minimum -3.86278 at (0.114614, 0.555649, 0.852547).
inline double hartmann3(double x0, double x1, double x2) {
  static const double alpha[4] = {1.0, 1.2, 3.0, 3.2};
  static const double a[4][3] = {{3.0, 10, 30}, {0.1, 10, 35}, {3.0, 10, 30}, {0.1, 10, 35}};
  static const double p[4][3] = {{0.3689, 0.1170, 0.2673},
                                 {0.4699, 0.4387, 0.7470},
                                 {0.1091, 0.8732, 0.5547},
                                 {0.0381, 0.5743, 0.8828}};
  const double x[3] = {x0, x1, x2};
  double s = 0;
  for (int i = 0; i < 4; ++i) {
    double inner = 0;
    for (int j = 0; j < 3; ++j) inner += a[i][j] * (x[j] - p[i][j]) * (x[j] - p[i][j]);
    s += alpha[i] * std::exp(-inner);
  }
  return -s;
}
inline constexpr double kHartmann3Min = -3.86278214782076;

// The mixed space most tests use: a 3-D quadratic over an integer, a float and a log integer, plus a
// categorical. Maximum 2 at x = 13, y = 1, z = 8, kind = b; these lie on the default grid levels.
inline Space quadratic_space() {
  Space s;
  EXPECT_TRUE(s.add_integer("x", 0, 20).ok());
  EXPECT_TRUE(s.add_float("y", -4, 4).ok());
  EXPECT_TRUE(s.add_integer("z", 1, 64, 1, /*log=*/true).ok());
  EXPECT_TRUE(s.add_categorical("kind", {"a", "b", "c"}).ok());
  return s;
}
inline constexpr double kQuadraticMax = 2.0;

inline double quadratic(const Configuration& c) {
  const double x = static_cast<double>(*c.get_int("x"));
  const double y = *c.get_double("y");
  const double z = std::log2(static_cast<double>(*c.get_int("z")));
  const std::string kind = c.get_string("kind").value_or("");
  const double bonus = kind == "b" ? 2.0 : kind == "c" ? 1.0 : 0.0;
  return -(x - 13) * (x - 13) / 10.0 - 4 * (y - 1) * (y - 1) - (z - 3) * (z - 3) + bonus;
}

}  // namespace effitune::search::testing
