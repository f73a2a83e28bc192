// Inline SVG charts. Hand-written rather than a plotting library: the report must be one file with no
// network, Debian ships no C++ plotting library that emits SVG, and the five chart kinds need only
// scatter, line, step and bar marks with axes (see orchestrator/README.md, "Reports").
#include "effitune/orchestrator/svg_chart.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>

namespace effitune::orchestrator {
namespace {

// Okabe-Ito: eight colours colour-blind readers can tell apart.
constexpr const char* kPalette[] = {"#0072B2", "#E69F00", "#009E73", "#D55E00",
                                    "#CC79A7", "#56B4E9", "#999999", "#000000"};
const char* color(int i) { return kPalette[((i % 8) + 8) % 8]; }

struct Range {
  double lo = std::numeric_limits<double>::infinity();
  double hi = -std::numeric_limits<double>::infinity();
  void add(double v) {
    if (!std::isfinite(v)) return;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  bool empty() const { return !(lo <= hi); }
};

// Maps data coordinates to the plot area.
struct Frame {
  double left, top, width, height;
  double x_lo, x_hi, y_lo, y_hi;
  double sx(double x) const { return left + (x - x_lo) / (x_hi - x_lo) * width; }
  double sy(double y) const { return top + height - (y - y_lo) / (y_hi - y_lo) * height; }
};

std::string f1(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

bool finite_point(const ChartPoint& p) { return std::isfinite(p.x) && std::isfinite(p.y); }

void axes(std::ostringstream& o, const Chart& c, const Frame& f, const std::vector<double>& xt,
          const std::vector<double>& yt) {
  o << "<g class=\"axes\" font-size=\"11\" fill=\"#333\">";
  for (double y : yt) {
    o << "<line x1=\"" << f1(f.left) << "\" x2=\"" << f1(f.left + f.width) << "\" y1=\"" << f1(f.sy(y))
      << "\" y2=\"" << f1(f.sy(y)) << "\" stroke=\"#e5e5e5\"/>";
    o << "<text x=\"" << f1(f.left - 6) << "\" y=\"" << f1(f.sy(y) + 4) << "\" text-anchor=\"end\">"
      << xml_escape(format_number(y)) << "</text>";
  }
  if (c.categories.empty()) {
    for (double x : xt) {
      o << "<line x1=\"" << f1(f.sx(x)) << "\" x2=\"" << f1(f.sx(x)) << "\" y1=\"" << f1(f.top + f.height)
        << "\" y2=\"" << f1(f.top + f.height + 4) << "\" stroke=\"#333\"/>";
      o << "<text x=\"" << f1(f.sx(x)) << "\" y=\"" << f1(f.top + f.height + 16) << "\" text-anchor=\"middle\">"
        << xml_escape(format_number(x)) << "</text>";
    }
  } else {
    for (size_t i = 0; i < c.categories.size(); ++i) {
      o << "<text x=\"" << f1(f.sx(static_cast<double>(i))) << "\" y=\"" << f1(f.top + f.height + 16)
        << "\" text-anchor=\"middle\">" << xml_escape(c.categories[i]) << "</text>";
    }
  }
  o << "<line x1=\"" << f1(f.left) << "\" x2=\"" << f1(f.left + f.width) << "\" y1=\"" << f1(f.top + f.height)
    << "\" y2=\"" << f1(f.top + f.height) << "\" stroke=\"#333\"/>";
  o << "<line x1=\"" << f1(f.left) << "\" x2=\"" << f1(f.left) << "\" y1=\"" << f1(f.top) << "\" y2=\""
    << f1(f.top + f.height) << "\" stroke=\"#333\"/>";
  o << "<text x=\"" << f1(f.left + f.width / 2) << "\" y=\"" << f1(f.top + f.height + 34)
    << "\" text-anchor=\"middle\" font-size=\"12\">" << xml_escape(c.x_label) << "</text>";
  o << "<text transform=\"translate(14," << f1(f.top + f.height / 2) << ") rotate(-90)\" text-anchor=\"middle\""
    << " font-size=\"12\">" << xml_escape(c.y_label) << "</text></g>";
}

void quadrants(std::ostringstream& o, const QuadrantSplit& q, const Frame& f) {
  const double xs = std::clamp(f.sx(q.x_split), f.left, f.left + f.width);
  const double ys = std::clamp(f.sy(q.y_split), f.top, f.top + f.height);
  const double r = f.left + f.width, b = f.top + f.height;
  // Tints: the good corner (high Q, low R) green, the bad one (low Q, high R) red.
  o << "<g class=\"quadrants\"><rect x=\"" << f1(f.left) << "\" y=\"" << f1(f.top) << "\" width=\""
    << f1(xs - f.left) << "\" height=\"" << f1(ys - f.top) << "\" fill=\"#009E73\" fill-opacity=\"0.08\"/>";
  o << "<rect x=\"" << f1(xs) << "\" y=\"" << f1(ys) << "\" width=\"" << f1(r - xs) << "\" height=\"" << f1(b - ys)
    << "\" fill=\"#D55E00\" fill-opacity=\"0.08\"/>";
  o << "<line x1=\"" << f1(xs) << "\" x2=\"" << f1(xs) << "\" y1=\"" << f1(f.top) << "\" y2=\"" << f1(b)
    << "\" stroke=\"#777\" stroke-dasharray=\"4 3\"/><line x1=\"" << f1(f.left) << "\" x2=\"" << f1(r)
    << "\" y1=\"" << f1(ys) << "\" y2=\"" << f1(ys) << "\" stroke=\"#777\" stroke-dasharray=\"4 3\"/>";
  auto label = [&](double x, double y, const char* anchor, const std::string& text) {
    o << "<text class=\"quadrant-label\" x=\"" << f1(x) << "\" y=\"" << f1(y) << "\" text-anchor=\"" << anchor
      << "\" font-size=\"12\" font-weight=\"600\" fill=\"#555\">" << xml_escape(text) << "</text>";
  };
  label(f.left + 6, f.top + 14, "start", q.top_left);
  label(r - 6, f.top + 14, "end", q.top_right);
  label(f.left + 6, b - 6, "start", q.bottom_left);
  label(r - 6, b - 6, "end", q.bottom_right);
  o << "</g>";
}

void rules(std::ostringstream& o, const std::vector<ChartRule>& rs, const Frame& f) {
  for (const auto& r : rs) {
    if (!std::isfinite(r.at)) continue;
    o << "<g class=\"rule\">";
    if (r.vertical) {
      const double x = f.sx(r.at);
      o << "<line x1=\"" << f1(x) << "\" x2=\"" << f1(x) << "\" y1=\"" << f1(f.top) << "\" y2=\""
        << f1(f.top + f.height) << "\" stroke=\"#D55E00\" stroke-dasharray=\"6 3\"/><text x=\"" << f1(x - 4)
        << "\" y=\"" << f1(f.top + 30) << "\" text-anchor=\"end\" font-size=\"11\" fill=\"#D55E00\">";
    } else {
      const double y = f.sy(r.at);
      o << "<line x1=\"" << f1(f.left) << "\" x2=\"" << f1(f.left + f.width) << "\" y1=\"" << f1(y) << "\" y2=\""
        << f1(y) << "\" stroke=\"#D55E00\" stroke-dasharray=\"6 3\"/><text x=\"" << f1(f.left + f.width - 4)
        << "\" y=\"" << f1(y - 4) << "\" text-anchor=\"end\" font-size=\"11\" fill=\"#D55E00\">";
    }
    o << xml_escape(r.label) << "</text></g>";
  }
}

void mark(std::ostringstream& o, const ChartPoint& p, double x, double y, double r, const char* fill,
          const std::string& series) {
  o << "<circle class=\"pt" << (p.highlight ? " highlight" : "") << "\"";
  if (p.trial) o << " data-trial=\"" << *p.trial << "\"";
  o << " data-series=\"" << xml_escape(series) << "\" cx=\"" << f1(x) << "\" cy=\"" << f1(y) << "\" r=\""
    << f1(p.highlight ? r + 3 : r) << "\" fill=\"" << fill << "\" fill-opacity=\"0.85\" stroke=\""
    << (p.highlight ? "#000" : "#fff") << "\" stroke-width=\"" << (p.highlight ? 2 : 1) << "\"><title>"
    << xml_escape(p.tooltip) << "</title></circle>";
}

void error_bar(std::ostringstream& o, const ChartPoint& p, double x, const Frame& f) {
  if (!p.y_low || !p.y_high || !std::isfinite(*p.y_low) || !std::isfinite(*p.y_high)) return;
  const double y0 = f.sy(*p.y_low), y1 = f.sy(*p.y_high);
  o << "<path class=\"err\" d=\"M" << f1(x) << " " << f1(y0) << "V" << f1(y1) << "M" << f1(x - 3) << " " << f1(y0)
    << "h6M" << f1(x - 3) << " " << f1(y1) << "h6\" stroke=\"#444\" fill=\"none\"/>";
}

void series(std::ostringstream& o, const Chart& c, const ChartSeries& s, size_t bar_series,
            size_t bar_count, const Frame& f) {
  const char* fill = color(s.color);
  std::vector<ChartPoint> pts;
  for (const auto& p : s.points) {
    if (finite_point(p)) pts.push_back(p);
  }
  o << "<g class=\"series\" data-series=\"" << xml_escape(s.name) << "\">";
  if (s.kind == MarkKind::kLine || s.kind == MarkKind::kStep) {
    std::ostringstream d;
    for (size_t i = 0; i < pts.size(); ++i) {
      const double x = f.sx(pts[i].x), y = f.sy(pts[i].y);
      if (i == 0) {
        d << "M" << f1(x) << " " << f1(y);
      } else if (s.kind == MarkKind::kStep) {
        d << "H" << f1(x) << "V" << f1(y);
      } else {
        d << "L" << f1(x) << " " << f1(y);
      }
    }
    if (s.kind == MarkKind::kStep && !pts.empty()) d << "H" << f1(f.left + f.width);
    o << "<path d=\"" << d.str() << "\" fill=\"none\" stroke=\"" << fill << "\" stroke-width=\"2\"/>";
  }
  for (const auto& p : pts) {
    double x = f.sx(p.x);
    if (s.kind == MarkKind::kBars) {
      const double band = f.width / static_cast<double>(std::max<size_t>(c.categories.size(), 1));
      const double w = band * 0.7 / static_cast<double>(std::max<size_t>(bar_count, 1));
      x = x - band * 0.35 + w * (static_cast<double>(bar_series) + 0.5);
      const double y0 = f.sy(std::max(f.y_lo, 0.0)), y1 = f.sy(p.y);
      o << "<rect class=\"bar\"";
      if (p.trial) o << " data-trial=\"" << *p.trial << "\"";
      o << " x=\"" << f1(x - w / 2) << "\" y=\"" << f1(std::min(y0, y1)) << "\" width=\"" << f1(w)
        << "\" height=\"" << f1(std::abs(y0 - y1)) << "\" fill=\"" << fill << "\"><title>"
        << xml_escape(p.tooltip) << "</title></rect>";
      error_bar(o, p, x, f);
    } else if (s.kind != MarkKind::kStep) {
      error_bar(o, p, x, f);
      mark(o, p, x, f.sy(p.y), s.kind == MarkKind::kLine ? 3.5 : 5, fill, s.name);
    }
  }
  o << "</g>";
}

void legend(std::ostringstream& o, const Chart& c, const Frame& f) {
  double x = f.left;
  o << "<g class=\"legend\" font-size=\"11\">";
  for (const auto& s : c.series) {
    if (s.name.empty()) continue;
    o << "<rect x=\"" << f1(x) << "\" y=\"6\" width=\"10\" height=\"10\" fill=\"" << color(s.color) << "\"/><text x=\""
      << f1(x + 14) << "\" y=\"15\">" << xml_escape(s.name) << "</text>";
    x += 24 + 6.5 * static_cast<double>(s.name.size());
  }
  o << "</g>";
}

}  // namespace

std::vector<double> nice_ticks(double lo, double hi, int target) {
  if (!std::isfinite(lo) || !std::isfinite(hi)) return {0, 1};
  if (lo > hi) std::swap(lo, hi);
  if (lo == hi) {
    const double pad = lo == 0 ? 1 : std::abs(lo) * 0.1;
    lo -= pad;
    hi += pad;
  }
  target = std::max(target, 2);
  const double raw = (hi - lo) / (target - 1);
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  const double frac = raw / mag;
  // Heckbert's nice numbers, rounded to the nearest of 1, 2, 5, 10 (Graphics Gems, 1990).
  const double mant = frac < 1.5 ? 1 : frac < 3 ? 2 : frac < 7 ? 5 : 10;
  const double step = mant * mag;
  // Tick k is k x mant / 10^d for steps below 1, so 0.6 prints as 0.6 and not 0.6000000000000001.
  const double inv = mag < 1 ? std::round(1 / mag) : 0;
  auto tick = [&](double k) { return inv > 0 ? k * mant / inv : k * step; };
  const double k0 = std::floor(lo / step + 1e-9);
  std::vector<double> out;
  for (double k = k0; out.size() < 64; k += 1) {
    const double v = tick(k);
    out.push_back(k == 0 ? 0.0 : v);
    if (v >= hi - step * 1e-9) break;
  }
  return out;
}

std::string format_number(double v, int significant) {
  if (!std::isfinite(v)) return "n/a";
  const char* suffix = "";
  if (std::abs(v) >= 1e6) {
    v /= 1e6;
    suffix = "M";
  } else if (std::abs(v) >= 1e4) {
    v /= 1e3;
    suffix = "k";
  }
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*g", std::max(significant, 1), v);
  std::string s = buf;
  // %g switches to exponents for small values; fixed notation reads better down to 1e-4.
  if (s.find('e') != std::string::npos && std::abs(v) >= 1e-4) {
    const int decimals = std::max(0, significant - 1 - static_cast<int>(std::floor(std::log10(std::abs(v)))));
    std::snprintf(buf, sizeof buf, "%.*f", std::min(decimals, 12), v);
    s = buf;
    if (s.find('.') != std::string::npos) {
      while (s.back() == '0') s.pop_back();
      if (s.back() == '.') s.pop_back();
    }
  }
  if (s == "-0") s = "0";
  return s + suffix;
}

std::string xml_escape(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string render_svg(const Chart& c, int width, int height) {
  Range xr, yr;
  size_t bar_count = 0;
  for (const auto& s : c.series) {
    if (s.kind == MarkKind::kBars) ++bar_count;
    for (const auto& p : s.points) {
      if (!finite_point(p)) continue;
      xr.add(p.x);
      yr.add(p.y);
      if (p.y_low) yr.add(*p.y_low);
      if (p.y_high) yr.add(*p.y_high);
    }
  }
  for (const auto& r : c.rules) (r.vertical ? xr : yr).add(r.at);
  if (c.quadrants) {
    xr.add(c.quadrants->x_split);
    yr.add(c.quadrants->y_split);
  }
  if (c.y_from_zero) yr.add(0);
  if (c.x_from_zero) xr.add(0);
  if (xr.empty()) xr.add(0), xr.add(1);
  if (yr.empty()) yr.add(0), yr.add(1);

  Frame f{64, 28, static_cast<double>(width) - 64 - 20, static_cast<double>(height) - 28 - 48, 0, 1, 0, 1};
  std::vector<double> xt, yt = nice_ticks(yr.lo, yr.hi, 6);
  f.y_lo = yt.front();
  f.y_hi = yt.back();
  if (c.categories.empty()) {
    xt = nice_ticks(xr.lo, xr.hi, 7);
    f.x_lo = xt.front();
    f.x_hi = xt.back();
  } else {
    f.x_lo = -0.5;
    f.x_hi = static_cast<double>(c.categories.size()) - 0.5;
  }

  std::ostringstream o;
  o << "<svg class=\"chart\" data-chart=\"" << xml_escape(c.id) << "\" xmlns=\"http://www.w3.org/2000/svg\""
    << " viewBox=\"0 0 " << width << " " << height << "\" width=\"" << width << "\" height=\"" << height
    << "\" role=\"img\" font-family=\"system-ui, sans-serif\"><title>" << xml_escape(c.title) << "</title>";
  if (c.quadrants) quadrants(o, *c.quadrants, f);
  axes(o, c, f, xt, yt);
  rules(o, c.rules, f);
  size_t bar_index = 0;
  for (const auto& s : c.series) {
    series(o, c, s, bar_index, bar_count, f);
    if (s.kind == MarkKind::kBars) ++bar_index;
  }
  legend(o, c, f);
  o << "</svg>";
  return o.str();
}

}  // namespace effitune::orchestrator
