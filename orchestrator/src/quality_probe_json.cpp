#include <cmath>
#include <nlohmann/json.hpp>

#include "effitune/orchestrator/quality_probe.h"

namespace effitune::orchestrator {
namespace {

nlohmann::json est(const probes::Estimate& e) {
  auto num = [](double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); };
  return {{"value", num(e.value)}, {"ci_low", num(e.ci_low)}, {"ci_high", num(e.ci_high)}, {"n", e.n}};
}

}  // namespace

std::string quality_report_to_json(const QualityReport& r, bool with_items, int indent) {
  nlohmann::json j;
  j["accuracy"] = est(r.accuracy);
  j["completeness"] = est(r.completeness);
  j["consistency"] = est(r.consistency);
  j["history_consistency"] = est(r.history_consistency);
  j["truncation_rate"] = est(r.truncation_rate);
  j["parts"] = {{"key_point_recall", est(r.key_point_recall)},
                {"repeat_agreement", est(r.repeat_agreement)},
                {"same_top1", est(r.same_top1)},
                {"mean_kl", est(r.mean_kl)}};
  j["mean_generation_ms"] = r.mean_generation_ms;
  j["mean_prompt_tokens"] = r.mean_prompt_tokens;
  j["mean_output_tokens"] = r.mean_output_tokens;
  if (with_items) {
    auto items = nlohmann::json::array();
    for (const auto& q : r.items) {
      items.push_back({{"id", q.id},
                       {"answer", q.answer},
                       {"finish_reason", q.finish_reason},
                       {"score", q.score},
                       {"key_point_recall", q.key_point_recall},
                       {"correct", q.correct},
                       {"depends_on_history", q.depends_on_history},
                       {"repeat_agreement", q.repeat_agreement},
                       {"history_tokens_dropped", q.history_tokens_dropped},
                       {"prompt_tokens", q.prompt_tokens},
                       {"output_tokens", q.output_tokens},
                       {"prompt_did_not_fit", q.prompt_did_not_fit}});
    }
    j["items"] = std::move(items);
  }
  // Answers are model output: replace invalid UTF-8 rather than throw.
  return j.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace effitune::orchestrator
