// JSON text of the parts of a TrialRecord that the study store keeps in JSON columns. Private to
// the orchestrator; the nlohmann types stay in study_json.cpp.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "effitune/common/status.h"
#include "effitune/orchestrator/trial_record.h"

namespace effitune::orchestrator::detail {

std::string interval_to_json(const Interval& interval);
Result<Interval> interval_from_json(std::string_view json);
std::string indicators_to_json(const Indicators& indicators);
Result<Indicators> indicators_from_json(std::string_view json);
std::string cost_to_json(const Cost& cost);
Result<Cost> cost_from_json(std::string_view json);
std::string constraints_to_json(const std::map<std::string, double>& constraints);
Result<std::map<std::string, double>> constraints_from_json(std::string_view json);
std::string load_curve_to_json(const std::vector<LoadPoint>& curve);
Result<std::vector<LoadPoint>> load_curve_from_json(std::string_view json);

}  // namespace effitune::orchestrator::detail
