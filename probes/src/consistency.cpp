#include "effitune/probes/consistency.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <unordered_map>

#include "effitune/probes/text_metrics.h"

namespace effitune::probes {
namespace {

// Writes log-softmax of row into out; returns the argmax (first maximum).
size_t log_softmax(std::span<const float> row, std::vector<double>& out) {
  size_t argmax = 0;
  double mx = -std::numeric_limits<double>::infinity();
  for (size_t v = 0; v < row.size(); ++v) {
    if (row[v] > mx) {
      mx = row[v];
      argmax = v;
    }
  }
  double sum = 0.0;
  for (float x : row) sum += std::exp(static_cast<double>(x) - mx);
  const double lse = mx + std::log(sum);
  out.resize(row.size());
  for (size_t v = 0; v < row.size(); ++v) out[v] = static_cast<double>(row[v]) - lse;
  return argmax;
}

Status check_row(std::span<const float> row, size_t position, const char* which) {
  bool any_finite = false;
  for (size_t v = 0; v < row.size(); ++v) {
    const float x = row[v];
    if (std::isnan(x) || x == std::numeric_limits<float>::infinity()) {
      return invalid_argument(std::string("compare_logits: ") + which + " logit at position " + std::to_string(position) +
                              ", token " + std::to_string(v) + " is NaN or +inf");
    }
    any_finite = any_finite || std::isfinite(x);
  }
  if (!any_finite) {
    return invalid_argument(std::string("compare_logits: ") + which + " row at position " + std::to_string(position) +
                            " is entirely -inf");
  }
  return Status::ok_status();
}

}  // namespace

Result<ModalAgreement> modal_agreement(std::span<const std::string> answers) {
  if (answers.empty()) return invalid_argument("modal_agreement: no answers; pass the K repeats of one item");
  std::vector<std::string> order;  // normalized answers in first-seen order
  std::unordered_map<std::string, size_t> counts;
  for (const auto& a : answers) {
    std::string norm = normalize_answer(a);
    if (counts[norm]++ == 0) order.push_back(std::move(norm));
  }
  ModalAgreement out;
  out.repeats = answers.size();
  for (const auto& a : order) {  // strictly greater keeps the first seen on ties
    if (counts[a] > out.modal_count) {
      out.modal_count = counts[a];
      out.modal_answer = a;
    }
  }
  out.agreement = static_cast<double>(out.modal_count) / static_cast<double>(out.repeats);
  return out;
}

Result<LogitAgreement> compare_logits(std::span<const float> reference, std::span<const float> test,
                                      size_t n_vocab) {
  if (n_vocab == 0) return invalid_argument("compare_logits: n_vocab must be > 0");
  if (reference.size() != test.size() || reference.size() % n_vocab != 0) {
    return invalid_argument("compare_logits: reference has " + std::to_string(reference.size()) + " logits, test " +
                            std::to_string(test.size()) + "; both must be positions x n_vocab (" +
                            std::to_string(n_vocab) + ")");
  }
  LogitAgreement out;
  out.positions = reference.size() / n_vocab;
  std::vector<double> lp_ref, lp_test;
  size_t same = 0;
  double kl_sum = 0.0;
  for (size_t pos = 0; pos < out.positions; ++pos) {
    const auto ref_row = reference.subspan(pos * n_vocab, n_vocab);
    const auto test_row = test.subspan(pos * n_vocab, n_vocab);
    EFFITUNE_RETURN_IF_ERROR(check_row(ref_row, pos, "reference"));
    EFFITUNE_RETURN_IF_ERROR(check_row(test_row, pos, "test"));
    const size_t top_ref = log_softmax(ref_row, lp_ref);
    const size_t top_test = log_softmax(test_row, lp_test);
    double kl = 0.0;
    for (size_t v = 0; v < n_vocab; ++v) {
      if (std::isinf(lp_ref[v])) continue;  // p_ref = 0 contributes nothing
      kl += std::exp(lp_ref[v]) * (lp_ref[v] - lp_test[v]);
    }
    // Rounding can leave a tiny negative value for identical rows; KL is >= 0.
    kl = std::max(kl, 0.0);
    out.kl.push_back(kl);
    out.same_top1.push_back(top_ref == top_test ? 1 : 0);
    same += top_ref == top_test ? 1 : 0;
    kl_sum += kl;
  }
  if (out.positions > 0) {
    out.same_top1_rate = static_cast<double>(same) / static_cast<double>(out.positions);
    out.mean_kl = kl_sum / static_cast<double>(out.positions);
  }
  return out;
}

Estimate history_consistency(std::span<const ItemOutcome> items) {
  size_t n = 0, correct = 0;
  for (const auto& it : items) {
    if (!it.depends_on_history) continue;
    ++n;
    correct += it.correct ? 1 : 0;
  }
  return wilson_interval(correct, n);
}

}  // namespace effitune::probes
