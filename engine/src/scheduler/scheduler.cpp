// Scheduler: creation, the thread-safe front (submit, cancel, events, stats) and request endings.
// The per-iteration batch building lives in scheduler_step.cpp.
#include "effitune/engine/scheduler.h"

#include <algorithm>
#include <chrono>

#include "scheduler/scheduler_req.h"

namespace effitune::engine {

const char* request_outcome_name(RequestOutcome o) {
  switch (o) {
    case RequestOutcome::kStop: return "stop";
    case RequestOutcome::kLength: return "length";
    case RequestOutcome::kError: return "error";
    case RequestOutcome::kCancelled: return "cancelled";
  }
  return "unknown";
}

Result<std::unique_ptr<Scheduler>> Scheduler::create(Engine& engine, const SchedulerConfig& config,
                                                     std::unique_ptr<BatchPolicy> policy, const Clock* clock) {
  if (!policy) return invalid_argument("Scheduler::create: a batch policy is required");
  if (config.max_num_seqs < 1)
    return invalid_argument("scheduler max_num_seqs must be >= 1, got " + std::to_string(config.max_num_seqs));
  if (config.max_num_batched_tokens < 1)
    return invalid_argument("scheduler max_num_batched_tokens must be >= 1, got " +
                            std::to_string(config.max_num_batched_tokens));
  if (config.max_waiting < 0)
    return invalid_argument("scheduler max_waiting must be >= 0, got " + std::to_string(config.max_waiting));
  if (!(config.kv_watermark >= 0 && config.kv_watermark < 1))
    return invalid_argument("scheduler kv_watermark must be in [0, 1), got " + std::to_string(config.kv_watermark));
  return std::unique_ptr<Scheduler>(new Scheduler(engine, config, std::move(policy), clock));
}

Scheduler::Scheduler(Engine& engine, const SchedulerConfig& config, std::unique_ptr<BatchPolicy> policy,
                     const Clock* clock)
    : engine_(engine), config_(config), policy_(std::move(policy)) {
  if (!clock) own_clock_ = std::make_unique<SteadyClock>();
  clock_ = clock ? clock : own_clock_.get();
  watermark_blocks_ = static_cast<int32_t>(config.kv_watermark * engine.kv().stats().total_blocks);
  publish_stats();
}

Scheduler::~Scheduler() {
  std::lock_guard<std::mutex> loop(loop_mu_);
  for (Req* r : running_)
    if (r->seq) engine_.remove_sequence(*r->seq);
}

Result<RequestId> Scheduler::submit(InferenceRequest request) {
  if (request.prompt.empty()) return invalid_argument("the prompt is empty");
  const int32_t vocab = engine_.model().vocab_size;
  for (size_t i = 0; i < request.prompt.size(); ++i) {
    const int32_t t = request.prompt[i];
    if (t < 0 || t >= vocab)
      return invalid_argument("prompt token " + std::to_string(i) + " = " + std::to_string(t) +
                              " is outside the vocabulary [0, " + std::to_string(vocab) + ")");
  }
  if (static_cast<int64_t>(request.prompt.size()) >= engine_.context_length())
    return out_of_range("the prompt has " + std::to_string(request.prompt.size()) +
                        " tokens; the context holds " + std::to_string(engine_.context_length()) +
                        " (leave room for at least one generated token)");
  EFFITUNE_RETURN_IF_ERROR(validate(request.decoding));
  if (request.decoding.strategy == DecodingStrategy::kBeam)
    return unimplemented("beam search is not served by the scheduler; use generate() or greedy/sampling");

  auto r = std::make_unique<Req>();
  r->arrival_ms = request.arrival_ms.value_or(clock_->now_ms());
  r->prompt_len = static_cast<int32_t>(request.prompt.size());
  r->budget = std::min(request.decoding.max_new_tokens, engine_.context_length() - r->prompt_len);
  r->tokens = request.prompt;
  r->sampler.emplace(request.decoding);
  r->in = std::move(request);

  std::lock_guard<std::mutex> lock(mu_);
  if (static_cast<int64_t>(inbox_.size()) + waiting_published_ >= config_.max_waiting) {
    ++rejected_;
    return resource_exhausted("the waiting queue is full (" + std::to_string(config_.max_waiting) +
                              " requests); retry later");
  }
  r->id = next_id_++;
  ++submitted_;
  live_.insert(r->id);
  const RequestId id = r->id;
  inbox_.push_back(std::move(r));
  work_cv_.notify_all();
  return id;
}

thread_local const Scheduler* t_stepping_scheduler = nullptr;

Status Scheduler::cancel(RequestId id) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!live_.count(id)) return not_found("request " + std::to_string(id) + " is unknown or already finished");
    cancels_.push_back(id);
    work_cv_.notify_all();
  }
  if (t_stepping_scheduler == this) return {};  // from a callback: the running step() ends it
  // Waiting for a step() in progress on another thread costs at most one iteration, and guarantees the
  // blocks are free when cancel() returns.
  std::lock_guard<std::mutex> loop(loop_mu_);
  process_cancels(clock_->now_ms());
  publish_stats();
  return {};
}

void Scheduler::take_inbox(double) {
  std::vector<std::unique_ptr<Req>> in;
  {
    std::lock_guard<std::mutex> lock(mu_);
    in.swap(inbox_);
  }
  for (auto& r : in) {
    policy_->observe_arrival(r->arrival_ms);
    waiting_.push_back(r.get());
    reqs_.emplace(r->id, std::move(r));
  }
}

void Scheduler::process_cancels(double now) {
  take_inbox(now);
  std::vector<RequestId> ids;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ids.swap(cancels_);
  }
  for (RequestId id : ids) {
    auto it = reqs_.find(id);
    if (it != reqs_.end()) finish(it->second.get(), RequestOutcome::kCancelled, {}, now);
  }
}

void Scheduler::finish(Req* r, RequestOutcome outcome, Status error, double now) {
  if (r->seq) engine_.remove_sequence(*r->seq);
  r->seq.reset();
  running_.erase(std::remove(running_.begin(), running_.end(), r), running_.end());
  waiting_.erase(std::remove(waiting_.begin(), waiting_.end(), r), waiting_.end());

  RequestEvent ev;
  ev.kind = RequestEvent::Kind::kFinish;
  ev.id = r->id;
  ev.outcome = outcome;
  ev.error = std::move(error);
  ev.tokens.assign(r->tokens.begin() + r->prompt_len, r->tokens.end());
  if (const Tokenizer* tok = engine_.tokenizer()) {
    ev.text = tok->decode(ev.tokens);
    size_t cut = std::string::npos;
    for (const auto& s : r->in.decoding.stop_strings) cut = std::min(cut, ev.text.find(s));
    if (cut != std::string::npos) ev.text.resize(cut);
  }
  ev.prompt_tokens = r->prompt_len;
  ev.preemptions = r->preemptions;
  ev.timings.arrival_ms = r->arrival_ms;
  ev.timings.queue_ms = r->first_scheduled_ms < 0 ? -1 : r->first_scheduled_ms - r->arrival_ms;
  ev.timings.ttft_ms = r->first_sample_ms < 0 ? -1 : r->first_sample_ms - r->arrival_ms;
  ev.timings.token_ms = r->token_ms;
  ev.timings.e2e_ms = now - r->arrival_ms;

  ++counters_.finished;
  if (outcome == RequestOutcome::kCancelled) ++counters_.cancelled;
  if (outcome == RequestOutcome::kError) ++counters_.errors;
  {
    std::lock_guard<std::mutex> lock(mu_);
    live_.erase(r->id);
  }
  std::unique_ptr<Req> owned = std::move(reqs_.at(r->id));
  reqs_.erase(r->id);
  emit(*owned, std::move(ev));
}

void Scheduler::emit(const Req& r, RequestEvent ev) {
  if (r.in.on_event) {
    r.in.on_event(ev);
    return;
  }
  std::lock_guard<std::mutex> lock(mu_);
  events_.push_back(std::move(ev));
}

bool Scheduler::wait_for_work(double timeout_ms) {
  std::unique_lock<std::mutex> lock(mu_);
  return work_cv_.wait_for(lock, std::chrono::duration<double, std::milli>(std::max(0.0, timeout_ms)),
                           [&] { return loop_has_work_ || !inbox_.empty() || !cancels_.empty(); });
}

void Scheduler::cancel_all() {
  std::lock_guard<std::mutex> loop(loop_mu_);
  const double now = clock_->now_ms();
  process_cancels(now);
  std::vector<Req*> all(running_.begin(), running_.end());
  all.insert(all.end(), waiting_.begin(), waiting_.end());
  for (Req* r : all) finish(r, RequestOutcome::kCancelled, {}, now);
  publish_stats();
}

std::vector<RequestEvent> Scheduler::poll_events() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<RequestEvent> out;
  out.swap(events_);
  return out;
}

void Scheduler::publish_stats() {
  SchedulerStats s = counters_;
  s.waiting = static_cast<int32_t>(waiting_.size());
  s.running = static_cast<int32_t>(running_.size());
  const KvStats kv = engine_.kv_stats();
  s.kv_used_blocks = kv.used_blocks;
  s.kv_total_blocks = kv.total_blocks;
  s.kv_free_blocks = kv.total_blocks - kv.used_blocks;
  std::lock_guard<std::mutex> lock(mu_);
  waiting_published_ = s.waiting;
  loop_has_work_ = s.waiting > 0 || s.running > 0;
  published_ = s;
}

SchedulerStats Scheduler::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  SchedulerStats s = published_;
  s.waiting += static_cast<int32_t>(inbox_.size());
  s.submitted = submitted_;
  s.rejected = rejected_;
  return s;
}

bool Scheduler::idle() const {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!inbox_.empty() || !cancels_.empty()) return false;
  }
  return waiting_.empty() && running_.empty();
}

std::vector<RequestId> Scheduler::running_ids() const {
  std::vector<RequestId> ids;
  for (const Req* r : running_) ids.push_back(r->id);
  std::sort(ids.begin(), ids.end());
  return ids;
}

std::vector<RequestId> Scheduler::waiting_ids() const {
  std::vector<RequestId> ids;
  for (const Req* r : waiting_) ids.push_back(r->id);
  return ids;
}

}  // namespace effitune::engine
