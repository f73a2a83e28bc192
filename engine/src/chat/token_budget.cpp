// The max-tokens split: the prompt must fit the history budget, so the oldest turns are dropped
// whole; the system prompt and the question always stay. The response is capped separately.
#include <string>

#include "effitune/engine/chat_format.h"

namespace effitune::engine {
namespace {

Result<std::vector<int32_t>> render_from(ChatFormat format, const Tokenizer& tokenizer, const Conversation& conv,
                                         size_t first_turn) {
  Conversation kept;
  kept.system = conv.system;
  kept.question = conv.question;
  kept.turns.assign(conv.turns.begin() + static_cast<std::ptrdiff_t>(first_turn), conv.turns.end());
  return render_conversation(format, tokenizer, kept);
}

std::vector<int32_t> stop_tokens(ChatFormat format, const Tokenizer& tokenizer) {
  std::vector<int32_t> ids;
  auto add = [&ids](int32_t id) {
    if (id < 0) return;
    for (int32_t x : ids) {
      if (x == id) return;
    }
    ids.push_back(id);
  };
  switch (format) {
    case ChatFormat::kSupportDesk: add(tokenizer.find_token("<|end|>")); break;
    case ChatFormat::kChatMl: add(tokenizer.find_token("<|im_end|>")); break;
    case ChatFormat::kLlama2: break;
    case ChatFormat::kLlama3: add(tokenizer.find_token("<|eot_id|>")); break;
  }
  add(tokenizer.eos_id());
  return ids;
}

}  // namespace

Result<RenderedPrompt> render_with_budget(ChatFormat format, const Tokenizer& tokenizer, const Conversation& conv,
                                          const TokenBudget& budget) {
  if (budget.history_tokens < 0 || budget.response_tokens < 0) {
    return invalid_argument("token budget: history_tokens (" + std::to_string(budget.history_tokens) +
                            ") and response_tokens (" + std::to_string(budget.response_tokens) +
                            ") must be >= 0");
  }
  EFFITUNE_ASSIGN_OR_RETURN(std::vector<int32_t> full, render_from(format, tokenizer, conv, 0));
  RenderedPrompt out;
  out.max_new_tokens = budget.response_tokens;
  out.stop_token_ids = stop_tokens(format, tokenizer);
  const auto fits = [&budget](const std::vector<int32_t>& t) {
    return static_cast<int64_t>(t.size()) <= budget.history_tokens;
  };
  if (fits(full)) {
    out.tokens = std::move(full);
    return out;
  }
  // Every turn renders to at least one token, so the prompt length never grows as more turns are
  // dropped: binary-search the fewest dropped turns that fit (log n renders, not n).
  const size_t n = conv.turns.size();
  EFFITUNE_ASSIGN_OR_RETURN(std::vector<int32_t> bare, render_from(format, tokenizer, conv, n));
  if (!fits(bare)) {
    return out_of_range("the system prompt and the question alone take " + std::to_string(bare.size()) +
                        " tokens, over the history budget of " + std::to_string(budget.history_tokens) +
                        "; raise the history budget");
  }
  size_t lo = 1;  // dropping lo-1 turns does not fit
  size_t hi = n;  // dropping hi turns fits
  std::vector<int32_t> best = std::move(bare);  // always the rendering with `hi` turns dropped
  while (lo < hi) {
    const size_t mid = lo + (hi - lo) / 2;
    EFFITUNE_ASSIGN_OR_RETURN(std::vector<int32_t> t, render_from(format, tokenizer, conv, mid));
    if (fits(t)) {
      hi = mid;
      best = std::move(t);
    } else {
      lo = mid + 1;
    }
  }
  out.turns_dropped = static_cast<int32_t>(hi);
  out.history_tokens_dropped = static_cast<int32_t>(full.size() - best.size());
  out.tokens = std::move(best);
  return out;
}

}  // namespace effitune::engine
