// The record of one trial, as the tuning loop measures it, the study store keeps it and reports
// read it. Plain data: no third-party types. Names follow mission.md (P, C, Cm, A, Q, R, E).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace effitune::orchestrator {

enum class TrialState { kPending, kRunning, kComplete, kFailed, kPruned };
const char* trial_state_name(TrialState s);  // "pending", "running", "complete", "failed", "pruned"

// A measured figure with its 95% interval and sample size.
struct Interval {
  double value = 0;
  double ci_low = 0;
  double ci_high = 0;
  int64_t n = 0;
};

// The magic quadrant (mission.md): quality high/low against cost high/low at the experiment's split.
enum class Quadrant { kEfficient, kScaledProduction, kExperimental, kBudgetEater };
const char* quadrant_name(Quadrant q);  // "efficient", "scaled-production", "experimental", "budget-eater"

// One point of a load test (for latency-against-load charts).
struct LoadPoint {
  double offered_rps = 0;
  double achieved_rps = 0;
  double goodput_rps = 0;
  double ttft_p95_ms = 0;
  double tpot_p95_ms = 0;
  double e2e_p95_ms = 0;
  double performance = 0;  // P at this load
};

struct Indicators {
  Interval performance;          // P: goodput / offered at the tested load
  Interval consistency;          // C: combined (repeat agreement, agreement with the reference, history)
  Interval completeness;         // Cm: (1 - truncation rate) x key-point recall
  Interval accuracy;             // A: normalized exact match / ROUGE-L etc.
  Interval quality;              // Q: weighted geometric mean of P, C, Cm, A (and ICS when used)
  std::map<std::string, Interval> parts;  // e.g. repeat_agreement, same_top1, mean_kl, history_consistency,
                                          // truncation_rate, key_point_recall, ics
};

struct Cost {
  double usd_per_hour = 0;             // R: the deployment that meets the volumetry goal
  double usd_per_hour_per_replica = 0;
  std::optional<double> energy_usd_per_hour;  // nullopt when power could not be read
  std::optional<double> usd_per_million_good_tokens;
  int32_t replicas = 0;                // replicas needed for the goal
  int32_t gpus_per_replica = 0;        // tensor-parallel degree (0 for CPU)
  int32_t cpu_cores_per_replica = 0;
  double capacity_rps = 0;             // per-replica capacity under the SLOs (capacity search)
  Interval capacity_rps_interval;
  double capacity_users = 0;           // per-replica concurrent users under the SLOs, when searched
};

struct TrialRecord {
  int64_t id = 0;          // study-wide trial number, 0-based in ask order
  std::string experiment;  // experiment name
  TrialState state = TrialState::kPending;
  std::string configuration_json;  // the search::Configuration as a JSON object
  std::optional<double> fidelity;  // successive halving level
  std::string failure_reason;      // set when failed
  double started_at = 0;           // unix seconds
  double finished_at = 0;
  double heartbeat_at = 0;
  int32_t attempts = 0;            // retries after a stale 'running' was found

  Indicators indicators;
  Cost cost;
  double efficiency = 0;           // E = Q / R
  Interval efficiency_interval;
  bool feasible = false;           // E >= E0, R <= R0, SLOs met at the goal
  std::map<std::string, double> constraints;  // Optuna convention: <= 0 satisfied
  std::optional<Quadrant> quadrant;
  std::vector<LoadPoint> load_curve;
  std::string measurements_json;   // raw percentiles, throughput, eval details (free-form JSON)
};

// A running trial's run writes its heartbeat every 2 s; one older than this belongs to a run that is
// gone (killed, crashed, machine lost): the tuner retries such a trial, and `status` and the report
// call it interrupted.
inline constexpr double kStaleHeartbeatS = 60;
// Whether `t` is running with a heartbeat older than kStaleHeartbeatS at `now` (unix seconds).
inline bool is_interrupted(const TrialRecord& t, double now) {
  return t.state == TrialState::kRunning && now - t.heartbeat_at > kStaleHeartbeatS;
}

}  // namespace effitune::orchestrator
