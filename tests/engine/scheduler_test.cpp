// Scheduler behaviour on a scripted backend: admission control, cancellation, preemption by
// recompute (checked against one-request-at-a-time generate()), timings on a fake clock, endings,
// and zero leaked KV blocks after every test.
#include "effitune/engine/scheduler.h"

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <thread>

#include "effitune/engine/generate.h"
#include "support/scripted_backend.h"

namespace effitune::engine {
namespace {

constexpr int32_t kVocab = 32;

std::vector<float> hash_logits(const std::vector<int32_t>& h) {
  uint64_t x = 88172645463325252ull;
  for (int32_t t : h) x = (x ^ static_cast<uint64_t>(t)) * 1099511628211ull;
  std::vector<float> l(kVocab);
  for (auto& v : l) {
    x ^= x >> 31, x *= 0x9e3779b97f4a7c15ull, x ^= x >> 29;
    v = static_cast<float>((x % 10000) / 1000.0);
  }
  return l;
}

// Advances a fake clock by a fixed time per forward pass: the scripted step timing.
class TimedBackend : public Backend {
 public:
  TimedBackend(std::unique_ptr<Backend> inner, ManualClock* clock, double ms_per_step)
      : inner_(std::move(inner)), clock_(clock), ms_(ms_per_step) {}
  std::string name() const override { return inner_->name(); }
  std::string device_name() const override { return inner_->device_name(); }
  Status forward(std::span<const SequenceStep> steps, std::vector<float>& logits) override {
    if (clock_) clock_->advance_ms(ms_);
    return inner_->forward(steps, logits);
  }
  void copy_block(int32_t src, int32_t dst) override { inner_->copy_block(src, dst); }
  int64_t kv_bytes_per_block() const override { return inner_->kv_bytes_per_block(); }
  int64_t weight_bytes() const override { return 0; }

 private:
  std::unique_ptr<Backend> inner_;
  ManualClock* clock_;
  double ms_;
};

struct Rig {
  std::unique_ptr<Engine> engine;
  ManualClock clock;
  std::unique_ptr<Scheduler> sched;

  Rig(int32_t kv_blocks, SchedulerConfig config, std::string policy = "continuous", int32_t eos = -1,
      testing::ScriptFn script = hash_logits, int32_t context = 256) {
    auto scripted = std::make_unique<testing::ScriptedBackend>(kVocab, kv_blocks, 4, std::move(script));
    auto backend = std::make_unique<TimedBackend>(std::move(scripted), &clock, 10.0);
    engine = Engine::create_with_backend(testing::config_only_weights(kVocab, context, eos), std::move(backend), context,
                                         kv_blocks, 4)
                 .value();
    sched = Scheduler::create(*engine, config, make_batch_policy(policy).value(), &clock).value();
  }
  ~Rig() {
    if (sched) {
      for (int i = 0; i < 10000 && !sched->idle(); ++i) sched->step();
      EXPECT_TRUE(sched->idle());
      sched.reset();
    }
    EXPECT_EQ(engine->kv_stats().used_blocks, 0) << "leaked KV blocks";
  }
  // Steps until idle; returns each request's finish event.
  std::map<RequestId, RequestEvent> drain() {
    std::map<RequestId, RequestEvent> done;
    for (int i = 0; i < 10000 && !sched->idle(); ++i) {
      sched->step();
      for (auto& ev : sched->poll_events())
        if (ev.kind == RequestEvent::Kind::kFinish) done[ev.id] = std::move(ev);
    }
    for (auto& ev : sched->poll_events())
      if (ev.kind == RequestEvent::Kind::kFinish) done[ev.id] = std::move(ev);
    return done;
  }
};

InferenceRequest request(std::vector<int32_t> prompt, int32_t max_new) {
  InferenceRequest r;
  r.prompt = std::move(prompt);
  r.decoding.max_new_tokens = max_new;
  return r;
}

std::vector<int32_t> prompt_of(int32_t len, int32_t salt) {
  std::vector<int32_t> p;
  for (int32_t i = 0; i < len; ++i) p.push_back(1 + (salt * 13 + i * 7) % (kVocab - 1));
  return p;
}

SchedulerConfig config(int32_t seqs, int32_t waiting = 256) {
  SchedulerConfig c;
  c.max_num_seqs = seqs;
  c.max_waiting = waiting;
  c.kv_watermark = 0;
  return c;
}

TEST(SchedulerTest, RejectsSubmissionsBeyondTheWaitingQueueBound) {
  Rig rig(64, config(2, /*waiting=*/3));
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(rig.sched->submit(request(prompt_of(4, i), 4)).ok());
  auto full = rig.sched->submit(request(prompt_of(4, 9), 4));
  EXPECT_EQ(full.status().code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(rig.sched->stats().rejected, 1);
  rig.sched->step();  // two start running, one still waits: room for two more
  EXPECT_EQ(rig.sched->stats().waiting, 1);
  EXPECT_TRUE(rig.sched->submit(request(prompt_of(4, 10), 4)).ok());
  EXPECT_TRUE(rig.sched->submit(request(prompt_of(4, 11), 4)).ok());
  EXPECT_EQ(rig.sched->submit(request(prompt_of(4, 12), 4)).status().code(), StatusCode::kResourceExhausted);
  auto done = rig.drain();
  EXPECT_EQ(done.size(), 5u);
}

TEST(SchedulerTest, ValidatesRequestsAtSubmit) {
  Rig rig(64, config(2), "continuous", -1, hash_logits, /*context=*/16);
  EXPECT_EQ(rig.sched->submit(request({}, 4)).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(rig.sched->submit(request({1, kVocab}, 4)).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(rig.sched->submit(request(prompt_of(16, 0), 4)).status().code(), StatusCode::kOutOfRange);
  EXPECT_EQ(rig.sched->submit(request({1}, 0)).status().code(), StatusCode::kInvalidArgument);
  InferenceRequest beam = request({1, 2}, 4);
  beam.decoding.strategy = DecodingStrategy::kBeam;
  beam.decoding.beam_width = 2;
  EXPECT_EQ(rig.sched->submit(beam).status().code(), StatusCode::kUnimplemented);
  // The response budget is cut to the context, as generate() does: 16 - 10 = 6 tokens.
  ASSERT_TRUE(rig.sched->submit(request(prompt_of(10, 0), 100)).ok());
  auto done = rig.drain();
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done.begin()->second.tokens.size(), 6u);
  EXPECT_EQ(done.begin()->second.outcome, RequestOutcome::kLength);
}

TEST(SchedulerTest, CancelFreesTheSequencesBlocksAtOnce) {
  Rig rig(64, config(4));
  RequestId a = rig.sched->submit(request(prompt_of(9, 1), 50)).value();
  RequestId b = rig.sched->submit(request(prompt_of(5, 2), 50)).value();
  rig.sched->step();
  rig.sched->step();
  const int32_t used = rig.engine->kv_stats().used_blocks;
  EXPECT_EQ(used, 3 + 2);  // 10 and 6 tokens in blocks of 4
  ASSERT_TRUE(rig.sched->cancel(a).ok());
  EXPECT_EQ(rig.engine->kv_stats().used_blocks, 2) << "cancel must free the blocks before returning";
  EXPECT_EQ(rig.sched->running_ids(), std::vector<RequestId>{b});
  auto events = rig.sched->poll_events();
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().kind, RequestEvent::Kind::kFinish);
  EXPECT_EQ(events.back().outcome, RequestOutcome::kCancelled);
  EXPECT_EQ(events.back().tokens.size(), 2u);
  EXPECT_EQ(rig.sched->cancel(a).code(), StatusCode::kNotFound);
  // A request still in the queue is cancelled before it ever runs.
  RequestId c = rig.sched->submit(request(prompt_of(3, 3), 5)).value();
  ASSERT_TRUE(rig.sched->cancel(c).ok());
  ASSERT_TRUE(rig.sched->cancel(b).ok());
  EXPECT_EQ(rig.engine->kv_stats().used_blocks, 0);
  EXPECT_TRUE(rig.sched->idle());
  EXPECT_EQ(rig.sched->stats().cancelled, 3);
}

TEST(SchedulerTest, CallbacksStreamTokensAndMayCancelFromInside) {
  Rig rig(64, config(4));
  std::vector<int32_t> streamed;
  RequestEvent finish;
  Scheduler* sched = rig.sched.get();
  InferenceRequest r = request(prompt_of(6, 4), 40);
  RequestId id = 0;
  r.on_event = [&](const RequestEvent& ev) {
    if (ev.kind == RequestEvent::Kind::kToken) {
      streamed.push_back(ev.token);
      if (streamed.size() == 3) {
        EXPECT_TRUE(sched->cancel(id).ok());
      }
    } else {
      finish = ev;
    }
  };
  id = rig.sched->submit(std::move(r)).value();
  for (int i = 0; i < 10 && !rig.sched->idle(); ++i) rig.sched->step();
  EXPECT_TRUE(rig.sched->idle());
  EXPECT_EQ(streamed.size(), 3u);
  EXPECT_EQ(finish.outcome, RequestOutcome::kCancelled);
  EXPECT_EQ(finish.tokens, streamed);
  EXPECT_TRUE(rig.sched->poll_events().empty()) << "callback requests must not fill the polled list";
}

// Greedy outputs under heavy preemption equal those of each request run alone with generate().
TEST(SchedulerTest, PreemptionByRecomputeYieldsTheSameTokensAsRunningAlone) {
  const std::vector<std::pair<int32_t, int32_t>> shapes = {{5, 20}, {9, 14}, {3, 25}, {12, 10}, {7, 18}, {4, 22}};
  // 14 blocks of 4 tokens: the six sequences reach 24-28 tokens (6-7 blocks) each, so they cannot all fit.
  Rig tight(14, config(6));
  for (size_t i = 0; i < shapes.size(); ++i)
    ASSERT_TRUE(tight.sched->submit(request(prompt_of(shapes[i].first, i), shapes[i].second)).ok());
  auto done = tight.drain();
  EXPECT_GT(tight.sched->stats().preemptions, 0);

  auto solo_backend = std::make_unique<testing::ScriptedBackend>(kVocab, 64, 4, hash_logits);
  auto solo = Engine::create_with_backend(testing::config_only_weights(kVocab, 256, -1), std::move(solo_backend), 256, 64, 4)
                  .value();
  ASSERT_EQ(done.size(), shapes.size());
  int preempted_requests = 0;
  for (size_t i = 0; i < shapes.size(); ++i) {
    DecodingConfig greedy;
    greedy.max_new_tokens = shapes[i].second;
    auto ref = generate(*solo, prompt_of(shapes[i].first, i), greedy).value();
    const RequestEvent& ev = done.at(static_cast<RequestId>(i + 1));
    EXPECT_EQ(ev.tokens, ref.token_ids) << "request " << i + 1 << " (" << ev.preemptions << " preemptions)";
    EXPECT_EQ(ev.outcome, RequestOutcome::kLength);
    preempted_requests += ev.preemptions > 0;
  }
  EXPECT_GT(preempted_requests, 0);
}

// A sampled request keeps its RNG across a preemption, so its stream equals an unpreempted run.
TEST(SchedulerTest, SampledRequestsAreReproducibleAcrossPreemption) {
  auto run = [](int32_t kv_blocks, int64_t* preemptions) {
    Rig rig(kv_blocks, config(4));
    for (int i = 0; i < 4; ++i) {
      InferenceRequest r = request(prompt_of(6, i), 20);
      r.decoding.strategy = DecodingStrategy::kSample;
      r.decoding.temperature = 1.0f;
      r.decoding.seed = 100 + i;
      EXPECT_TRUE(rig.sched->submit(std::move(r)).ok());
    }
    auto done = rig.drain();
    *preemptions = rig.sched->stats().preemptions;
    std::vector<std::vector<int32_t>> out;
    for (auto& [id, ev] : done) out.push_back(ev.tokens);
    return out;
  };
  int64_t p_tight = 0, p_roomy = 0;
  auto tight = run(10, &p_tight);
  auto roomy = run(64, &p_roomy);
  EXPECT_GT(p_tight, 0);
  EXPECT_EQ(p_roomy, 0);
  EXPECT_EQ(tight, roomy);
}

TEST(SchedulerTest, ReportsQueueTimeTtftAndTokenTimesOnTheFakeClock) {
  // Each forward pass takes 10 ms. One slot: request 2 waits for request 1's three steps.
  Rig rig(64, config(1));
  ASSERT_TRUE(rig.sched->submit(request(prompt_of(4, 0), 3)).ok());
  ASSERT_TRUE(rig.sched->submit(request(prompt_of(4, 1), 2)).ok());
  auto done = rig.drain();
  const RequestTimings& t1 = done.at(1).timings;
  EXPECT_DOUBLE_EQ(t1.queue_ms, 0);
  EXPECT_DOUBLE_EQ(t1.ttft_ms, 10);
  EXPECT_EQ(t1.token_ms, (std::vector<double>{10, 20, 30}));
  EXPECT_DOUBLE_EQ(t1.e2e_ms, 30);
  const RequestTimings& t2 = done.at(2).timings;
  EXPECT_DOUBLE_EQ(t2.queue_ms, 30);
  EXPECT_DOUBLE_EQ(t2.ttft_ms, 40);
  EXPECT_EQ(t2.token_ms, (std::vector<double>{40, 50}));
  EXPECT_EQ(rig.sched->stats().generated_tokens, 5);
  EXPECT_EQ(rig.sched->stats().prompt_tokens_computed, 8);
}

TEST(SchedulerTest, EosEndsWithStopAndIsNotEmitted) {
  constexpr int32_t kEos = 0;
  // Token 5 follows any history shorter than 6, then EOS.
  auto script = [](const std::vector<int32_t>& h) {
    std::vector<float> l(kVocab, 0.0f);
    l[h.size() < 6 ? 5 : kEos] = 10.0f;
    return l;
  };
  Rig rig(64, config(2), "continuous", kEos, script);
  ASSERT_TRUE(rig.sched->submit(request({1, 2, 3}, 10)).ok());
  auto done = rig.drain();
  EXPECT_EQ(done.at(1).outcome, RequestOutcome::kStop);
  EXPECT_EQ(done.at(1).tokens, (std::vector<int32_t>{5, 5, 5}));
}

TEST(SchedulerTest, DeadlinesAndOversizedRequestsEndWithErrorsInsteadOfHanging) {
  Rig rig(4, config(2));  // 16 tokens of KV
  InferenceRequest late = request(prompt_of(4, 0), 10);
  late.deadline_ms = 25;
  ASSERT_TRUE(rig.sched->submit(std::move(late)).ok());
  ASSERT_TRUE(rig.sched->submit(request(prompt_of(4, 1), 30)).ok());  // grows past 16 tokens alone
  auto done = rig.drain();
  EXPECT_EQ(done.at(1).outcome, RequestOutcome::kError);
  EXPECT_EQ(done.at(1).error.code(), StatusCode::kDeadlineExceeded);
  EXPECT_EQ(done.at(2).outcome, RequestOutcome::kError);
  EXPECT_EQ(done.at(2).error.code(), StatusCode::kResourceExhausted);
  EXPECT_GE(done.at(2).tokens.size(), 12u);
  EXPECT_EQ(rig.sched->stats().errors, 2);
}

TEST(SchedulerTest, ConcurrentSubmittersAndOneLoopThreadLoseNothing) {
  Rig rig(40, config(6, /*waiting=*/1000));
  std::atomic<int> finished{0}, rejected{0};
  std::atomic<bool> stop{false};
  std::thread loop([&] {
    while (!stop.load()) {
      rig.sched->step();
      for (const auto& ev : rig.sched->poll_events())
        if (ev.kind == RequestEvent::Kind::kFinish) ++finished;
      std::this_thread::yield();
    }
  });
  std::vector<std::thread> clients;
  std::atomic<int> cancelled_ok{0};
  for (int c = 0; c < 4; ++c) {
    clients.emplace_back([&, c] {
      for (int i = 0; i < 50; ++i) {
        auto id = rig.sched->submit(request(prompt_of(3 + (i % 7), c * 100 + i), 1 + (i % 9)));
        if (!id.ok()) {
          ++rejected;
          continue;
        }
        if (i % 10 == 0 && rig.sched->cancel(*id).ok()) ++cancelled_ok;
      }
    });
  }
  for (auto& t : clients) t.join();
  for (int i = 0; i < 2000 && finished.load() + rejected.load() < 200; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  stop = true;
  loop.join();
  EXPECT_EQ(finished.load() + rejected.load(), 200);
  EXPECT_EQ(rig.sched->stats().finished, finished.load());
}

TEST(SchedulerTest, WaitForWorkWakesOnSubmitAndCancelAllEndsEverything) {
  Rig rig(64, config(2));
  EXPECT_FALSE(rig.sched->wait_for_work(1));
  std::thread submitter([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    EXPECT_TRUE(rig.sched->submit(request(prompt_of(4, 0), 30)).ok());
  });
  EXPECT_TRUE(rig.sched->wait_for_work(10000));
  submitter.join();
  for (int i = 1; i < 4; ++i) ASSERT_TRUE(rig.sched->submit(request(prompt_of(4, i), 30)).ok());
  rig.sched->step();
  EXPECT_TRUE(rig.sched->wait_for_work(0));
  EXPECT_GT(rig.engine->kv_stats().used_blocks, 0);
  rig.sched->cancel_all();
  int cancelled = 0;
  for (const auto& ev : rig.sched->poll_events())
    cancelled += ev.kind == RequestEvent::Kind::kFinish && ev.outcome == RequestOutcome::kCancelled;
  EXPECT_EQ(cancelled, 4);
  EXPECT_TRUE(rig.sched->idle());
  EXPECT_EQ(rig.engine->kv_stats().used_blocks, 0);
  EXPECT_FALSE(rig.sched->wait_for_work(0));
}

// B extends A's prompt; C shares A's first 10 tokens (two whole blocks of 4). With sharing they hold
// 4 + 1 + 1 blocks after the second step instead of 4 + 4 + 3, and still decode exactly as alone.
TEST(SchedulerTest, PromptsSharingWholeBlocksReuseTheirKv) {
  const std::vector<int32_t> p = prompt_of(12, 5);
  std::vector<int32_t> pb = p;
  pb.insert(pb.end(), {3, 4});
  std::vector<int32_t> pc(p.begin(), p.begin() + 10);
  pc.insert(pc.end(), {9, 9});
  for (bool sharing : {true, false}) {
    SCOPED_TRACE(sharing ? "sharing" : "no sharing");
    SchedulerConfig c = config(4);
    c.enable_prefix_sharing = sharing;
    Rig rig(64, c);
    ASSERT_TRUE(rig.sched->submit(request(p, 6)).ok());
    rig.sched->step();
    ASSERT_TRUE(rig.sched->submit(request(pb, 6)).ok());
    ASSERT_TRUE(rig.sched->submit(request(pc, 6)).ok());
    rig.sched->step();
    EXPECT_EQ(rig.engine->kv_stats().used_blocks, sharing ? 6 : 11);
    EXPECT_EQ(rig.sched->stats().prefix_shared_tokens, sharing ? 12 + 8 : 0);
    auto done = rig.drain();

    auto solo_backend = std::make_unique<testing::ScriptedBackend>(kVocab, 64, 4, hash_logits);
    auto solo =
        Engine::create_with_backend(testing::config_only_weights(kVocab, 256, -1), std::move(solo_backend), 256, 64, 4).value();
    DecodingConfig greedy;
    greedy.max_new_tokens = 6;
    EXPECT_EQ(done.at(1).tokens, generate(*solo, p, greedy).value().token_ids);
    EXPECT_EQ(done.at(2).tokens, generate(*solo, pb, greedy).value().token_ids);
    EXPECT_EQ(done.at(3).tokens, generate(*solo, pc, greedy).value().token_ids);
  }
}

TEST(SchedulerTest, CreateRejectsBadKnobs) {
  auto backend = std::make_unique<testing::ScriptedBackend>(kVocab, 8, 4, hash_logits);
  auto engine =
      Engine::create_with_backend(testing::config_only_weights(kVocab, 64, -1), std::move(backend), 64, 8, 4).value();
  SchedulerConfig c;
  c.max_num_batched_tokens = 0;
  auto r = Scheduler::create(*engine, c, make_batch_policy("continuous").value());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("max_num_batched_tokens"), std::string::npos);
  EXPECT_EQ(Scheduler::create(*engine, SchedulerConfig{}, nullptr).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace effitune::engine
