#include "effitune/engine/generate.h"

#include <algorithm>
#include <chrono>
#include <cmath>

namespace effitune::engine {
namespace {

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

// Releases the engine sequences of one request whatever path it leaves by.
class SequenceGuard {
 public:
  explicit SequenceGuard(Engine& engine) : engine_(engine) {}
  ~SequenceGuard() {
    for (SeqId s : seqs_) engine_.remove_sequence(s);
  }
  SeqId add(SeqId s) {
    seqs_.push_back(s);
    return s;
  }
  void remove(SeqId s) {
    engine_.remove_sequence(s);
    seqs_.erase(std::find(seqs_.begin(), seqs_.end(), s));
  }

 private:
  Engine& engine_;
  std::vector<SeqId> seqs_;
};

bool is_eos(const Engine& engine, const DecodingConfig& config, int32_t token) {
  return config.stop_at_eos && engine.model().eos_id >= 0 && token == engine.model().eos_id;
}

// Applies stop strings to the decoded text; true (and text trimmed) when one occurs.
bool apply_stop_strings(const DecodingConfig& config, std::string& text) {
  size_t cut = std::string::npos;
  for (const auto& s : config.stop_strings) cut = std::min(cut, text.find(s));
  if (cut == std::string::npos) return false;
  text.resize(cut);
  return true;
}

Status check_prompt(const Engine& engine, const std::vector<int32_t>& prompt, const DecodingConfig& config) {
  EFFITUNE_RETURN_IF_ERROR(validate(config));
  if (prompt.empty()) return invalid_argument("the prompt is empty");
  if (static_cast<int64_t>(prompt.size()) >= engine.context_length())
    return out_of_range("the prompt has " + std::to_string(prompt.size()) + " tokens; the context holds " +
                        std::to_string(engine.context_length()));
  return {};
}

Result<GenerationResult> generate_sampled(Engine& engine, const std::vector<int32_t>& prompt, const DecodingConfig& config) {
  GenerationResult result;
  result.prompt_tokens = static_cast<int32_t>(prompt.size());
  SequenceGuard guard(engine);
  SeqId seq = guard.add(engine.add_sequence());
  Sampler sampler(config);
  std::vector<float> logits;
  std::vector<float> logprobs(engine.model().vocab_size);
  const Tokenizer* tok = engine.tokenizer();

  const auto t0 = Clock::now();
  StepRequest req{seq, prompt, false};
  EFFITUNE_RETURN_IF_ERROR(engine.step({&req, 1}, logits));
  result.prefill_ms = ms_since(t0);
  const auto t_decode = Clock::now();
  const int32_t room = engine.context_length() - static_cast<int32_t>(prompt.size());
  const int32_t budget = std::min(config.max_new_tokens, room);
  for (int32_t i = 0; i < budget; ++i) {
    int32_t token = sampler.sample(logits);
    if (i == 0) result.ttft_ms = ms_since(t0);
    log_softmax(logits, logprobs);
    result.score += logprobs[token];
    if (is_eos(engine, config, token)) {
      result.finish_reason = FinishReason::kStop;
      break;
    }
    result.token_ids.push_back(token);
    if (tok && !config.stop_strings.empty()) {
      std::string text = tok->decode(result.token_ids);
      if (apply_stop_strings(config, text)) {
        result.finish_reason = FinishReason::kStop;
        break;
      }
    }
    if (i + 1 == budget) break;  // the response budget is spent: no need to run the last token
    StepRequest next{seq, {&result.token_ids.back(), 1}, false};
    EFFITUNE_RETURN_IF_ERROR(engine.step({&next, 1}, logits));
  }
  result.decode_ms = ms_since(t_decode);
  if (tok) {
    result.text = tok->decode(result.token_ids);
    apply_stop_strings(config, result.text);
  }
  return result;
}

struct Beam {
  SeqId seq;
  std::vector<int32_t> tokens;
  double logprob = 0;
};

double normalized(const DecodingConfig& config, double logprob, size_t length) {
  return logprob / std::pow(static_cast<double>(std::max<size_t>(length, 1)), config.length_penalty);
}

// Beam search in the style of Hugging Face's with early_stopping=True: each step expands every live
// beam, keeps the `width` best continuations; a continuation ending in EOS becomes a finished
// hypothesis; search ends when `width` hypotheses finished or the budget is spent.
Result<GenerationResult> generate_beam(Engine& engine, const std::vector<int32_t>& prompt, const DecodingConfig& config) {
  const int32_t width = config.beam_width;
  const int32_t vocab = engine.model().vocab_size;
  GenerationResult result;
  result.prompt_tokens = static_cast<int32_t>(prompt.size());
  SequenceGuard guard(engine);
  std::vector<float> logits;
  // Each beam needs only its 2 x width best continuations: on a device sampler they come back as
  // (id, logprob) pairs instead of a vocab-wide row per beam.
  const int32_t k = std::min(vocab, 2 * width);
  const bool on_device = engine.samples_on_device() && k <= 128;
  std::vector<int32_t> top_ids;
  std::vector<float> top_lp;
  auto run = [&](std::span<const StepRequest> reqs) {
    return on_device ? engine.step_topk(reqs, k, top_ids, top_lp) : engine.step(reqs, logits);
  };
  const auto t0 = Clock::now();
  std::vector<Beam> beams{{guard.add(engine.add_sequence()), {}, 0.0}};
  StepRequest req{beams[0].seq, prompt, false};
  EFFITUNE_RETURN_IF_ERROR(run({&req, 1}));
  result.prefill_ms = ms_since(t0);
  const auto t_decode = Clock::now();

  struct Finished {
    std::vector<int32_t> tokens;
    double score;
    bool eos;
  };
  std::vector<Finished> finished;
  const int32_t room = engine.context_length() - static_cast<int32_t>(prompt.size());
  const int32_t budget = std::min(config.max_new_tokens, room);
  std::vector<float> lp(vocab);
  for (int32_t step = 0; step < budget && static_cast<int32_t>(finished.size()) < width; ++step) {
    struct Cand {
      double logprob;
      int32_t beam;
      int32_t token;
    };
    std::vector<Cand> cands;
    for (size_t b = 0; b < beams.size(); ++b) {
      if (on_device) {
        for (int32_t i = 0; i < k; ++i)
          cands.push_back({beams[b].logprob + top_lp[b * k + i], static_cast<int32_t>(b), top_ids[b * k + i]});
        continue;
      }
      log_softmax({logits.data() + b * vocab, static_cast<size_t>(vocab)}, lp);
      std::vector<int32_t> ids(vocab);
      for (int32_t i = 0; i < vocab; ++i) ids[i] = i;
      std::partial_sort(ids.begin(), ids.begin() + k, ids.end(),
                        [&](int32_t a, int32_t c) { return lp[a] > lp[c] || (lp[a] == lp[c] && a < c); });
      for (int32_t i = 0; i < k; ++i) cands.push_back({beams[b].logprob + lp[ids[i]], static_cast<int32_t>(b), ids[i]});
    }
    std::stable_sort(cands.begin(), cands.end(), [](const Cand& a, const Cand& b) { return a.logprob > b.logprob; });
    if (step == 0) result.ttft_ms = ms_since(t0);
    std::vector<Cand> keep;
    for (const Cand& c : cands) {
      if (static_cast<int32_t>(keep.size()) == width) break;
      if (is_eos(engine, config, c.token)) {
        if (static_cast<int32_t>(finished.size()) < width)
          finished.push_back({beams[c.beam].tokens, normalized(config, c.logprob, beams[c.beam].tokens.size() + 1), true});
        continue;
      }
      keep.push_back(c);
    }
    if (keep.empty() || static_cast<int32_t>(finished.size()) >= width) break;
    // Each kept continuation forks its parent's KV (shared blocks, copy-on-write).
    std::vector<Beam> next;
    std::vector<bool> parent_used(beams.size(), false);
    for (const Cand& c : keep) {
      Beam nb;
      if (!parent_used[c.beam]) {
        parent_used[c.beam] = true;
        nb.seq = beams[c.beam].seq;
      } else {
        EFFITUNE_ASSIGN_OR_RETURN(SeqId forked, engine.fork_sequence(beams[c.beam].seq));
        nb.seq = guard.add(forked);
      }
      nb.tokens = beams[c.beam].tokens;
      nb.tokens.push_back(c.token);
      nb.logprob = c.logprob;
      next.push_back(std::move(nb));
    }
    // Forks must be taken before any parent appends, so append after all forks exist.
    for (size_t b = 0; b < beams.size(); ++b)
      if (!parent_used[b]) guard.remove(beams[b].seq);
    beams = std::move(next);
    if (step + 1 == budget) break;
    std::vector<StepRequest> reqs;
    for (const Beam& b : beams) reqs.push_back({b.seq, {&b.tokens.back(), 1}, false});
    EFFITUNE_RETURN_IF_ERROR(run(reqs));
  }
  for (const Beam& b : beams) {
    if (static_cast<int32_t>(finished.size()) >= width) break;
    finished.push_back({b.tokens, normalized(config, b.logprob, b.tokens.size()), false});
  }
  auto best = std::max_element(finished.begin(), finished.end(),
                               [](const Finished& a, const Finished& b) { return a.score < b.score; });
  result.token_ids = best->tokens;
  result.score = best->score;
  result.finish_reason = best->eos ? FinishReason::kStop : FinishReason::kLength;
  result.decode_ms = ms_since(t_decode);
  if (const Tokenizer* tok = engine.tokenizer()) {
    result.text = tok->decode(result.token_ids);
    if (apply_stop_strings(config, result.text)) result.finish_reason = FinishReason::kStop;
  }
  return result;
}

}  // namespace

const char* finish_reason_name(FinishReason r) { return r == FinishReason::kStop ? "stop" : "length"; }

Result<GenerationResult> generate(Engine& engine, const std::vector<int32_t>& prompt, const DecodingConfig& config) {
  EFFITUNE_RETURN_IF_ERROR(check_prompt(engine, prompt, config));
  if (config.strategy == DecodingStrategy::kBeam) return generate_beam(engine, prompt, config);
  return generate_sampled(engine, prompt, config);
}

Result<std::vector<double>> score_tokens(Engine& engine, const std::vector<int32_t>& tokens) {
  if (tokens.size() < 2) return invalid_argument("scoring needs at least 2 tokens");
  if (static_cast<int64_t>(tokens.size()) > engine.context_length())
    return out_of_range("the text has " + std::to_string(tokens.size()) + " tokens; the context holds " +
                        std::to_string(engine.context_length()));
  SequenceGuard guard(engine);
  SeqId seq = guard.add(engine.add_sequence());
  std::vector<float> logits;
  std::span<const int32_t> input(tokens.data(), tokens.size() - 1);
  StepRequest req{seq, input, true};
  EFFITUNE_RETURN_IF_ERROR(engine.step({&req, 1}, logits));
  const size_t vocab = static_cast<size_t>(engine.model().vocab_size);
  std::vector<double> nll(tokens.size() - 1);
  std::vector<float> lp(vocab);
  for (size_t i = 0; i + 1 < tokens.size(); ++i) {
    log_softmax({logits.data() + i * vocab, vocab}, lp);
    nll[i] = -static_cast<double>(lp[tokens[i + 1]]);
  }
  return nll;
}

}  // namespace effitune::engine
