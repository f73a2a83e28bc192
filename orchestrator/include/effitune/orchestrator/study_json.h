// JSON and CSV forms of trial records and experiments, used by the study store's JSON columns,
// `effitune trials --format json`, `effitune export` and the reports. The JSON keys are the
// TrialRecord field names; doubles are written with full precision (round trip exact), and
// non-finite numbers as null. (trial_state_name and quadrant_name of trial_record.h are defined in
// study_json.cpp.)
//
// Thread safety: pure functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "effitune/common/status.h"
#include "effitune/orchestrator/experiment.h"
#include "effitune/orchestrator/trial_record.h"
#include "effitune/search/configuration.h"

namespace effitune::orchestrator {

// Inverse of trial_state_name / quadrant_name; nullopt for an unknown name.
std::optional<TrialState> parse_trial_state(std::string_view name);
std::optional<Quadrant> parse_quadrant(std::string_view name);

// A configuration as a JSON object {"name": value}: integers as JSON integers, reals always with a
// fraction or exponent (1.0, not 1), strings as strings; so configuration_from_json gives back the
// same types and Configuration::key(). kInvalidArgument for non-objects, nested values or non-finite
// numbers.
std::string configuration_to_json(const search::Configuration& configuration);
Result<search::Configuration> configuration_from_json(std::string_view json);

// One trial as a JSON object. configuration and measurements are embedded as JSON values (not
// strings) when they parse, so consumers read them directly. indent < 0: one line.
std::string trial_to_json(const TrialRecord& record, int indent = -1);
// Inverse of trial_to_json. kInvalidArgument naming the field on malformed input.
Result<TrialRecord> trial_from_json(std::string_view json);
// {"trials": [ ... ]} in the given order.
std::string trials_to_json(const std::vector<TrialRecord>& records, int indent = -1);

// One header line and one line per trial (RFC 4180 quoting): id, experiment, status, the
// configuration's dimensions (one column each, the union over all trials), P/C/Cm/A/Q with
// intervals, R, replicas, E with its interval, feasible, quadrant, attempts, failure_reason, then one
// c_<name> column per constraint (the union over all trials; > 0 = broken by that much).
std::string trials_to_csv(const std::vector<TrialRecord>& records);

// The experiment's settings and space as a JSON object (the raw YAML is not repeated).
std::string experiment_to_json(const Experiment& experiment, int indent = -1);

}  // namespace effitune::orchestrator
