#include "effitune/orchestrator/quality_probe.h"

#include <algorithm>
#include <cmath>

#include "effitune/engine/generate.h"
#include "effitune/probes/consistency.h"
#include "effitune/probes/quality.h"
#include "effitune/probes/text_metrics.h"

namespace effitune::orchestrator {
namespace {

engine::Conversation conversation_of(const probes::EvalItem& item) {
  engine::Conversation c;
  c.system = item.system.value_or("");
  for (const auto& t : item.turns) {
    c.turns.push_back({t.role == probes::Role::kUser ? engine::ChatRole::kUser : engine::ChatRole::kAssistant, t.content});
  }
  c.question = item.question;
  return c;
}

// The reference answer as the model would emit it after the prompt: the support-desk format encodes
// every message with a leading space and ends it with <|end|> (experiments/support-desk/README.md).
std::vector<int32_t> answer_tokens(engine::ChatFormat format, const engine::Tokenizer& tok, const std::string& answer,
                                   const std::vector<int32_t>& stop_ids) {
  std::vector<int32_t> ids = tok.encode(format == engine::ChatFormat::kSupportDesk ? " " + answer : answer, false);
  if (!stop_ids.empty()) ids.push_back(stop_ids.front());
  else if (tok.eos_id() >= 0) ids.push_back(tok.eos_id());
  return ids;
}

// Logits of every position of `tokens` (rows x vocab), computed in one forward pass.
Status forward_all(engine::Engine& e, const std::vector<int32_t>& tokens, std::vector<float>& logits) {
  const engine::SeqId seq = e.add_sequence();
  engine::StepRequest req{seq, tokens, true};
  Status st = e.step(std::span<const engine::StepRequest>(&req, 1), logits);
  e.remove_sequence(seq);
  return st;
}

probes::Estimate mean_estimate(const std::vector<double>& xs, const probes::BootstrapOptions& b) {
  if (xs.empty()) return probes::Estimate{0, 0, 1, 0};
  auto r = probes::bootstrap_mean(xs, b);
  if (!r.ok()) return probes::Estimate{0, 0, 1, 0};
  return r.value();
}

}  // namespace

Result<QualityReport> run_quality_probe(engine::Engine& eng, engine::Engine* reference,
                                        const std::vector<probes::EvalItem>& all_items,
                                        const QualityProbeOptions& opt) {
  if (all_items.empty()) return invalid_argument("quality probe: the evaluation set is empty");
  if (opt.budget.history_tokens <= 0 || opt.budget.response_tokens <= 0) {
    return invalid_argument("quality probe: history and response budgets must be > 0 (got " +
                            std::to_string(opt.budget.history_tokens) + " and " +
                            std::to_string(opt.budget.response_tokens) + ")");
  }
  if (opt.repeats < 1) return invalid_argument("quality probe: repeats must be >= 1");
  const engine::Tokenizer* tok = eng.tokenizer();
  if (!tok) return invalid_argument("quality probe: the model file carries no tokenizer; use a GGUF with one");
  engine::ChatFormat format = engine::ChatFormat::kChatMl;
  if (opt.format) {
    format = *opt.format;
  } else {
    if (!eng.gguf()) return invalid_argument("quality probe: cannot detect the chat format; pass one by name");
    EFFITUNE_ASSIGN_OR_RETURN(format, engine::detect_chat_format(*eng.gguf()));
  }
  engine::DecodingConfig dec = opt.decoding;
  dec.max_new_tokens = opt.budget.response_tokens;
  EFFITUNE_RETURN_IF_ERROR(engine::validate(dec));
  const bool sampled = dec.strategy == engine::DecodingStrategy::kSample && dec.temperature > 0;
  const int32_t k = sampled ? opt.repeats : 1;

  const size_t n = opt.max_items > 0 ? std::min(opt.max_items, all_items.size()) : all_items.size();
  QualityReport rep;
  std::vector<double> scores, recalls, agreements, kls;
  std::vector<std::string> finishes;
  std::vector<probes::ItemOutcome> outcomes;
  size_t top1_same = 0, top1_total = 0;
  double gen_ms = 0, prompt_tok = 0, out_tok = 0;
  std::vector<float> ref_logits, test_logits;
  const int32_t vocab = eng.model().vocab_size;

  for (size_t i = 0; i < n; ++i) {
    const auto& item = all_items[i];
    const engine::Conversation conv = conversation_of(item);
    ItemQuality q;
    q.id = item.id;
    q.depends_on_history = item.depends_on_history;
    auto rendered = engine::render_with_budget(format, *tok, conv, opt.budget);
    if (!rendered.ok() && rendered.status().code() != StatusCode::kOutOfRange) return rendered.status();
    if (!rendered.ok()) {
      // The system prompt and the question alone do not fit: this configuration cannot answer.
      q.prompt_did_not_fit = true;
      q.finish_reason = "length";
    } else {
      const auto& rp = rendered.value();
      q.history_tokens_dropped = rp.history_tokens_dropped;
      q.prompt_tokens = static_cast<int32_t>(rp.tokens.size());
      std::vector<std::string> answers;
      for (int32_t r = 0; r < k; ++r) {
        engine::DecodingConfig d = dec;
        d.seed = opt.seed + static_cast<uint64_t>(i) * static_cast<uint64_t>(k) + static_cast<uint64_t>(r);
        EFFITUNE_ASSIGN_OR_RETURN(auto g, engine::generate(eng, rp.tokens, d));
        answers.push_back(g.text);
        if (r == 0) {
          q.answer = g.text;
          q.finish_reason = engine::finish_reason_name(g.finish_reason);
          q.output_tokens = static_cast<int32_t>(g.token_ids.size());
          q.generation_ms = g.prefill_ms + g.decode_ms;
        }
      }
      if (k > 1) {
        EFFITUNE_ASSIGN_OR_RETURN(auto agree, probes::modal_agreement(answers));
        q.repeat_agreement = agree.agreement;
      }
      // Agreement with the reference configuration: teacher-force the reference answer after the
      // full-history prompt (reference engine) and after this configuration's prompt (this engine).
      if (reference) {
        auto full = engine::render_conversation(format, *tok, conv);
        if (!full.ok()) return full.status();
        const auto ans = answer_tokens(format, *tok, item.answer, rp.stop_token_ids);
        std::vector<int32_t> ref_seq = full.value();
        ref_seq.insert(ref_seq.end(), ans.begin(), ans.end());
        std::vector<int32_t> test_seq = rp.tokens;
        test_seq.insert(test_seq.end(), ans.begin(), ans.end());
        if (static_cast<int32_t>(ref_seq.size()) <= reference->context_length() &&
            static_cast<int32_t>(test_seq.size()) <= eng.context_length()) {
          EFFITUNE_RETURN_IF_ERROR(forward_all(*reference, ref_seq, ref_logits));
          EFFITUNE_RETURN_IF_ERROR(forward_all(eng, test_seq, test_logits));
          const size_t a = ans.size();
          const size_t ref_off = (full.value().size() - 1) * static_cast<size_t>(vocab);
          const size_t test_off = (rp.tokens.size() - 1) * static_cast<size_t>(vocab);
          auto cmp = probes::compare_logits(
              std::span<const float>(ref_logits.data() + ref_off, a * static_cast<size_t>(vocab)),
              std::span<const float>(test_logits.data() + test_off, a * static_cast<size_t>(vocab)),
              static_cast<size_t>(vocab));
          if (!cmp.ok()) return cmp.status().with_context("item " + item.id);
          for (size_t p = 0; p < cmp->kl.size(); ++p) {
            top1_same += cmp->same_top1[p];
            ++top1_total;
            if (std::isfinite(cmp->kl[p])) kls.push_back(cmp->kl[p]);
          }
        }
      }
    }
    if (item.answer_type == probes::AnswerType::kShort) {
      q.score = probes::exact_match(q.answer, item.answer) ? 1.0 : 0.0;
    } else {
      q.score = probes::rouge_l(item.answer, q.answer).f1;
    }
    q.key_point_recall = q.prompt_did_not_fit ? 0.0 : probes::key_point_recall(q.answer, item.key_points);
    q.correct = item.answer_type == probes::AnswerType::kShort ? q.score == 1.0 : q.key_point_recall == 1.0;
    scores.push_back(q.score);
    recalls.push_back(q.key_point_recall);
    agreements.push_back(q.repeat_agreement);
    finishes.push_back(q.finish_reason);
    outcomes.push_back({q.correct, q.depends_on_history});
    gen_ms += q.generation_ms;
    prompt_tok += q.prompt_tokens;
    out_tok += q.output_tokens;
    rep.items.push_back(std::move(q));
  }

  const auto& b = opt.bootstrap;
  rep.accuracy = mean_estimate(scores, b);
  rep.key_point_recall = mean_estimate(recalls, b);
  rep.truncation_rate = probes::truncation_rate(finishes);
  rep.completeness.value = (1 - rep.truncation_rate.value) * rep.key_point_recall.value;
  rep.completeness.ci_low = (1 - rep.truncation_rate.ci_high) * rep.key_point_recall.ci_low;
  rep.completeness.ci_high = (1 - rep.truncation_rate.ci_low) * rep.key_point_recall.ci_high;
  rep.completeness.n = n;
  if (k > 1) {
    rep.repeat_agreement = mean_estimate(agreements, b);
  } else {
    rep.repeat_agreement = probes::Estimate{1, 1, 1, n};  // deterministic decoding repeats itself
  }
  rep.history_consistency = probes::history_consistency(outcomes);
  if (top1_total > 0) {
    rep.same_top1 = probes::wilson_interval(top1_same, top1_total);
    rep.mean_kl = mean_estimate(kls, b);
  } else {
    rep.same_top1 = probes::Estimate{1, 1, 1, 0};
    rep.mean_kl = probes::Estimate{0, 0, 0, 0};
  }
  // C: the mean of its parts; history consistency enters only when the set has such items.
  std::vector<const probes::Estimate*> parts = {&rep.repeat_agreement, &rep.same_top1};
  if (rep.history_consistency.n > 0) parts.push_back(&rep.history_consistency);
  for (const auto* p : parts) {
    rep.consistency.value += p->value / static_cast<double>(parts.size());
    rep.consistency.ci_low += p->ci_low / static_cast<double>(parts.size());
    rep.consistency.ci_high += p->ci_high / static_cast<double>(parts.size());
  }
  rep.consistency.n = n;
  rep.mean_generation_ms = gen_ms / static_cast<double>(n);
  rep.mean_prompt_tokens = prompt_tok / static_cast<double>(n);
  rep.mean_output_tokens = out_tok / static_cast<double>(n);
  return rep;
}

}  // namespace effitune::orchestrator
