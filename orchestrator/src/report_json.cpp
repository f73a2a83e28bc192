// The JSON report (schema: experiments/report.schema.json), the format names and write_report.
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "effitune/orchestrator/report.h"
#include "report_util.h"

namespace effitune::orchestrator {
namespace {

using json = nlohmann::ordered_json;

json num(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

json interval(const Interval& i) {
  return {{"value", num(i.value)}, {"ci_low", num(i.ci_low)}, {"ci_high", num(i.ci_high)}, {"n", i.n}};
}
json opt_interval(const std::optional<Interval>& i) { return i ? interval(*i) : json(nullptr); }

// The configuration as typed JSON when it parses, else its dimension/value text pairs.
json configuration(const std::string& text, const std::vector<std::pair<std::string, std::string>>& pairs) {
  json j = json::parse(text, nullptr, false);
  if (j.is_object()) return j;
  json out = json::object();
  for (const auto& [k, v] : pairs) out[k] = v;
  return out;
}

const char* kind_name(MarkKind k) {
  switch (k) {
    case MarkKind::kPoints: return "points";
    case MarkKind::kLine: return "line";
    case MarkKind::kStep: return "step";
    case MarkKind::kBars: return "bars";
  }
  return "points";
}

json chart(const Chart& c) {
  json series = json::array();
  for (const auto& s : c.series) {
    json pts = json::array();
    for (const auto& p : s.points) {
      pts.push_back({{"x", num(p.x)}, {"y", num(p.y)}, {"y_low", p.y_low ? num(*p.y_low) : json(nullptr)},
                     {"y_high", p.y_high ? num(*p.y_high) : json(nullptr)}, {"trial", p.trial ? json(*p.trial) : json(nullptr)},
                     {"tooltip", p.tooltip}, {"highlight", p.highlight}});
    }
    series.push_back({{"name", s.name}, {"kind", kind_name(s.kind)}, {"points", pts}});
  }
  json rules = json::array();
  for (const auto& r : c.rules) rules.push_back({{"axis", r.vertical ? "x" : "y"}, {"at", num(r.at)}, {"label", r.label}});
  json out = {{"id", c.id}, {"title", c.title}, {"reading", c.reading}, {"x_label", c.x_label}, {"y_label", c.y_label},
              {"categories", c.categories}, {"series", series}, {"rules", rules}, {"note", c.note}};
  if (c.quadrants) {
    const auto& q = *c.quadrants;
    out["quadrants"] = {{"x_split", num(q.x_split)}, {"y_split", num(q.y_split)}, {"top_left", q.top_left},
                        {"top_right", q.top_right}, {"bottom_left", q.bottom_left}, {"bottom_right", q.bottom_right}};
  } else {
    out["quadrants"] = nullptr;
  }
  return out;
}

json recommendation(const Recommendation& r) {
  json quality = json::array();
  for (const auto& q : r.quality) {
    json row = interval(q.value);
    row["name"] = q.name;
    row["label"] = q.label;
    quality.push_back(row);
  }
  json margins = json::array();
  for (const auto& s : r.slo_margins) {
    margins.push_back({{"name", s.name}, {"limit_ms", num(s.limit_ms)}, {"measured_ms", num(s.measured_ms)},
                       {"margin_ms", num(s.margin_ms)}, {"met", s.met}});
  }
  json ties = json::array();
  for (const auto& t : r.ties) {
    ties.push_back({{"trial", t.trial}, {"configuration", configuration(t.configuration_json, t.configuration)},
                    {"efficiency", interval(t.efficiency)}, {"quality", interval(t.quality)},
                    {"usd_per_hour", num(t.usd_per_hour)}, {"replicas", t.replicas}, {"gpus_per_replica", t.gpus_per_replica}});
  }
  const bool has = r.trial >= 0;
  return {{"available", r.available}, {"headline", r.headline}, {"reasons", r.reasons},
          {"trial", has ? json(r.trial) : json(nullptr)},
          {"configuration", has ? configuration(r.configuration_json, r.configuration) : json(nullptr)},
          {"feasible", r.feasible}, {"replicas", r.replicas}, {"gpus_per_replica", r.gpus_per_replica},
          {"total_gpus", r.total_gpus}, {"cpu_cores_per_replica", r.cpu_cores_per_replica},
          {"capacity_rps_per_replica", num(r.capacity_rps_per_replica)}, {"goal", r.goal},
          {"usd_per_hour", num(r.usd_per_hour)}, {"usd_per_hour_interval", interval(r.usd_per_hour_interval)},
          {"r0_usd_per_hour", num(r.r0_usd_per_hour)}, {"efficiency", interval(r.efficiency)}, {"e0", num(r.e0)},
          {"usd_per_million_good_tokens", r.usd_per_million_good_tokens ? num(*r.usd_per_million_good_tokens) : json(nullptr)},
          {"quality", quality}, {"quadrant", r.quadrant ? json(quadrant_name(*r.quadrant)) : json(nullptr)},
          {"goal_rps_per_replica", num(r.goal_rps_per_replica)}, {"slo_margins", margins},
          {"e1", {{"reached", r.e1_reached}, {"verdict", r.e1_verdict}, {"spend_more", r.spend_more}}}, {"ties", ties}};
}

json trial(const TrialRow& t) {
  json violations = json::array();
  for (const auto& v : t.violations) {
    violations.push_back({{"constraint", v.constraint}, {"amount", num(v.amount)}, {"text", v.text}});
  }
  return {{"id", t.id}, {"state", t.state}, {"configuration", configuration(t.configuration_json, t.configuration)},
          {"performance", opt_interval(t.performance)}, {"consistency", opt_interval(t.consistency)},
          {"completeness", opt_interval(t.completeness)}, {"accuracy", opt_interval(t.accuracy)},
          {"quality", opt_interval(t.quality)}, {"efficiency", opt_interval(t.efficiency)},
          {"usd_per_hour", t.usd_per_hour ? num(*t.usd_per_hour) : json(nullptr)},
          {"goal_reachable", t.usd_per_hour ? json(std::isfinite(*t.usd_per_hour)) : json(nullptr)},
          {"replicas", t.replicas}, {"gpus_per_replica", t.gpus_per_replica}, {"feasible", t.feasible},
          {"quadrant", t.quadrant.empty() ? json(nullptr) : json(t.quadrant)},
          {"rank", t.rank > 0 ? json(t.rank) : json(nullptr)}, {"failure_reason", t.failure_reason},
          {"violations", violations}};
}

json drift(const DriftRow& d) {
  json c = json::parse(d.configuration_json, nullptr, false);
  return {{"configuration", c.is_object() ? c : json::object()}, {"indicator", d.indicator}, {"run_at", num(d.run_at)},
          {"baseline", interval(d.baseline)}, {"current", interval(d.current)}, {"significant", d.significant},
          {"test", d.test}, {"p_value", num(d.p_value)}};
}

}  // namespace

std::optional<ReportFormat> parse_report_format(std::string_view name) {
  if (name == "html") return ReportFormat::kHtml;
  if (name == "md" || name == "markdown") return ReportFormat::kMarkdown;
  if (name == "json") return ReportFormat::kJson;
  return std::nullopt;
}

std::string render_json(const ReportModel& m, int indent) {
  json charts = json::array(), trials = json::array(), drifts = json::array();
  for (const auto& c : m.charts) charts.push_back(chart(c));
  for (const auto& t : m.trials) trials.push_back(trial(t));
  for (const auto& d : m.drift) drifts.push_back(drift(d));
  const Reproducibility& r = m.reproducibility;
  json out = {{"report_version", kReportJsonVersion}, {"experiment", m.experiment}, {"generated_at", num(m.generated_at)},
              {"summary", m.summary},
              {"counts", {{"total", m.trials_total}, {"complete", m.trials_complete}, {"failed", m.trials_failed},
                          {"feasible", m.trials_feasible}}},
              {"warnings", m.warnings}, {"recommendation", recommendation(m.recommendation)}, {"charts", charts},
              {"trials", trials}, {"nightly", m.nightly}, {"drift", drifts},
              {"reproducibility", {{"experiment_yaml", r.experiment_yaml}, {"engine_commit", r.engine_commit},
                                   {"device", r.device}, {"model_path", r.model_path}, {"model_sha256", r.model_sha256},
                                   {"created_at", num(r.created_at)}, {"schema_version", r.schema_version}}}};
  // Replacement of invalid UTF-8 keeps a report of a study with odd bytes (e.g. in a failure reason) writable.
  return out.dump(indent, ' ', false, json::error_handler_t::replace) + "\n";
}

Status write_report(const ReportModel& model, ReportFormat format, const std::string& path) {
  const std::string text = format == ReportFormat::kHtml       ? render_html(model)
                           : format == ReportFormat::kMarkdown ? render_markdown(model)
                                                               : render_json(model);
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f) return unavailable(path + ": cannot open the report for writing; check the folder exists and is writable");
  f.write(text.data(), static_cast<std::streamsize>(text.size()));
  f.close();
  if (!f) return unavailable(path + ": writing the report failed (disk full?)");
  return Status::ok_status();
}

}  // namespace effitune::orchestrator
