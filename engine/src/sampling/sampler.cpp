#include <algorithm>
#include <cmath>
#include <limits>

#include "effitune/engine/sampling.h"

namespace effitune::engine {

const char* strategy_name(DecodingStrategy s) {
  switch (s) {
    case DecodingStrategy::kGreedy: return "greedy";
    case DecodingStrategy::kSample: return "sample";
    case DecodingStrategy::kBeam: return "beam";
  }
  return "?";
}

Status validate(const DecodingConfig& c) {
  if (c.max_new_tokens < 1) return invalid_argument("max_new_tokens must be >= 1, got " + std::to_string(c.max_new_tokens));
  if (!(c.temperature >= 0.0f) || c.temperature > 100.0f)
    return invalid_argument("temperature must be in [0, 100], got " + std::to_string(c.temperature));
  if (c.top_k < 0) return invalid_argument("top_k must be >= 0 (0 = off), got " + std::to_string(c.top_k));
  if (!(c.top_p > 0.0f && c.top_p <= 1.0f)) return invalid_argument("top_p must be in (0, 1], got " + std::to_string(c.top_p));
  if (c.strategy == DecodingStrategy::kBeam && (c.beam_width < 1 || c.beam_width > 64))
    return invalid_argument("beam_width must be in [1, 64], got " + std::to_string(c.beam_width));
  if (!std::isfinite(c.length_penalty)) return invalid_argument("length_penalty must be finite");
  for (const auto& s : c.stop_strings)
    if (s.empty()) return invalid_argument("stop strings must not be empty");
  return {};
}

RowSampling row_sampling(const DecodingConfig& c, uint64_t counter) {
  RowSampling p;
  if (c.strategy == DecodingStrategy::kSample && c.temperature > 0.0f) {
    p.temperature = c.temperature;
    p.top_k = c.top_k;
    p.top_p = c.top_p;
  }
  p.seed = c.seed;
  p.counter = counter;
  return p;
}

Status validate(const RowSampling& p) {
  if (!(p.temperature <= 100.0f)) return invalid_argument("row sampling: temperature must be <= 100, got " + std::to_string(p.temperature));
  if (p.top_k < 0) return invalid_argument("row sampling: top_k must be >= 0 (0 = off), got " + std::to_string(p.top_k));
  if (!(p.top_p > 0.0f && p.top_p <= 1.0f))
    return invalid_argument("row sampling: top_p must be in (0, 1], got " + std::to_string(p.top_p));
  return {};
}

int32_t argmax(std::span<const float> logits) {
  int32_t best = 0;
  for (size_t i = 1; i < logits.size(); ++i)
    if (logits[i] > logits[best]) best = static_cast<int32_t>(i);
  return best;
}

void log_softmax(std::span<const float> logits, std::span<float> out) {
  double mx = -std::numeric_limits<double>::infinity();
  for (float v : logits) mx = std::max(mx, static_cast<double>(v));
  double sum = 0;
  for (float v : logits) sum += std::exp(static_cast<double>(v) - mx);
  const double lse = mx + std::log(sum);
  for (size_t i = 0; i < logits.size(); ++i) out[i] = static_cast<float>(static_cast<double>(logits[i]) - lse);
}

Sampler::Sampler(const DecodingConfig& config) : config_(config), rng_(config.seed) {}

int32_t Sampler::sample(std::span<const float> logits) {
  if (config_.strategy != DecodingStrategy::kSample || config_.temperature <= 0.0f || config_.top_k == 1)
    return argmax(logits);
  // Candidates sorted by logit (descending, lower id first on ties), cut to top-k.
  scratch_.clear();
  scratch_.reserve(logits.size());
  for (size_t i = 0; i < logits.size(); ++i) scratch_.emplace_back(logits[i], static_cast<int32_t>(i));
  auto by_logit = [](const auto& a, const auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); };
  size_t keep = scratch_.size();
  if (config_.top_k > 0 && static_cast<size_t>(config_.top_k) < keep) {
    keep = static_cast<size_t>(config_.top_k);
    std::partial_sort(scratch_.begin(), scratch_.begin() + keep, scratch_.end(), by_logit);
    scratch_.resize(keep);
  } else {
    std::sort(scratch_.begin(), scratch_.end(), by_logit);
  }
  // Softmax at temperature, in double.
  std::vector<double> probs(keep);
  const double inv_t = 1.0 / config_.temperature;
  const double mx = scratch_[0].first * inv_t;
  double sum = 0;
  for (size_t i = 0; i < keep; ++i) sum += probs[i] = std::exp(scratch_[i].first * inv_t - mx);
  for (double& p : probs) p /= sum;
  // Nucleus: the smallest prefix whose mass reaches top_p.
  if (config_.top_p < 1.0f) {
    double cum = 0;
    size_t n = 0;
    while (n < keep) {
      cum += probs[n++];
      if (cum >= config_.top_p) break;
    }
    keep = n;
    for (size_t i = 0; i < keep; ++i) probs[i] /= cum;
  }
  // A uniform in [0, 1) from the top 53 bits, so results do not depend on the library's distributions.
  const double u = static_cast<double>(rng_() >> 11) * 0x1.0p-53;
  double cum = 0;
  for (size_t i = 0; i < keep; ++i) {
    cum += probs[i];
    if (u < cum) return scratch_[i].second;
  }
  return scratch_[keep - 1].second;
}

}  // namespace effitune::engine
