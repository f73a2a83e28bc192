// A chart as plain data, and its rendering as inline SVG (no scripts, no fonts to fetch, no network).
// Reports build Charts once and render them as SVG (HTML), tables (Markdown) or data (JSON), so every
// format shows the same points.
//
// Every point of a series drawn as marks carries data-trial="ID" (when it belongs to a trial) and
// class="pt"; tests count them per chart (<svg data-chart="ID">). Tooltips are <title> children.
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace effitune::orchestrator {

enum class MarkKind {
  kPoints,  // one circle per point (error bars when y_low/y_high are set)
  kLine,    // a polyline through the points in order, small circles on them
  kStep,    // a staircase (best-so-far, Pareto front), no marks
  kBars,    // one bar per point at a category (x = category index); error bars when set
};

struct ChartPoint {
  double x = 0;
  double y = 0;
  std::optional<double> y_low;   // 95% interval of y, drawn as an error bar
  std::optional<double> y_high;
  std::optional<int64_t> trial;  // the trial the point stands for (data-trial)
  std::string tooltip;           // plain text; escaped on output
  bool highlight = false;        // drawn larger with an outline (e.g. the recommended trial)
};

struct ChartSeries {
  std::string name;    // legend entry; "" keeps it out of the legend
  MarkKind kind = MarkKind::kPoints;
  int color = 0;       // index into the palette (Okabe-Ito, distinguishable for colour-blind readers)
  std::vector<ChartPoint> points;
};

// A horizontal or vertical reference line (a threshold such as R0, E0, an SLO, or where E1 was reached).
struct ChartRule {
  bool vertical = false;
  double at = 0;
  std::string label;
};

// The magic quadrant: splits at x_split / y_split and a label in each corner.
struct QuadrantSplit {
  double x_split = 0;
  double y_split = 0;
  std::string top_left, top_right, bottom_left, bottom_right;
};

struct Chart {
  std::string id;       // stable, [a-z0-9-]; data-chart attribute and JSON key
  std::string title;
  std::string reading;  // one plain-language sentence: what the chart says
  std::string x_label;  // with units
  std::string y_label;
  std::vector<std::string> categories;  // non-empty: a categorical x axis (bars)
  std::vector<ChartSeries> series;
  std::vector<ChartRule> rules;
  std::optional<QuadrantSplit> quadrants;
  bool y_from_zero = true;  // include 0 in the y range
  bool x_from_zero = false;
  std::string note;         // e.g. which trials could not be drawn and why
};

// Evenly spaced "nice" tick values (steps of 1, 2 or 5 x 10^k) covering [lo, hi] with about `target`
// ticks; the first tick is <= lo and the last >= hi. lo == hi gives a small range around the value.
// Non-finite input gives {0, 1}.
std::vector<double> nice_ticks(double lo, double hi, int target = 5);

// Short text for a number: up to `significant` digits, no trailing zeros, thousands with "k"/"M"
// only when abs >= 1e4. Non-finite values give "n/a".
std::string format_number(double v, int significant = 3);

// Escapes &, <, >, " and ' for XML/HTML text and attributes.
std::string xml_escape(const std::string& s);

// The chart as one <svg> element (width x height user units, viewBox scaled to fit its container).
// Points with non-finite coordinates are skipped (callers say so in `note`).
std::string render_svg(const Chart& chart, int width = 640, int height = 360);

}  // namespace effitune::orchestrator
