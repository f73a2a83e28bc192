// EngineTarget: probes::Target over Engine + Scheduler, the scheduler stepping on its own thread.
#include "effitune/orchestrator/engine_target.h"

#include <atomic>
#include <chrono>
#include <thread>

namespace effitune::orchestrator {
namespace {

using probes::FinishReason;

class EngineTarget : public probes::Target {
 public:
  EngineTarget(std::unique_ptr<engine::Engine> engine, std::unique_ptr<engine::Scheduler> scheduler,
               std::optional<engine::ChatFormat> format, int32_t history_budget)
      : engine_(std::move(engine)), scheduler_(std::move(scheduler)), format_(format), history_budget_(history_budget) {
    loop_ = std::thread([this] { run_loop(); });
  }

  ~EngineTarget() override {
    stop_ = true;
    loop_.join();
    // The loop has stopped: finish what is left on this thread (the scheduler's loop owner now).
    scheduler_->cancel_all();
  }

  std::string name() const override { return "inproc"; }

  void submit(const probes::TargetRequest& request, std::shared_ptr<probes::StreamSink> sink) override {
    auto prompt = render(request);
    if (!prompt.ok()) return fail(*sink, prompt.status());
    engine::InferenceRequest ir;
    ir.prompt = std::move(prompt->first);
    ir.decoding = decoding_for(request, prompt->second);
    ir.on_event = [sink](const engine::RequestEvent& ev) {
      const double t = probes::steady_now_s();
      if (ev.kind == engine::RequestEvent::Kind::kToken) {
        sink->on_tokens(1, t);
        return;
      }
      probes::TargetFinish f;
      switch (ev.outcome) {
        case engine::RequestOutcome::kStop: f.reason = FinishReason::kStop; break;
        case engine::RequestOutcome::kLength: f.reason = FinishReason::kLength; break;
        case engine::RequestOutcome::kError: f.reason = FinishReason::kError; break;
        case engine::RequestOutcome::kCancelled: f.reason = FinishReason::kCancelled; break;
      }
      f.error = ev.error;
      if (!f.error.ok() && f.reason != FinishReason::kError) f.reason = FinishReason::kError;
      if (f.error.ok() && f.reason == FinishReason::kCancelled) f.error = cancelled("the request was cancelled");
      if (f.error.ok() && f.reason == FinishReason::kError) f.error = internal_error("the engine failed the request");
      f.output_tokens = static_cast<int32_t>(ev.tokens.size());
      f.prompt_tokens = ev.prompt_tokens;
      f.text = ev.text;
      sink->on_finish(f, t);
    };
    auto id = scheduler_->submit(std::move(ir));
    if (!id.ok()) fail(*sink, id.status());
  }

 private:
  static void fail(probes::StreamSink& sink, const Status& why) {
    probes::TargetFinish f;
    f.reason = FinishReason::kError;
    f.error = why;
    sink.on_finish(f, probes::steady_now_s());
  }

  engine::DecodingConfig decoding_for(const probes::TargetRequest& r, int32_t budget_cap) const {
    engine::DecodingConfig d;
    d.max_new_tokens = r.max_tokens;
    if (budget_cap > 0) d.max_new_tokens = std::min(d.max_new_tokens, budget_cap);
    d.stop_at_eos = !r.ignore_eos;
    if (r.sampling.temperature > 0) {
      d.strategy = engine::DecodingStrategy::kSample;
      d.temperature = static_cast<float>(r.sampling.temperature);
      d.top_p = static_cast<float>(r.sampling.top_p);
      d.top_k = r.sampling.top_k;
      d.seed = r.sampling.seed;
    }
    return d;
  }

  // The prompt ids and a response cap from the max-tokens split (0 = none).
  Result<std::pair<std::vector<int32_t>, int32_t>> render(const probes::TargetRequest& r) const {
    const engine::Tokenizer* tok = engine_->tokenizer();
    if (!r.messages.empty()) {
      if (!tok || !format_) return failed_precondition("the model has no tokenizer or chat format for chat requests");
      engine::Conversation conv;
      for (size_t i = 0; i + 1 < r.messages.size(); ++i) {
        const auto& m = r.messages[i];
        if (m.role == "system") conv.system += m.content;
        else conv.turns.push_back({m.role == "assistant" ? engine::ChatRole::kAssistant : engine::ChatRole::kUser, m.content});
      }
      conv.question = r.messages.back().content;
      if (history_budget_ > 0) {
        EFFITUNE_ASSIGN_OR_RETURN(auto rp, engine::render_with_budget(*format_, *tok, conv,
                                                                       {history_budget_, r.max_tokens}));
        return std::make_pair(std::move(rp.tokens), rp.max_new_tokens);
      }
      EFFITUNE_ASSIGN_OR_RETURN(auto ids, engine::render_conversation(*format_, *tok, conv));
      return std::make_pair(std::move(ids), 0);
    }
    if (!r.prompt.empty()) {
      if (!tok) return failed_precondition("the model has no tokenizer for text prompts; use a synthetic workload");
      return std::make_pair(tok->encode(r.prompt, true), 0);
    }
    std::vector<int32_t> ids;
    const int32_t vocab = engine_->model().vocab_size;
    if (tok && tok->bos_id() >= 0) ids.push_back(tok->bos_id());
    for (int32_t i = 0; static_cast<int32_t>(ids.size()) < std::max(r.prompt_tokens, 1); ++i)
      ids.push_back((10 + (7 * i) % 90) % vocab);
    return std::make_pair(std::move(ids), 0);
  }

  void run_loop() {
    while (!stop_) {
      if (!scheduler_->wait_for_work(20)) continue;
      const engine::StepReport rep = scheduler_->step();
      // A policy may hold requests (a time window): sleep briefly rather than spin.
      if (!rep.dispatched) std::this_thread::sleep_for(std::chrono::microseconds(500));
    }
  }

  std::unique_ptr<engine::Engine> engine_;
  std::unique_ptr<engine::Scheduler> scheduler_;
  std::optional<engine::ChatFormat> format_;
  int32_t history_budget_;
  std::atomic<bool> stop_{false};
  std::thread loop_;
};

}  // namespace

Result<std::unique_ptr<probes::Target>> make_engine_target(std::unique_ptr<engine::Engine> eng,
                                                           const EngineTargetOptions& options) {
  if (!eng) return invalid_argument("make_engine_target: null engine");
  if (options.history_budget_tokens < 0) return invalid_argument("history_budget_tokens must be >= 0");
  EFFITUNE_ASSIGN_OR_RETURN(auto policy, engine::make_batch_policy(options.batch_policy, options.policy_params));
  EFFITUNE_ASSIGN_OR_RETURN(auto sched, engine::Scheduler::create(*eng, options.scheduler, std::move(policy)));
  std::optional<engine::ChatFormat> format = options.chat_format;
  if (!format && eng->gguf() && eng->tokenizer()) {
    auto detected = engine::detect_chat_format(*eng->gguf());
    if (detected.ok()) format = *detected;
  }
  return std::unique_ptr<probes::Target>(
      std::make_unique<EngineTarget>(std::move(eng), std::move(sched), format, options.history_budget_tokens));
}

Result<std::unique_ptr<probes::Target>> make_engine_target(const EngineTargetOptions& options) {
  EFFITUNE_ASSIGN_OR_RETURN(auto eng, engine::Engine::create(options.engine));
  return make_engine_target(std::move(eng), options);
}

}  // namespace effitune::orchestrator
