// Consistency indicators: how stable answers are across repeats, how closely a configuration's
// next-token distributions follow the reference configuration's, and accuracy on the items whose
// answer depends on facts stated earlier in the conversation. Pure and thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "effitune/common/status.h"
#include "effitune/probes/stats.h"

namespace effitune::probes {

struct ModalAgreement {
  std::string modal_answer;  // normalize_answer() form of the most frequent answer
  size_t modal_count = 0;
  size_t repeats = 0;
  double agreement = 0.0;    // modal_count / repeats
};
// Share of K repeated answers that equal the modal answer after normalize_answer(). Ties go to the
// answer seen first. Returns kInvalidArgument for an empty list.
Result<ModalAgreement> modal_agreement(std::span<const std::string> answers);

struct LogitAgreement {
  size_t positions = 0;
  double same_top1_rate = 0.0;         // share of positions whose argmax agrees (first max wins ties)
  double mean_kl = 0.0;                // mean over positions of KL(P_ref || P_test), nats
  std::vector<double> kl;              // per position, for intervals
  std::vector<uint8_t> same_top1;      // per position, 1 if the argmax agrees
};
// Compares two row-major [positions x n_vocab] logit matrices from teacher-forced runs of the same
// tokens: `reference` from the reference configuration, `test` from the tuned one. Each row goes
// through log-softmax in double with max subtraction, as llama.cpp's `perplexity --kl-divergence`
// does, and KL = sum_v p_ref(v) (log p_ref(v) - log p_test(v)). -inf logits are allowed (masked
// tokens; if the reference gives such a token mass the test masks, KL is +inf). Returns
// kInvalidArgument if n_vocab is 0, the sizes differ or are not a multiple of n_vocab, a logit is
// NaN or +inf, or a row is entirely -inf; the message names the position and token.
Result<LogitAgreement> compare_logits(std::span<const float> reference, std::span<const float> test,
                                      size_t n_vocab);

struct ItemOutcome {
  bool correct = false;
  bool depends_on_history = false;
};
// Accuracy restricted to items flagged depends_on_history, with a Wilson interval (n = such items;
// n == 0 gives value 0 and interval [0, 1]).
Estimate history_consistency(std::span<const ItemOutcome> items);

}  // namespace effitune::probes
