// The efficiency objective (../shared/docs/mission.md, used exactly): Q from P, C, Cm, A (+ ICS),
// R at the volumetry goal, E = Q / R, the constraints E >= E0 and R <= R0, the magic quadrant,
// ranking that ties configurations whose intervals overlap, and E1 detection.
//
// Intervals are propagated by interval arithmetic: Q is increasing in each indicator, so its interval
// is [Q(lows), Q(highs)]; replicas = ceil(goal / capacity) is decreasing in capacity, so R's interval
// comes from the capacity interval's ends; E = Q / R gives [Q_low / R_high, Q_high / R_low]. This is
// conservative (it ignores correlations), which only makes ties more likely, never false rankings.
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "effitune/common/status.h"
#include "effitune/orchestrator/experiment.h"
#include "effitune/orchestrator/study_store.h"
#include "effitune/orchestrator/trial_record.h"
#include "effitune/search/configuration.h"

namespace effitune::orchestrator {

// Q = prod(x_i ^ (w_i / sum w)) over P, C, Cm, A and, when weights.ics > 0, ICS (read from
// indicators.parts["ics"]). A zero indicator with a positive weight gives Q = 0. Returns
// kInvalidArgument when a value or interval end is outside [0, 1], the weights are invalid, or
// weights.ics > 0 and there is no "ics" part.
Result<Interval> compute_quality(const Indicators& indicators, const QualityWeights& weights);

// What one replica of a configuration uses and how much it serves.
struct ReplicaMeasure {
  Interval capacity_rps;                  // highest request rate meeting the SLOs (capacity search)
  std::optional<Interval> capacity_users; // most concurrent users meeting the SLOs, when searched
  int32_t gpus_per_replica = 0;           // 0 for a CPU deployment
  int32_t cpu_cores_per_replica = 0;      // used when gpus_per_replica == 0
  std::string gpu_model;                  // the GPU's name ("NVIDIA H100 80GB HBM3"): priced by its own key of
                                          // PriceTable::usd_per_gpu_hour, else the longest key it contains,
                                          // else the table's only entry
  std::optional<double> watts_per_replica;  // measured power; nullopt when it could not be read
  // Good output tokens per second one replica produces at capacity (for $ per 1M good tokens).
  std::optional<double> good_output_tokens_per_s;
};

struct CostEstimate {
  Cost cost;               // the point values (R = cost.usd_per_hour)
  Interval usd_per_hour;   // R's interval from the capacity interval (ci_high is +inf when the
                           // capacity interval reaches 0)
  bool goal_met = false;   // capacity > 0: the SLOs hold at the goal with `replicas` replicas
};

// replicas = max over the goal's parts of ceil(goal / per-replica capacity); R = replicas x
// (GPUs per replica x $/GPU-hour, or CPU cores x $/core-hour) + energy (watts x replicas / 1000 x
// $/kWh) when power was measured. When the capacity is 0 the goal cannot be met: replicas 0,
// R = +inf, goal_met false. kInvalidArgument when the goal is empty, a GPU model has no price (naming
// the known ones), or a capacity is negative.
Result<CostEstimate> compute_cost(const GoalSection& goal, const ReplicaMeasure& replica, const PriceTable& prices);

// E = Q / R and its interval; 0 when R is infinite (goal not met) or Q is 0.
Interval compute_efficiency(const Interval& quality, const Interval& running_cost);

struct Judgement {
  bool feasible = false;
  // Optuna's convention (<= 0 satisfied): "cost" = (R - R0) / R0, "efficiency" = (E0 - E) / E0
  // (-1 when E0 is 0), "goal" = -1 when the goal is met else 1.
  std::map<std::string, double> constraints;
  Quadrant quadrant = Quadrant::kExperimental;
};
// The constraints E >= E0, R <= R0 and the SLOs at the goal, and the magic quadrant at
// (quality_split, cost_split_usd_per_hour, or R0 / 2 when that is 0). High Q means Q >= split; high R
// means R >= split.
Judgement judge(double quality, double running_cost, double efficiency, bool goal_met,
                const ObjectiveSection& objective);
Quadrant quadrant_of(double quality, double running_cost, const ObjectiveSection& objective);

// The quality floors as constraints (Optuna convention, <= 0 met), one per floor set, named
// "min_performance", "min_consistency", "min_completeness", "min_accuracy", "min_ics", "min_quality":
// (floor - value) / floor on the point value (-1 for a floor of 0). A floored ICS without an "ics" part
// is violated (1). The quality point value is read from indicators.quality.
std::map<std::string, double> floor_constraints(const Indicators& indicators, const QualityFloors& floors);

// Fills quality, cost, efficiency, feasibility, constraints and quadrant of `record` from its
// indicators (P, C, Cm, A already measured) and the replica measurement; the experiment's quality
// floors join the constraints (floor_constraints) and decide feasibility with them. Errors as above.
Status evaluate_record(TrialRecord& record, const ReplicaMeasure& replica, const Experiment& experiment);

// Rank of each feasible complete trial by E: 1 + the number of feasible complete trials whose E
// interval lies entirely above its own (ci_low > its ci_high). Configurations whose intervals overlap
// share a rank (a tie). Trials that are not feasible and complete are absent.
struct RankedTrial {
  int64_t id = 0;
  int32_t rank = 0;
  double efficiency = 0;
};
std::vector<RankedTrial> rank_trials(const std::vector<TrialRecord>& trials);  // by rank, then E desc

// E1: the practical limit. Reading the trials in id order, each complete trial after the first
// feasible one is an attempt to improve the best E. An attempt is a real improvement when it is
// feasible, its E exceeds the incumbent's by more than min_relative_gain (relative) and its interval
// lies above the incumbent's (ci_low > incumbent ci_high). Anything else (within noise, negative,
// infeasible, failed) is not. E1 is reached when the last `patience` attempts were all not real
// improvements. An attempt with a higher point E still becomes the incumbent even when within noise.
struct E1Verdict {
  bool reached = false;
  int64_t reached_at_trial = -1;  // the trial after which the climb stopped paying back
  int64_t best_trial = -1;        // the incumbent (highest point E among feasible complete trials)
  double best_efficiency = 0;
  int32_t attempts_without_gain = 0;  // at the end of the list
  std::string explanation;        // one sentence for the summary and the report
};
E1Verdict detect_e1(const std::vector<TrialRecord>& trials, int32_t patience, double min_relative_gain);

// ICS of one configuration from the study's imported ratings (StudyStore::list_feedback), so that the
// trial's child process, which does not open the study, gets it from the parent.
//
// A rating keyed by configuration applies to a configuration when its key names exactly the
// configuration's active dimensions with the same values, written either as a JSON object
// ({"quant": "q4_0", "history_budget": 256}, configuration_to_json's form) or as name=value pairs
// separated by commas (quant=q4_0,history_budget=256; Configuration::key()'s quoted strings also
// match). Numbers match within a relative 1e-9, so 1 and 1.0 are the same value.
//
// The ratings that apply give ICS = the share of thumbs up with its Wilson interval (thumbs only), or
// the mean normalized rating ((stars - 1) / 4, thumbs 0/1) with a percentile bootstrap interval. When
// none applies, every rating of the study is pooled (source "study": the study-wide ICS stands in for
// a configuration nobody rated yet); with no ratings at all the result is nullopt.
struct IcsEstimate {
  Interval interval;    // in [0, 1]; n = the ratings behind it
  std::string source;   // "configuration" or "study"
};
bool rating_key_matches(const std::string& key, const search::Configuration& configuration);
Result<std::optional<IcsEstimate>> ics_for_configuration(const std::vector<FeedbackRow>& ratings,
                                                         const search::Configuration& configuration);

}  // namespace effitune::orchestrator
