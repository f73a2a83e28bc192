// The HTML report: one self-contained file (inline CSS, inline SVG, a few lines of inline JS that
// sort the trial table). Nothing is loaded from the network, so it opens the same offline or archived.
#include <cmath>
#include <sstream>

#include "effitune/orchestrator/report.h"
#include "report_util.h"

namespace effitune::orchestrator {
namespace {

using namespace report_detail;

constexpr const char* kStyle = R"CSS(
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;max-width:1340px;padding:16px 24px;color:#222;line-height:1.4}
h1{font-size:24px;margin:4px 0}h2{font-size:19px;margin:28px 0 8px;border-bottom:1px solid #ddd}h3{font-size:15px;margin:4px 0}
.meta{color:#666;font-size:13px}.card{border:1px solid #ccc;border-left:6px solid #009E73;border-radius:6px;padding:12px 16px;background:#fafdfb}
.card.warn{border-left-color:#D55E00;background:#fffaf6}.headline{font-size:18px;font-weight:600;margin:4px 0 10px}
.figures{display:grid;grid-template-columns:repeat(auto-fill,minmax(210px,1fr));gap:8px;margin:8px 0}
.fig{background:#fff;border:1px solid #e2e2e2;border-radius:4px;padding:6px 10px}.fig .k{font-size:12px;color:#666}.fig .v{font-size:15px;font-weight:600;overflow-wrap:anywhere}
.fig.wide{grid-column:span 2}
.ok{color:#00704f}.bad{color:#b3400a}.cols{display:grid;grid-template-columns:1fr 1fr;gap:16px}
table{border-collapse:collapse;font-size:13px;margin:6px 0}th,td{border-bottom:1px solid #e5e5e5;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f3f3f3}table.sortable th{cursor:pointer}table.sortable th[aria-sort=ascending]::after{content:" \25B2"}table.sortable th[aria-sort=descending]::after{content:" \25BC"}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}tr.failed td{color:#b3400a}tr.infeasible td{color:#777}tr td.why{color:#b3400a;min-width:220px}tr.recommended td{background:#eef8f3;font-weight:600}
.charts{display:grid;grid-template-columns:1fr 1fr;gap:18px}.chart-box{margin:0;border:1px solid #e2e2e2;border-radius:6px;padding:8px}
.chart-box svg{width:100%;height:auto}.reading{margin:2px 0 6px;font-size:14px}.note{color:#666;font-size:12px}
.small{grid-template-columns:repeat(3,1fr)}pre{background:#f6f6f6;padding:8px;overflow:auto;font-size:12px;max-height:420px}
.warnings{color:#b3400a}
)CSS";

// Sorts the table by the clicked column's data-v values: numbers numerically, text alphabetically,
// empty cells last in both directions.
constexpr const char* kScript = R"JS(
(function () {
  document.querySelectorAll('table.sortable').forEach(function (table) {
    var heads = table.tHead.rows[0].cells;
    Array.prototype.forEach.call(heads, function (th, col) {
      th.addEventListener('click', function () {
        var dir = th.getAttribute('aria-sort') === 'ascending' ? -1 : 1;
        Array.prototype.forEach.call(heads, function (h) { h.removeAttribute('aria-sort'); });
        th.setAttribute('aria-sort', dir > 0 ? 'ascending' : 'descending');
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = a.cells[col].getAttribute('data-v'), y = b.cells[col].getAttribute('data-v');
          if (x === '' || y === '') return (x === '') - (y === '');
          var nx = Number(x), ny = Number(y);
          var c = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
          return c * dir;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
    table.setAttribute('data-sortable', 'ready');
  });
})();
)JS";

std::string esc(const std::string& s) { return xml_escape(s); }

std::string figure(const std::string& key, const std::string& value, const std::string& cls = "", bool wide = false) {
  return std::string("<div class=\"fig") + (wide ? " wide" : "") + "\"><div class=\"k\">" + esc(key) + "</div><div class=\"v " + cls + "\">" + esc(value) +
         "</div></div>";
}

std::string num_attr(double v) { return std::isfinite(v) ? format_number(v, 10) : ""; }

void recommendation(std::ostringstream& o, const ReportModel& m) {
  const Recommendation& r = m.recommendation;
  o << "<section id=\"recommendation\" class=\"card" << (r.available ? "" : " warn") << "\"><h2>Recommendation</h2>"
    << "<p class=\"headline\">" << esc(r.headline) << "</p>";
  if (!r.reasons.empty()) {
    o << "<ul class=\"reasons\">";
    for (const auto& s : r.reasons) o << "<li>" << esc(s) << "</li>";
    o << "</ul>";
  }
  if (r.trial < 0) {
    o << "</section>";
    return;
  }
  o << "<div class=\"figures\">";
  o << figure("Configuration (trial " + std::to_string(r.trial) + ")", configuration_text(r.configuration), "", true);
  o << figure("Volumetry goal", r.goal, "", true);
  if (r.gpus_per_replica > 0) {
    o << figure("GPUs", std::to_string(r.total_gpus) + " = " + count_of(r.replicas, "replica") + " x " +
                            count_of(r.gpus_per_replica, "GPU"));
  } else {
    o << figure("Replicas (CPU)", count_of(r.replicas, "replica") + " x " + count_of(r.cpu_cores_per_replica, "core"));
  }
  o << figure("Capacity per replica", format_number(r.capacity_rps_per_replica) + " req/s under the SLOs");
  const bool r_ok = r.r0_usd_per_hour <= 0 || r.usd_per_hour <= r.r0_usd_per_hour;
  o << figure("Running cost R vs ceiling R0", money_per_hour(r.usd_per_hour) + " vs " + money_per_hour(r.r0_usd_per_hour),
              r_ok ? "ok" : "bad");
  const bool e_ok = r.efficiency.value >= r.e0;
  o << figure("Efficiency E = Q/R vs floor E0", interval_text(r.efficiency) + " vs " + format_number(r.e0), e_ok ? "ok" : "bad");
  if (r.usd_per_million_good_tokens) o << figure("Cost per 1M good output tokens", dollars(*r.usd_per_million_good_tokens));
  if (r.quadrant) o << figure("Magic quadrant", quadrant_name(*r.quadrant));
  o << "</div><div class=\"cols\"><div><h3>Quality and its parts (95% intervals)</h3><table><thead><tr><th>indicator</th>"
    << "<th>meaning</th><th>value</th><th>95% interval</th></tr></thead><tbody>";
  for (const auto& q : r.quality) {
    o << "<tr><td>" << esc(q.name) << "</td><td>" << esc(q.label) << "</td><td class=\"num\">" << format_number(q.value.value)
      << "</td><td class=\"num\">" << format_number(q.value.ci_low) << " - " << format_number(q.value.ci_high) << "</td></tr>";
  }
  o << "</tbody></table></div><div><h3>SLO margins at the goal load (" << format_number(r.goal_rps_per_replica)
    << " req/s per replica)</h3>";
  if (r.slo_margins.empty()) {
    o << "<p class=\"note\">No SLO is set or no load curve was recorded, so there is no margin to show.</p>";
  } else {
    o << "<table><thead><tr><th>SLO</th><th>limit</th><th>measured</th><th>margin</th></tr></thead><tbody>";
    for (const auto& s : r.slo_margins) {
      o << "<tr><td>" << esc(slo_label(s.name)) << "</td><td class=\"num\">" << format_number(s.limit_ms) << " ms</td><td class=\"num\">"
        << format_number(s.measured_ms) << " ms</td><td class=\"num " << (s.met ? "ok" : "bad") << "\">"
        << format_number(s.margin_ms) << " ms" << (s.met ? "" : " (violated)") << "</td></tr>";
    }
    o << "</tbody></table>";
  }
  o << "<h3>Is spending more worth it? (E1)</h3><p>" << esc(r.e1_verdict) << "</p>";
  if (!r.spend_more.empty()) o << "<p>" << esc(r.spend_more) << "</p>";
  o << "</div></div>";
  if (!r.ties.empty()) {
    o << "<h3>Within noise of the best: " << r.ties.size() << " tie(s)</h3><p class=\"note\">Their efficiency intervals overlap "
      << "the recommended one's, so the measurements cannot rank them apart; pick by other concerns.</p><table><thead><tr>"
      << "<th>trial</th><th>configuration</th><th>E</th><th>Q</th><th>R</th><th>replicas</th></tr></thead><tbody>";
    for (const auto& t : r.ties) {
      o << "<tr><td>" << t.trial << "</td><td>" << esc(configuration_text(t.configuration)) << "</td><td class=\"num\">"
        << esc(interval_text(t.efficiency)) << "</td><td class=\"num\">" << esc(interval_text(t.quality))
        << "</td><td class=\"num\">" << esc(money_per_hour(t.usd_per_hour)) << "</td><td class=\"num\">" << t.replicas << "</td></tr>";
    }
    o << "</tbody></table>";
  }
  o << "</section>";
}

void charts(std::ostringstream& o, const ReportModel& m) {
  o << "<h2 id=\"charts\">Charts</h2>";
  if (m.charts.empty()) {
    o << "<p class=\"note\">No chart: no trial has been measured yet.</p>";
    return;
  }
  std::ostringstream big, small;
  for (const auto& c : m.charts) {
    const bool sens = c.id.rfind("sensitivity-", 0) == 0;
    std::ostringstream& out = sens ? small : big;
    out << "<figure class=\"chart-box\" id=\"chart-" << esc(c.id) << "\"><h3>" << esc(c.title) << "</h3><p class=\"reading\">"
        << esc(c.reading) << "</p>" << render_svg(c, sens ? 420 : 640, sens ? 280 : 380);
    if (!c.note.empty()) out << "<p class=\"note\">" << esc(c.note) << "</p>";
    out << "</figure>";
  }
  o << "<div class=\"charts\">" << big.str() << "</div>";
  if (!small.str().empty()) {
    o << "<h3 style=\"margin-top:16px\">Effect of each dimension (sensitivity)</h3><div class=\"charts small\">" << small.str()
      << "</div>";
  }
}

void cell(std::ostringstream& o, const std::optional<Interval>& v) {
  if (!v) {
    o << "<td class=\"num\" data-v=\"\"></td>";
    return;
  }
  o << "<td class=\"num\" data-v=\"" << num_attr(v->value) << "\" title=\"95%: " << format_number(v->ci_low) << " - "
    << format_number(v->ci_high) << "\">" << format_number(v->value) << "</td>";
}

// Why a trial is not recommendable: the failure reason, or one line per constraint it breaks.
void why_cell(std::ostringstream& o, const TrialRow& t) {
  std::string sort_key, lines;
  for (const auto& line : why_lines(t)) {
    sort_key += (sort_key.empty() ? "" : "; ") + line;
    lines += (lines.empty() ? "" : "<br>") + esc(line);
  }
  o << "<td class=\"why\" data-v=\"" << esc(sort_key) << "\">" << lines << "</td>";
}

void trial_table(std::ostringstream& o, const ReportModel& m) {
  o << "<h2 id=\"trials\">Trials</h2><p class=\"note\">Click a column header to sort. Hover a value for its 95% interval. "
    << "Rank 1 = not beaten beyond noise by any feasible trial. The highlighted row is the recommendation; grey rows "
    << "break a constraint, and the last column says which.</p>";
  if (m.trials.empty()) {
    o << "<p>No trial yet.</p>";
    return;
  }
  o << "<table class=\"sortable\" id=\"trial-table\"><thead><tr><th>trial</th><th>state</th><th>configuration</th><th>P</th><th>C</th>"
    << "<th>Cm</th><th>A</th><th>Q</th><th>R $/h</th><th>E</th><th>replicas</th><th>feasible</th><th>quadrant</th><th>rank</th>"
    << "<th>why not feasible / why failed</th></tr></thead><tbody>";
  for (const auto& t : m.trials) {
    const bool rec = t.id == m.recommendation.trial;
    const bool infeasible = t.state != "failed" && t.usd_per_hour && !t.feasible;
    o << "<tr data-trial-row=\"" << t.id << "\" class=\"" << (t.state == "failed" ? "failed" : "") << (infeasible ? "infeasible" : "")
      << (rec ? " recommended" : "")
      << "\"><td class=\"num\" data-v=\"" << t.id << "\">" << t.id << "</td><td data-v=\"" << esc(t.state) << "\">" << esc(t.state)
      << "</td><td data-v=\"" << esc(configuration_text(t.configuration)) << "\">" << esc(configuration_text(t.configuration)) << "</td>";
    cell(o, t.performance);
    cell(o, t.consistency);
    cell(o, t.completeness);
    cell(o, t.accuracy);
    cell(o, t.quality);
    if (t.usd_per_hour) {
      o << "<td class=\"num\" data-v=\"" << (std::isfinite(*t.usd_per_hour) ? num_attr(*t.usd_per_hour) : "1e308") << "\">"
        << (std::isfinite(*t.usd_per_hour) ? format_number(*t.usd_per_hour, 4) : "unreachable") << "</td>";
    } else {
      o << "<td data-v=\"\"></td>";
    }
    cell(o, t.efficiency);
    o << "<td class=\"num\" data-v=\"" << (t.usd_per_hour ? std::to_string(t.replicas) : "") << "\">"
      << (t.usd_per_hour ? std::to_string(t.replicas) : "") << "</td><td data-v=\"" << (t.usd_per_hour ? (t.feasible ? "yes" : "no") : "")
      << "\">" << (t.usd_per_hour ? (t.feasible ? "yes" : "no") : "") << "</td><td data-v=\"" << esc(t.quadrant) << "\">"
      << esc(t.quadrant) << "</td><td class=\"num\" data-v=\"" << (t.rank > 0 ? std::to_string(t.rank) : "") << "\">"
      << (t.rank > 0 ? std::to_string(t.rank) : "") << "</td>";
    why_cell(o, t);
    o << "</tr>";
  }
  o << "</tbody></table>";
}

void drift_table(std::ostringstream& o, const ReportModel& m) {
  if (!m.nightly) return;
  o << "<h3>Drift details (latest nightly run, " << esc(utc_text(m.drift.front().run_at)) << ")</h3><table><thead><tr>"
    << "<th>configuration</th><th>indicator</th><th>baseline</th><th>tonight</th><th>test</th><th>p</th><th>significant</th></tr>"
    << "</thead><tbody>";
  for (const auto& d : m.drift) {
    o << "<tr><td>" << esc(configuration_text(configuration_pairs(d.configuration_json, {}))) << "</td><td>" << esc(d.indicator)
      << "</td><td class=\"num\">" << esc(interval_text(d.baseline)) << "</td><td class=\"num\">" << esc(interval_text(d.current))
      << "</td><td>" << esc(d.test) << "</td><td class=\"num\">" << format_number(d.p_value) << "</td><td class=\""
      << (d.significant ? "bad" : "") << "\">" << (d.significant ? "yes" : "no") << "</td></tr>";
  }
  o << "</tbody></table>";
}

void reproducibility(std::ostringstream& o, const ReportModel& m) {
  const Reproducibility& r = m.reproducibility;
  auto or_unknown = [](const std::string& s) { return s.empty() ? std::string("(not recorded)") : s; };
  o << "<h2 id=\"reproducibility\">Reproducibility</h2><table><tbody><tr><th>engine commit</th><td>" << esc(or_unknown(r.engine_commit))
    << "</td></tr><tr><th>device</th><td>" << esc(or_unknown(r.device)) << "</td></tr><tr><th>model</th><td>"
    << esc(or_unknown(r.model_path)) << "</td></tr><tr><th>model SHA-256</th><td><code>" << esc(or_unknown(r.model_sha256))
    << "</code></td></tr><tr><th>study started</th><td>" << esc(r.created_at > 0 ? utc_text(r.created_at) : "(not recorded)")
    << "</td></tr><tr><th>study schema</th><td>" << r.schema_version << "</td></tr></tbody></table><h3>Experiment file</h3><pre>"
    << esc(r.experiment_yaml.empty() ? "(not recorded)" : r.experiment_yaml) << "</pre>";
}

}  // namespace

std::string render_html(const ReportModel& m) {
  std::ostringstream o;
  o << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">"
    << "<title>effitune report: " << esc(m.experiment) << "</title><style>" << kStyle << "</style></head><body>"
    << "<header><h1>effitune recommendation: " << esc(m.experiment) << "</h1><p class=\"meta\">Generated "
    << esc(utc_text(m.generated_at)) << ". " << esc(m.summary) << (m.nightly ? " Nightly run: drift included." : "") << "</p>";
  for (const auto& w : m.warnings) o << "<p class=\"warnings\">" << esc(w) << "</p>";
  o << "</header>";
  recommendation(o, m);
  charts(o, m);
  drift_table(o, m);
  trial_table(o, m);
  reproducibility(o, m);
  o << "<script>" << kScript << "</script></body></html>\n";
  return o.str();
}

}  // namespace effitune::orchestrator
