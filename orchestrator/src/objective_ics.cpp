// ICS for one configuration from the study's ratings: which ratings apply, and their interval
// (mission.md: Wilson for thumbs, bootstrap for 1-5 stars).
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <variant>

#include "effitune/orchestrator/objective.h"
#include "effitune/probes/stats.h"

namespace effitune::orchestrator {
namespace {

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  const auto e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

std::optional<double> number_of(const std::string& text) {
  if (text.empty()) return std::nullopt;
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (end != text.c_str() + text.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

bool same_number(double a, double b) {
  return std::fabs(a - b) <= 1e-9 * std::max({1.0, std::fabs(a), std::fabs(b)});
}

// Does the rating's value (text, or a JSON scalar) equal the configuration's value?
bool value_matches(const search::Value& want, const std::string& text, bool quoted) {
  if (const auto* s = std::get_if<std::string>(&want)) return *s == text;
  if (quoted) return false;
  const auto v = number_of(text);
  if (!v) return false;
  const double w = std::holds_alternative<int64_t>(want) ? static_cast<double>(std::get<int64_t>(want))
                                                          : std::get<double>(want);
  return same_number(w, *v);
}

bool json_key_matches(const std::string& key, const search::Configuration& c) {
  const auto j = nlohmann::json::parse(key, nullptr, false);
  if (j.is_discarded() || !j.is_object() || j.size() != c.values.size()) return false;
  for (const auto& [name, want] : c.values) {
    auto it = j.find(name);
    if (it == j.end()) return false;
    if (it->is_string()) {
      if (!value_matches(want, it->get<std::string>(), true)) return false;
    } else if (it->is_number()) {
      if (!value_matches(want, it->dump(), false)) return false;
    } else {
      return false;
    }
  }
  return true;
}

bool pairs_key_matches(const std::string& key, const search::Configuration& c) {
  size_t seen = 0;
  size_t pos = 0;
  while (pos <= key.size()) {
    size_t comma = key.find(',', pos);
    if (comma == std::string::npos) comma = key.size();
    const std::string pair = trim(key.substr(pos, comma - pos));
    pos = comma + 1;
    if (pair.empty()) return false;
    const size_t eq = pair.find('=');
    if (eq == std::string::npos) return false;
    const std::string name = trim(pair.substr(0, eq));
    std::string value = trim(pair.substr(eq + 1));
    bool quoted = false;
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
      value = value.substr(1, value.size() - 2);
      quoted = true;
    }
    auto it = c.values.find(name);
    if (it == c.values.end() || !value_matches(it->second, value, quoted)) return false;
    ++seen;
  }
  return seen == c.values.size();
}

Result<Interval> aggregate(const std::vector<const FeedbackRow*>& rows) {
  const bool thumbs_only = std::all_of(rows.begin(), rows.end(), [](const FeedbackRow* r) { return r->scale == "thumbs"; });
  Interval out;
  out.n = static_cast<int64_t>(rows.size());
  if (thumbs_only) {
    size_t up = 0;
    for (const auto* r : rows) up += r->value >= 0.5 ? 1 : 0;
    const probes::Estimate e = probes::wilson_interval(up, rows.size());
    out.value = e.value;
    out.ci_low = e.ci_low;
    out.ci_high = e.ci_high;
    return out;
  }
  std::vector<double> normalized;
  normalized.reserve(rows.size());
  for (const auto* r : rows) {
    if (r->scale == "stars") {
      if (!(r->value >= 1 && r->value <= 5)) {
        return invalid_argument("ICS rating from " + r->source + " is " + std::to_string(r->value) +
                                " stars, outside 1-5; re-import the file");
      }
      normalized.push_back((r->value - 1) / 4);
    } else if (r->scale == "thumbs") {
      normalized.push_back(r->value >= 0.5 ? 1.0 : 0.0);
    } else {
      return invalid_argument("ICS rating from " + r->source + " has an unknown scale '" + r->scale + "'");
    }
  }
  EFFITUNE_ASSIGN_OR_RETURN(probes::Estimate e, probes::bootstrap_mean(normalized));
  out.value = e.value;
  out.ci_low = std::clamp(e.ci_low, 0.0, 1.0);
  out.ci_high = std::clamp(e.ci_high, 0.0, 1.0);
  return out;
}

}  // namespace

bool rating_key_matches(const std::string& raw_key, const search::Configuration& c) {
  const std::string key = trim(raw_key);
  if (key.empty() || c.values.empty()) return false;
  return key.front() == '{' ? json_key_matches(key, c) : pairs_key_matches(key, c);
}

Result<std::optional<IcsEstimate>> ics_for_configuration(const std::vector<FeedbackRow>& ratings,
                                                         const search::Configuration& c) {
  if (ratings.empty()) return std::optional<IcsEstimate>();
  std::vector<const FeedbackRow*> own, all;
  for (const auto& r : ratings) {
    all.push_back(&r);
    if (r.key_field == "configuration" && rating_key_matches(r.key, c)) own.push_back(&r);
  }
  IcsEstimate out;
  out.source = own.empty() ? "study" : "configuration";
  EFFITUNE_ASSIGN_OR_RETURN(out.interval, aggregate(own.empty() ? all : own));
  return std::optional<IcsEstimate>(out);
}

}  // namespace effitune::orchestrator
