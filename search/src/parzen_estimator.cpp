#include "parzen_estimator.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>
#include <numeric>

namespace effitune::search {
namespace {

constexpr double kEps = 1e-12;
constexpr double kMinProbability = 1e-300;

// log(Phi(b) - Phi(a)) for a <= b, using the upper tail when both are positive to keep precision.
double log_normal_mass(double a, double b) {
  double mass;
  if (a > 0) {
    mass = 0.5 * (std::erfc(a / std::numbers::sqrt2) - std::erfc(b / std::numbers::sqrt2));
  } else {
    mass = 0.5 * (std::erfc(-b / std::numbers::sqrt2) - std::erfc(-a / std::numbers::sqrt2));
  }
  return std::log(std::max(mass, kMinProbability));
}

double log_sum_exp(const std::vector<double>& xs) {
  const double m = *std::max_element(xs.begin(), xs.end());
  if (!std::isfinite(m)) return m;
  double s = 0;
  for (double x : xs) s += std::exp(x - m);
  return m + std::log(s);
}

size_t pick_kernel(const std::vector<double>& weights, Rng& rng) {
  double u = rng.uniform();
  for (size_t i = 0; i + 1 < weights.size(); ++i) {
    if (u < weights[i]) return i;
    u -= weights[i];
  }
  return weights.size() - 1;
}

void normalize(std::vector<double>& w) {
  const double total = std::accumulate(w.begin(), w.end(), 0.0);
  for (auto& x : w) x /= total;
}

}  // namespace

std::vector<double> tpe_default_weights(size_t n) {
  if (n < 25) return std::vector<double>(n, 1.0);
  std::vector<double> w(n, 1.0);
  const size_t ramp = n - 25;  // np.linspace(1 / n, 1.0, num=n - 25)
  for (size_t i = 0; i < ramp; ++i) {
    const double t = ramp == 1 ? 0.0 : static_cast<double>(i) / static_cast<double>(ramp - 1);
    w[i] = 1.0 / static_cast<double>(n) + t * (1.0 - 1.0 / static_cast<double>(n));
  }
  return w;
}

ParzenEstimator ParzenEstimator::numeric(const std::vector<double>& observations, double low, double high,
                                         double step, const TpeOptions& options) {
  ParzenEstimator pe;
  pe.low_ = low;
  pe.high_ = high;
  pe.step_ = step;
  const size_t n = observations.size();
  const double prior_mu = 0.5 * (low + high);
  const double range = high - low + step;
  // Optuna's univariate bandwidth: the larger gap to the sorted neighbours (prior included).
  std::vector<double> with_prior = observations;
  with_prior.push_back(prior_mu);
  std::vector<size_t> order(with_prior.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return with_prior[a] < with_prior[b]; });
  std::vector<double> sorted(with_prior.size() + 2);
  sorted.front() = low - step / 2;
  sorted.back() = high + step / 2;
  for (size_t i = 0; i < order.size(); ++i) sorted[i + 1] = with_prior[order[i]];
  const size_t m = order.size();
  std::vector<double> sorted_sigmas(m);
  for (size_t i = 0; i < m; ++i) sorted_sigmas[i] = std::max(sorted[i + 1] - sorted[i], sorted[i + 2] - sorted[i + 1]);
  if (!options.consider_endpoints && sorted.size() >= 4) {
    sorted_sigmas[0] = sorted[2] - sorted[1];
    sorted_sigmas[m - 1] = sorted[m] - sorted[m - 1];
  }
  const double max_sigma = range;
  const double min_sigma =
      options.consider_magic_clip ? range / std::min(100.0, 1.0 + static_cast<double>(n + 1)) : kEps;
  std::vector<double> sigmas(m);
  for (size_t i = 0; i < m; ++i) sigmas[order[i]] = sorted_sigmas[i];
  for (size_t i = 0; i < n; ++i) {
    pe.mus_.push_back(observations[i]);
    pe.sigmas_.push_back(std::clamp(sigmas[i], min_sigma, max_sigma));
  }
  pe.mus_.push_back(prior_mu);
  pe.sigmas_.push_back(range);
  pe.weights_ = tpe_default_weights(n);
  pe.weights_.push_back(options.prior_weight);
  normalize(pe.weights_);
  return pe;
}

ParzenEstimator ParzenEstimator::categorical(const std::vector<size_t>& observations, size_t n_choices,
                                             const TpeOptions& options) {
  ParzenEstimator pe;
  pe.categorical_ = true;
  const size_t kernels = observations.size() + 1;
  // Each observed kernel: prior_weight / kernels spread on every choice, plus 1 on the observed one.
  for (size_t i = 0; i < observations.size(); ++i) {
    std::vector<double> p(n_choices, options.prior_weight / static_cast<double>(kernels));
    p[observations[i]] += 1.0;
    normalize(p);
    pe.probs_.push_back(std::move(p));
  }
  pe.probs_.emplace_back(n_choices, 1.0 / static_cast<double>(n_choices));
  pe.weights_ = tpe_default_weights(observations.size());
  pe.weights_.push_back(options.prior_weight);
  normalize(pe.weights_);
  return pe;
}

double ParzenEstimator::sample(Rng& rng) const {
  const size_t k = pick_kernel(weights_, rng);
  if (categorical_) return static_cast<double>(pick_kernel(probs_[k], rng));
  const double lo = low_ - step_ / 2, hi = high_ + step_ / 2;
  double x = mus_[k];
  for (int attempt = 0; attempt < 100; ++attempt) {
    const double y = mus_[k] + sigmas_[k] * rng.normal();
    if (y >= lo && y <= hi) {
      x = y;
      break;
    }
  }
  if (step_ > 0) x = std::clamp(low_ + std::round((x - low_) / step_) * step_, low_, high_);
  return x;
}

double ParzenEstimator::kernel_log_pdf(size_t i, double x) const {
  const double mu = mus_[i], s = sigmas_[i];
  const double lo = (low_ - step_ / 2 - mu) / s, hi = (high_ + step_ / 2 - mu) / s;
  const double log_norm = log_normal_mass(lo, hi);
  if (step_ > 0) return log_normal_mass((x - step_ / 2 - mu) / s, (x + step_ / 2 - mu) / s) - log_norm;
  const double z = (x - mu) / s;
  return -0.5 * z * z - std::log(s) - 0.5 * std::log(2 * std::numbers::pi) - log_norm;
}

double ParzenEstimator::log_pdf(double x) const {
  std::vector<double> terms(weights_.size());
  for (size_t i = 0; i < weights_.size(); ++i) {
    if (categorical_) {
      const auto c = static_cast<size_t>(x);
      terms[i] = std::log(weights_[i]) + std::log(std::max(probs_[i][c], kMinProbability));
    } else {
      terms[i] = std::log(weights_[i]) + kernel_log_pdf(i, x);
    }
  }
  return log_sum_exp(terms);
}

}  // namespace effitune::search
