// The Markdown report: the HTML report's content, with every chart given as a table of its points
// (readable in a terminal, a pull request or a wiki without images).
#include <cmath>
#include <sstream>

#include "effitune/orchestrator/report.h"
#include "report_util.h"

namespace effitune::orchestrator {
namespace {

using namespace report_detail;

// Table cells cannot hold '|' or line breaks.
std::string cell(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '|') out += "\\|";
    else if (c == '\n' || c == '\r') out += "; ";
    else out += c;
  }
  return out;
}

std::string opt(const std::optional<Interval>& i) { return i ? interval_text(*i) : ""; }

// The why cell's lines, joined: a Markdown cell holds one line.
std::string why_text(const TrialRow& t) {
  std::string s;
  for (const auto& line : why_lines(t)) s += (s.empty() ? "" : "; ") + line;
  return s;
}

void recommendation(std::ostringstream& o, const Recommendation& r) {
  o << "## Recommendation\n\n**" << cell(r.headline) << "**\n\n";
  for (const auto& s : r.reasons) o << "- " << s << "\n";
  if (!r.reasons.empty()) o << "\n";
  if (r.trial < 0) return;
  o << "| | |\n|---|---|\n| Configuration (trial " << r.trial << ") | " << cell(configuration_text(r.configuration)) << " |\n"
    << "| Volumetry goal | " << cell(r.goal) << " |\n";
  if (r.gpus_per_replica > 0) {
    o << "| GPUs | " << r.total_gpus << " = " << count_of(r.replicas, "replica") << " x " << count_of(r.gpus_per_replica, "GPU") << " |\n";
  } else {
    o << "| Replicas (CPU) | " << count_of(r.replicas, "replica") << " x " << count_of(r.cpu_cores_per_replica, "core") << " |\n";
  }
  o << "| Capacity per replica | " << format_number(r.capacity_rps_per_replica) << " req/s under the SLOs |\n"
    << "| Running cost R vs ceiling R0 | " << money_per_hour(r.usd_per_hour) << " vs " << money_per_hour(r.r0_usd_per_hour) << " |\n"
    << "| Efficiency E vs floor E0 | " << interval_text(r.efficiency) << " vs " << format_number(r.e0) << " |\n";
  if (r.usd_per_million_good_tokens) o << "| Cost per 1M good output tokens | $" << format_number(*r.usd_per_million_good_tokens, 4) << " |\n";
  if (r.quadrant) o << "| Magic quadrant | " << quadrant_name(*r.quadrant) << " |\n";
  o << "\n### Quality and its parts (95% intervals)\n\n| indicator | meaning | value | 95% interval |\n|---|---|---|---|\n";
  for (const auto& q : r.quality) {
    o << "| " << q.name << " | " << cell(q.label) << " | " << format_number(q.value.value) << " | "
      << format_number(q.value.ci_low) << " - " << format_number(q.value.ci_high) << " |\n";
  }
  o << "\n### SLO margins at the goal load (" << format_number(r.goal_rps_per_replica) << " req/s per replica)\n\n";
  if (r.slo_margins.empty()) {
    o << "No SLO is set or no load curve was recorded.\n";
  } else {
    o << "| SLO | limit | measured | margin |\n|---|---|---|---|\n";
    for (const auto& s : r.slo_margins) {
      o << "| " << slo_label(s.name) << " | " << format_number(s.limit_ms) << " ms | " << format_number(s.measured_ms) << " ms | "
        << format_number(s.margin_ms) << " ms" << (s.met ? "" : " (violated)") << " |\n";
    }
  }
  o << "\n### Is spending more worth it? (E1)\n\n" << r.e1_verdict << "\n\n";
  if (!r.spend_more.empty()) o << r.spend_more << "\n\n";
  if (!r.ties.empty()) {
    o << "### Within noise of the best (ties)\n\n| trial | configuration | E | Q | R | replicas |\n|---|---|---|---|---|---|\n";
    for (const auto& t : r.ties) {
      o << "| " << t.trial << " | " << cell(configuration_text(t.configuration)) << " | " << interval_text(t.efficiency) << " | "
        << interval_text(t.quality) << " | " << money_per_hour(t.usd_per_hour) << " | " << t.replicas << " |\n";
    }
    o << "\n";
  }
}

void chart(std::ostringstream& o, const Chart& c) {
  o << "### " << c.title << "\n\n*" << c.reading << "*\n\n";
  if (!c.categories.empty()) {
    o << "| " << cell(c.x_label) << " |";
    for (const auto& s : c.series) o << " " << cell(s.name) << " |";
    o << "\n|---|";
    for (size_t i = 0; i < c.series.size(); ++i) o << "---|";
    o << "\n";
    for (size_t k = 0; k < c.categories.size(); ++k) {
      o << "| " << cell(c.categories[k]) << " |";
      for (const auto& s : c.series) {
        std::string v;
        for (const auto& p : s.points) {
          if (static_cast<size_t>(p.x) != k) continue;
          v = format_number(p.y);
          if (p.y_low && p.y_high) v += " [" + format_number(*p.y_low) + ", " + format_number(*p.y_high) + "]";
        }
        o << " " << v << " |";
      }
      o << "\n";
    }
  } else {
    o << "| series | trial | " << cell(c.x_label) << " | " << cell(c.y_label) << " | 95% interval |\n|---|---|---|---|---|\n";
    for (const auto& s : c.series) {
      if (s.kind == MarkKind::kStep) continue;  // the line through points already listed
      for (const auto& p : s.points) {
        o << "| " << cell(s.name) << (p.highlight ? " (recommended)" : "") << " | " << (p.trial ? std::to_string(*p.trial) : "")
          << " | " << format_number(p.x, 4) << " | " << format_number(p.y) << " | "
          << (p.y_low && p.y_high ? format_number(*p.y_low) + " - " + format_number(*p.y_high) : "") << " |\n";
      }
    }
  }
  for (const auto& r : c.rules) o << "\n" << (r.vertical ? "Vertical" : "Horizontal") << " line: " << r.label << " at " << format_number(r.at) << ".";
  if (!c.rules.empty()) o << "\n";
  if (c.quadrants) {
    o << "\nQuadrants split at R = " << money_per_hour(c.quadrants->x_split) << " and Q = " << format_number(c.quadrants->y_split)
      << ": efficient (high Q, low R), scaled production (high Q, high R), experimental (low Q, low R), budget-eaters (low Q, high R).\n";
  }
  if (!c.note.empty()) o << "\n" << c.note << "\n";
  o << "\n";
}

}  // namespace

std::string render_markdown(const ReportModel& m) {
  std::ostringstream o;
  o << "# effitune recommendation: " << m.experiment << "\n\nGenerated " << utc_text(m.generated_at) << ". " << m.summary
    << (m.nightly ? " Nightly run: drift included." : "") << "\n\n";
  for (const auto& w : m.warnings) o << "> **Warning:** " << w << "\n\n";
  recommendation(o, m.recommendation);
  o << "## Charts\n\n";
  if (m.charts.empty()) o << "No chart: no trial has been measured yet.\n\n";
  for (const auto& c : m.charts) chart(o, c);
  if (m.nightly) {
    o << "### Drift details (latest nightly run, " << utc_text(m.drift.front().run_at) << ")\n\n"
      << "| configuration | indicator | baseline | tonight | test | p | significant |\n|---|---|---|---|---|---|---|\n";
    for (const auto& d : m.drift) {
      o << "| " << cell(configuration_text(configuration_pairs(d.configuration_json, {}))) << " | " << d.indicator << " | "
        << interval_text(d.baseline) << " | " << interval_text(d.current) << " | " << d.test << " | " << format_number(d.p_value)
        << " | " << (d.significant ? "**yes**" : "no") << " |\n";
    }
    o << "\n";
  }
  o << "## Trials\n\n";
  if (m.trials.empty()) o << "No trial yet.\n\n";
  else {
    o << "| trial | state | configuration | P | C | Cm | A | Q | R $/h | E | replicas | feasible | quadrant | rank | why not feasible / why failed |\n"
      << "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n";
    for (const auto& t : m.trials) {
      const bool measured = t.usd_per_hour.has_value();
      o << "| " << t.id << (t.id == m.recommendation.trial ? " **(recommended)**" : "") << " | " << t.state << " | "
        << cell(configuration_text(t.configuration)) << " | " << opt(t.performance) << " | " << opt(t.consistency) << " | "
        << opt(t.completeness) << " | " << opt(t.accuracy) << " | " << opt(t.quality) << " | "
        << (measured ? (std::isfinite(*t.usd_per_hour) ? format_number(*t.usd_per_hour, 4) : "unreachable") : "") << " | "
        << opt(t.efficiency) << " | " << (measured ? std::to_string(t.replicas) : "") << " | "
        << (measured ? (t.feasible ? "yes" : "no") : "") << " | " << t.quadrant << " | " << (t.rank > 0 ? std::to_string(t.rank) : "")
        << " | " << cell(why_text(t)) << " |\n";
    }
    o << "\n";
  }
  const Reproducibility& r = m.reproducibility;
  std::string fence = "```";  // longer than any backtick run in the YAML, so the block cannot end early
  while (r.experiment_yaml.find(fence) != std::string::npos) fence += "`";
  auto known = [](const std::string& s) { return s.empty() ? std::string("(not recorded)") : s; };
  o << "## Reproducibility\n\n- engine commit: `" << known(r.engine_commit) << "`\n- device: " << known(r.device) << "\n- model: "
    << known(r.model_path) << "\n- model SHA-256: `" << known(r.model_sha256) << "`\n- study started: "
    << (r.created_at > 0 ? utc_text(r.created_at) : "(not recorded)") << "\n- study schema: " << r.schema_version
    << "\n\nExperiment file:\n\n" << fence << "yaml\n" << (r.experiment_yaml.empty() ? "# (not recorded)\n" : r.experiment_yaml)
    << (r.experiment_yaml.empty() || r.experiment_yaml.back() == '\n' ? "" : "\n") << fence << "\n";
  return o.str();
}

}  // namespace effitune::orchestrator
