// One scheduler iteration: policy decision, priority preemption, the running sequences' share of
// the token budget (preempting by recompute when KV blocks run out), admissions, one engine step,
// then sampling and endings.
#include <algorithm>
#include <span>

#include "effitune/engine/scheduler.h"
#include "scheduler/scheduler_req.h"

namespace effitune::engine {
namespace {

class SteppingMark {
 public:
  explicit SteppingMark(const Scheduler* s) { t_stepping_scheduler = s; }
  ~SteppingMark() { t_stepping_scheduler = nullptr; }
};

}  // namespace

PolicyInput Scheduler::policy_input(double now) const {
  PolicyInput in;
  in.now_ms = now;
  in.waiting = static_cast<int32_t>(waiting_.size());
  in.running = static_cast<int32_t>(running_.size());
  bool first = true;
  for (const Req* r : waiting_) {
    in.oldest_wait_ms = std::max(in.oldest_wait_ms, now - r->arrival_ms);
    in.top_waiting_priority = first ? r->in.priority : std::max(in.top_waiting_priority, r->in.priority);
    first = false;
  }
  first = true;
  for (const Req* r : running_) {
    in.lowest_running_priority = first ? r->in.priority : std::min(in.lowest_running_priority, r->in.priority);
    first = false;
  }
  const KvStats kv = engine_.kv_stats();
  in.kv_utilization = kv.total_blocks > 0 ? static_cast<double>(kv.used_blocks) / kv.total_blocks : 0.0;
  return in;
}

std::vector<Scheduler::Req*> Scheduler::admission_order(bool by_priority) const {
  std::vector<Req*> order(waiting_.begin(), waiting_.end());
  if (by_priority)
    std::stable_sort(order.begin(), order.end(), [](const Req* a, const Req* b) { return a->in.priority > b->in.priority; });
  return order;
}

// Most important first: higher class, then earlier arrival. The back is the preemption victim.
void Scheduler::sort_running() {
  std::stable_sort(running_.begin(), running_.end(), [](const Req* a, const Req* b) {
    if (a->in.priority != b->in.priority) return a->in.priority > b->in.priority;
    if (a->arrival_ms != b->arrival_ms) return a->arrival_ms < b->arrival_ms;
    return a->id < b->id;
  });
}

bool Scheduler::fits_to_admit(const Req& r, int32_t planned_blocks) const {
  const int32_t whole = engine_.kv().blocks_for_tokens(static_cast<int32_t>(r.tokens.size()));
  return whole <= engine_.kv().free_blocks() - planned_blocks - watermark_blocks_;
}

// The running sequence whose computed tokens share the longest whole-block prefix with r's tokens
// (at least one block, and leaving r at least one token to compute for its logits).
std::pair<Scheduler::Req*, int32_t> Scheduler::find_shared_prefix(const Req& r) const {
  const int32_t bs = engine_.kv().block_size();
  Req* best = nullptr;
  int32_t best_len = 0;
  for (Req* src : running_) {
    const int32_t limit = std::min(src->n_computed, static_cast<int32_t>(r.tokens.size()) - 1);
    int32_t n = 0;
    while (n < limit && src->tokens[n] == r.tokens[n]) ++n;
    n -= n % bs;
    if (n > best_len) best = src, best_len = n;
  }
  return {best, best_len};
}

void Scheduler::preempt(Req* victim) {
  engine_.remove_sequence(*victim->seq);
  victim->seq.reset();
  victim->n_computed = 0;
  victim->decoding = false;
  ++victim->preemptions;
  ++counters_.preemptions;
  running_.erase(std::remove(running_.begin(), running_.end(), victim), running_.end());
  waiting_.push_front(victim);
}

void Scheduler::preempt_for_priority(const PolicyDecision&, int32_t cap, StepReport& report) {
  std::vector<Req*> order = admission_order(true);
  if (order.empty()) return;
  Req* c = order.front();
  const int32_t whole = engine_.kv().blocks_for_tokens(static_cast<int32_t>(c->tokens.size()));
  if (whole > engine_.kv().stats().total_blocks - watermark_blocks_) return;  // admission reports it
  sort_running();
  while (!(static_cast<int32_t>(running_.size()) < cap && fits_to_admit(*c, 0))) {
    if (running_.empty() || running_.back()->in.priority >= c->in.priority) return;
    preempt(running_.back());
    ++report.preempted;
  }
}

StepReport Scheduler::step() {
  std::lock_guard<std::mutex> loop(loop_mu_);
  SteppingMark mark(this);
  StepReport report;
  const int64_t finished_before = counters_.finished;
  const double now = clock_->now_ms();
  process_cancels(now);  // also takes the inbox
  for (auto it = reqs_.begin(); it != reqs_.end();) {
    Req* r = (it++)->second.get();  // finish() erases r's entry
    if (r->in.deadline_ms && now >= *r->in.deadline_ms)
      finish(r, RequestOutcome::kError, deadline_exceeded("the request's deadline passed before it finished"), now);
  }

  const PolicyDecision d = policy_->decide(policy_input(now));
  int32_t cap = config_.max_num_seqs;
  if (d.max_batch > 0) cap = std::min(cap, d.max_batch);
  if (d.admit_now && d.preempt_lower_priority) preempt_for_priority(d, cap, report);

  KvBlockManager& kv = engine_.kv();
  const int32_t total_blocks = kv.stats().total_blocks;
  int32_t budget = config_.max_num_batched_tokens;
  int32_t planned = 0;  // blocks this batch will allocate
  bool out_of_blocks = false;
  std::vector<Req*> batch;
  sort_running();
  for (size_t i = 0; i < running_.size() && budget > 0;) {
    Req* r = running_[i];
    const int32_t n = std::min(r->pending(), budget);
    const int32_t need = kv.blocks_needed(*r->seq, n);
    if (need > kv.free_blocks() - planned) {
      Req* victim = running_.back();
      if (victim == r && batch.empty()) {
        // Alone and still too big: waiting would never help.
        finish(r, RequestOutcome::kError,
               resource_exhausted("the KV cache (" + std::to_string(total_blocks) + " blocks of " +
                                  std::to_string(kv.block_size()) + " tokens) cannot hold this sequence of " +
                                  std::to_string(r->tokens.size()) + " tokens; raise kv_cache_tokens"),
               now);
        break;
      }
      preempt(victim);
      ++report.preempted;
      out_of_blocks = true;
      if (victim == r) break;
      continue;
    }
    r->scheduled_tokens = n;
    planned += need;
    budget -= n;
    batch.push_back(r);
    ++i;
  }

  // No admissions in an iteration that had to preempt: they would be the next victims.
  if (d.admit_now && !out_of_blocks) {
    for (Req* c : admission_order(d.priority_order)) {
      if (static_cast<int32_t>(running_.size()) >= cap || budget <= 0) break;
      const int32_t whole = kv.blocks_for_tokens(static_cast<int32_t>(c->tokens.size()));
      if (whole > total_blocks - watermark_blocks_) {
        finish(c, RequestOutcome::kError,
               resource_exhausted("the prompt needs " + std::to_string(whole) + " KV blocks; the cache has " +
                                  std::to_string(total_blocks) + " (" + std::to_string(watermark_blocks_) +
                                  " kept free); raise kv_cache_tokens or shorten the prompt"),
               now);
        continue;
      }
      auto [src, shared] = config_.enable_prefix_sharing ? find_shared_prefix(*c) : std::pair<Req*, int32_t>{nullptr, 0};
      if (whole - shared / kv.block_size() > kv.free_blocks() - planned - watermark_blocks_) break;
      if (src) {
        // Forked blocks past the shared prefix are released at once by the truncate.
        auto forked = engine_.fork_sequence(*src->seq);
        EFFITUNE_CHECK(forked.ok(), forked.status().to_string());
        c->seq = *forked;
        engine_.truncate_sequence(*c->seq, shared);
        counters_.prefix_shared_tokens += shared;
      } else {
        c->seq = engine_.add_sequence();
      }
      c->n_computed = shared;
      const int32_t n = std::min(c->pending(), budget);
      c->scheduled_tokens = n;
      if (c->first_scheduled_ms < 0) c->first_scheduled_ms = now;
      waiting_.erase(std::find(waiting_.begin(), waiting_.end(), c));
      running_.push_back(c);
      batch.push_back(c);
      planned += kv.blocks_needed(*c->seq, n);
      budget -= n;
      ++report.admitted;
    }
  }

  if (!batch.empty()) {
    std::vector<StepRequest> reqs;
    reqs.reserve(batch.size());
    for (Req* r : batch) {
      reqs.push_back({*r->seq, std::span<const int32_t>(r->tokens.data() + r->n_computed, r->scheduled_tokens), false});
      report.batch_tokens += r->scheduled_tokens;
    }
    report.dispatched = true;
    report.batch_sequences = static_cast<int32_t>(batch.size());
    // On a device sampler the step returns one id per request instead of a logits row each. The
    // draw's counter is the request's generated-token count, so its tokens do not depend on the batch.
    const bool on_device = engine_.samples_on_device();
    std::vector<RowSampling> params;
    if (on_device) {
      params.reserve(batch.size());
      for (Req* r : batch)
        params.push_back(r->scheduled_tokens == r->pending()
                             ? row_sampling(r->in.decoding, static_cast<uint64_t>(r->generated()))
                             : RowSampling{});  // mid-prompt: the id is not used
    }
    std::vector<float> logits;
    std::vector<int32_t> ids;
    const double t0 = clock_->now_ms();
    Status s = on_device ? engine_.step_sample(reqs, params, ids) : engine_.step(reqs, logits);
    const double t1 = clock_->now_ms();
    report.step_ms = t1 - t0;
    ++counters_.steps;
    const size_t vocab = static_cast<size_t>(engine_.model().vocab_size);
    for (size_t i = 0; i < batch.size(); ++i) {
      Req* r = batch[i];
      const int32_t n = r->scheduled_tokens;
      r->scheduled_tokens = 0;
      if (!s.ok()) {
        finish(r, RequestOutcome::kError, s.with_context("engine step"), t1);
        continue;
      }
      if (!r->decoding) counters_.prompt_tokens_computed += n;
      r->n_computed += n;
      if (r->pending() != 0) continue;
      if (on_device) advance(r, ids[i], t1, report);
      else sample_and_advance(r, logits.data() + i * vocab, t1, report);
    }
  }
  process_cancels(clock_->now_ms());  // those that arrived from other threads during the step
  report.finished = static_cast<int32_t>(counters_.finished - finished_before);
  publish_stats();
  return report;
}

void Scheduler::sample_and_advance(Req* r, const float* logits, double now, StepReport& report) {
  const size_t vocab = static_cast<size_t>(engine_.model().vocab_size);
  advance(r, r->sampler->sample(std::span<const float>(logits, vocab)), now, report);
}

void Scheduler::advance(Req* r, int32_t token, double now, StepReport&) {
  const ModelConfig& model = engine_.model();
  if (r->first_sample_ms < 0) r->first_sample_ms = now;
  if (r->in.decoding.stop_at_eos && model.eos_id >= 0 && token == model.eos_id) {
    finish(r, RequestOutcome::kStop, {}, now);
    return;
  }
  r->tokens.push_back(token);
  r->decoding = true;
  r->token_ms.push_back(now - r->arrival_ms);
  ++counters_.generated_tokens;
  RequestEvent ev;
  ev.kind = RequestEvent::Kind::kToken;
  ev.id = r->id;
  ev.token = token;
  emit(*r, std::move(ev));

  const Tokenizer* tok = engine_.tokenizer();
  if (tok && !r->in.decoding.stop_strings.empty()) {
    const std::string text = tok->decode(std::vector<int32_t>(r->tokens.begin() + r->prompt_len, r->tokens.end()));
    for (const auto& s : r->in.decoding.stop_strings) {
      if (text.find(s) != std::string::npos) {
        finish(r, RequestOutcome::kStop, {}, now);
        return;
      }
    }
  }
  if (r->generated() >= r->budget) finish(r, RequestOutcome::kLength, {}, now);
}

}  // namespace effitune::engine
