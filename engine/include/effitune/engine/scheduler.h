// The serving scheduler: iteration-level (continuous) batching over one Engine.
//
// Each step() builds one engine batch: the running sequences first (one decode token each, or the
// next chunk of a prefill), then new admissions from the waiting queue, within a per-step token
// budget (chunked prefill) and a running-sequence cap. A request is admitted only when its whole
// prompt fits in the free KV blocks above a watermark. When blocks run out during decode, the
// lowest-priority, latest-arriving running request is preempted by recompute: its KV is dropped and
// it returns to the front of the waiting queue with its generated tokens appended to its prompt.
// Prompts that begin with whole KV blocks a running sequence already holds share those blocks.
// The BatchPolicy decides whether to admit now and the batch cap; the scheduler enforces KV/token limits.
//
// Threads: submit(), cancel(), poll_events() and stats() are thread-safe. step() and the other
// accessors belong to one loop thread. Event callbacks run inside step() on the loop thread, except
// the finish event of a request cancelled from another thread, which runs inside that cancel(); never
// two at once. Callbacks may call submit() and cancel() but must not call step() or block on another
// thread that calls cancel().
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "effitune/common/status.h"
#include "effitune/engine/batch_policy.h"
#include "effitune/engine/engine.h"
#include "effitune/engine/sampling.h"

namespace effitune::engine {

// Milliseconds on a monotonic clock; injectable so tests script time. Implementations are thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual double now_ms() const = 0;
};

class SteadyClock : public Clock {
 public:
  double now_ms() const override;
};

// A clock that moves only when told (tests, simulations).
class ManualClock : public Clock {
 public:
  double now_ms() const override;
  void set_ms(double t);
  void advance_ms(double dt);

 private:
  mutable std::mutex mu_;
  std::condition_variable work_cv_;  // signalled by submit() and cancel()
  bool loop_has_work_ = false;       // waiting or running requests, as of the last publish
  double t_ms_ = 0;
};

using RequestId = int64_t;

enum class RequestOutcome { kStop, kLength, kError, kCancelled };
const char* request_outcome_name(RequestOutcome o);  // "stop", "length", "error", "cancelled"

// All times in ms on the scheduler's clock; durations are measured from the request's arrival.
struct RequestTimings {
  double arrival_ms = 0;
  double queue_ms = -1;               // arrival to first scheduled step; -1 if never scheduled
  double ttft_ms = -1;                // arrival to the first generated token; -1 if none
  std::vector<double> token_ms;       // arrival to each generated token (inter-token gaps = diffs)
  double e2e_ms = 0;                  // arrival to finish
};

struct RequestEvent {
  enum class Kind { kToken, kFinish };
  Kind kind = Kind::kToken;
  RequestId id = 0;
  int32_t token = -1;  // kToken: the new token (EOS is never emitted)
  // kFinish only:
  RequestOutcome outcome = RequestOutcome::kLength;
  Status error;                  // kError: why (kDeadlineExceeded, kResourceExhausted, an engine error)
  std::vector<int32_t> tokens;   // every generated token
  std::string text;              // decoded, cut at a stop string, when the engine has a tokenizer
  int32_t prompt_tokens = 0;
  int32_t preemptions = 0;       // times this request was preempted and recomputed
  RequestTimings timings;
};

using EventCallback = std::function<void(const RequestEvent&)>;

struct InferenceRequest {
  std::vector<int32_t> prompt;        // token ids, non-empty, shorter than the context
  DecodingConfig decoding;            // greedy or sampling; beam is kUnimplemented here
  int32_t priority = 0;               // higher classes go first under priority-aware policies
  std::optional<double> arrival_ms;   // defaults to the clock at submit()
  std::optional<double> deadline_ms;  // absolute; past it the request finishes with kError/kDeadlineExceeded
  EventCallback on_event;             // null: events go to poll_events()
};

struct SchedulerConfig {
  int32_t max_num_seqs = 8;              // running-sequence cap (also bounded by the policy's cap)
  int32_t max_num_batched_tokens = 512;  // per-step token budget: decodes + prefill chunks
  int32_t max_waiting = 256;             // bounded queue; submit() beyond it is kResourceExhausted
  double kv_watermark = 0.01;            // fraction of KV blocks kept free when admitting
  // A new request whose prompt starts with whole KV blocks that a running sequence already computed
  // shares those blocks (fork + truncate; reference-counted) and computes only the rest.
  bool enable_prefix_sharing = true;
};

struct StepReport {
  bool dispatched = false;  // an engine batch ran
  int32_t batch_sequences = 0;
  int32_t batch_tokens = 0;
  int32_t admitted = 0;
  int32_t preempted = 0;
  int32_t finished = 0;
  double step_ms = 0;  // clock time around the engine call
};

struct SchedulerStats {
  int32_t waiting = 0;
  int32_t running = 0;
  int64_t submitted = 0, rejected = 0, finished = 0, cancelled = 0, errors = 0;
  int64_t preemptions = 0;
  int64_t steps = 0;             // iterations that dispatched a batch
  int64_t prompt_tokens_computed = 0;  // prefill tokens run (recompute included)
  int64_t generated_tokens = 0;
  int64_t prefix_shared_tokens = 0;    // prompt tokens taken from another sequence's KV blocks
  int32_t kv_used_blocks = 0, kv_free_blocks = 0, kv_total_blocks = 0;
};

class Scheduler {
 public:
  // The scheduler borrows `engine` and `clock` (null = a SteadyClock it owns); both must outlive it.
  // kInvalidArgument for a bad config knob (named) or a null policy.
  static Result<std::unique_ptr<Scheduler>> create(Engine& engine, const SchedulerConfig& config,
                                                   std::unique_ptr<BatchPolicy> policy, const Clock* clock = nullptr);
  ~Scheduler();

  // Queues a request and returns its id (1, 2, ... in submit order). kResourceExhausted when the
  // waiting queue is full; kInvalidArgument for an empty prompt, a token id outside the vocabulary or
  // a bad DecodingConfig; kOutOfRange when the prompt does not fit the context; kUnimplemented for beam.
  Result<RequestId> submit(InferenceRequest request);

  // Finishes the request with kCancelled and frees its KV blocks before returning (waiting for a
  // step() in progress on another thread to end). Called from an event callback, it takes effect at
  // the end of the current step(). kNotFound for an unknown or finished id.
  Status cancel(RequestId id);

  // Runs one iteration at the clock's current time. Never fails for a request's sake: engine errors
  // finish the affected requests with kError.
  StepReport step();

  // Loop thread: blocks until there is something to step (a submission, a cancel, or waiting or
  // running requests) or `timeout_ms` passes; true when there is work. Lets an idle loop sleep. While
  // requests wait on the policy (a time window, a static batch) it returns at once: a loop whose last
  // step() dispatched nothing should sleep briefly itself.
  bool wait_for_work(double timeout_ms);

  // Loop thread: finishes every request (queued, waiting, running) with kCancelled and frees its KV.
  // For shutdown after a grace period.
  void cancel_all();

  // Events of requests submitted without a callback, oldest first; clears them.
  std::vector<RequestEvent> poll_events();
  SchedulerStats stats() const;

  // Loop-thread accessors, for tests and metrics.
  bool idle() const;  // nothing queued, waiting or running
  std::vector<RequestId> running_ids() const;   // ascending
  std::vector<RequestId> waiting_ids() const;   // queue order
  const BatchPolicy& policy() const { return *policy_; }

 private:
  struct Req;
  Scheduler(Engine& engine, const SchedulerConfig& config, std::unique_ptr<BatchPolicy> policy, const Clock* clock);

  void take_inbox(double now);
  void process_cancels(double now);
  void expire_deadlines(double now);
  PolicyInput policy_input(double now) const;
  std::vector<Req*> admission_order(bool by_priority) const;
  void sort_running();
  bool fits_to_admit(const Req& r, int32_t planned_blocks) const;
  std::pair<Req*, int32_t> find_shared_prefix(const Req& r) const;
  void preempt(Req* victim);
  void preempt_for_priority(const PolicyDecision& d, int32_t cap, StepReport& report);
  void sample_and_advance(Req* r, const float* logits, double now, StepReport& report);
  void advance(Req* r, int32_t token, double now, StepReport& report);  // r's next token is `token`
  void finish(Req* r, RequestOutcome outcome, Status error, double now);
  void emit(const Req& r, RequestEvent ev);
  void publish_stats();

  Engine& engine_;
  SchedulerConfig config_;
  std::unique_ptr<BatchPolicy> policy_;
  std::unique_ptr<Clock> own_clock_;
  const Clock* clock_;
  int32_t watermark_blocks_ = 0;

  // Loop-thread state.
  std::unordered_map<RequestId, std::unique_ptr<Req>> reqs_;
  std::deque<Req*> waiting_;
  std::vector<Req*> running_;
  SchedulerStats counters_;

  // Shared with submitting threads, under mu_.
  mutable std::mutex mu_;
  std::condition_variable work_cv_;  // signalled by submit() and cancel()
  bool loop_has_work_ = false;       // waiting or running requests, as of the last publish
  std::vector<std::unique_ptr<Req>> inbox_;
  std::vector<RequestId> cancels_;
  std::unordered_set<RequestId> live_;
  std::vector<RequestEvent> events_;
  SchedulerStats published_;
  int32_t waiting_published_ = 0;
  RequestId next_id_ = 1;
  int64_t submitted_ = 0, rejected_ = 0;

  // Held for the duration of step() and by cancel() when it frees blocks itself.
  std::mutex loop_mu_;
};

}  // namespace effitune::engine
