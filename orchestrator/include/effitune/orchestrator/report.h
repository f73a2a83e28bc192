// Recommendation reports: a ReportModel (report_model.h) rendered as one self-contained HTML file
// (inline SVG charts, inline CSS and a few lines of JS to sort the trial table; nothing is fetched),
// Markdown (charts as tables), or JSON (all the data; schema: experiments/report.schema.json).
//
// Thread safety: pure functions, except write_report which writes one file.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "effitune/common/status.h"
#include "effitune/orchestrator/report_model.h"

namespace effitune::orchestrator {

enum class ReportFormat { kHtml, kMarkdown, kJson };
// "html", "md" (or "markdown"), "json"; nullopt otherwise.
std::optional<ReportFormat> parse_report_format(std::string_view name);

// The JSON report's "report_version"; bump it with any change to experiments/report.schema.json.
inline constexpr int kReportJsonVersion = 2;

std::string render_html(const ReportModel& model);
std::string render_markdown(const ReportModel& model);
std::string render_json(const ReportModel& model, int indent = 2);  // non-finite numbers as null

// Renders and writes `path` (whole file, replaced). kUnavailable naming the path when it cannot be
// written.
Status write_report(const ReportModel& model, ReportFormat format, const std::string& path);

}  // namespace effitune::orchestrator
