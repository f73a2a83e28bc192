// Every batch policy driven through the Scheduler, iteration by iteration, against hand-derived
// expected-state tables (in the style of TensorRT-LLM's capacitySchedulerTest.cpp). The fake clock is
// set to each row's time before the step; each request generates exactly max_new tokens (no EOS), so a
// request admitted at iteration k with max_new m and an unchunked prompt finishes at iteration k+m-1.
#include "effitune/engine/batch_policy.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "effitune/engine/scheduler.h"
#include "support/scripted_backend.h"

namespace effitune::engine {
namespace {

struct Arrival {
  int32_t prompt_len = 4;
  int32_t max_new = 1;
  int32_t priority = 0;
};

struct Row {
  int iteration;
  double time_ms;
  std::vector<Arrival> arrivals;  // submitted at time_ms; ids continue 1, 2, ...
  std::vector<RequestId> running;   // after the step, ascending
  std::vector<RequestId> waiting;   // after the step, queue order
  std::vector<RequestId> finished;  // during the step, ascending
  int64_t preemptions;              // cumulative
};

struct TableSetup {
  int32_t kv_blocks = 64;
  int32_t block_size = 4;
  SchedulerConfig config;
};

std::vector<float> hash_logits(const std::vector<int32_t>& h) {
  uint64_t x = 1469598103934665603ull;
  for (int32_t t : h) x = (x ^ static_cast<uint64_t>(t)) * 1099511628211ull;
  std::vector<float> l(32);
  for (auto& v : l) {
    x ^= x >> 33, x *= 0xff51afd7ed558ccdull, x ^= x >> 33;
    v = static_cast<float>((x % 10000) / 1000.0);
  }
  return l;
}

void run_table(std::unique_ptr<BatchPolicy> policy, const TableSetup& setup, const std::vector<Row>& rows) {
  auto backend = std::make_unique<testing::ScriptedBackend>(32, setup.kv_blocks, setup.block_size, hash_logits);
  auto engine = Engine::create_with_backend(testing::config_only_weights(32, 256, -1), std::move(backend), 256,
                                            setup.kv_blocks, setup.block_size)
                    .value();
  ManualClock clock;
  auto sched = Scheduler::create(*engine, setup.config, std::move(policy), &clock).value();
  int32_t submitted = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    const Row& row = rows[i];
    SCOPED_TRACE("iteration " + std::to_string(row.iteration) + " at " + std::to_string(row.time_ms) + " ms");
    ASSERT_EQ(row.iteration, static_cast<int>(i)) << "table rows must be consecutive";
    clock.set_ms(row.time_ms);
    for (const Arrival& a : row.arrivals) {
      InferenceRequest req;
      for (int32_t j = 0; j < a.prompt_len; ++j) req.prompt.push_back(1 + (submitted * 5 + j) % 31);
      req.decoding.max_new_tokens = a.max_new;
      req.priority = a.priority;
      ASSERT_EQ(sched->submit(std::move(req)).value(), ++submitted);
    }
    sched->step();
    std::vector<RequestId> finished;
    for (const RequestEvent& ev : sched->poll_events()) {
      if (ev.kind != RequestEvent::Kind::kFinish) continue;
      EXPECT_EQ(ev.outcome, RequestOutcome::kLength) << "request " << ev.id << ": " << ev.error.to_string();
      finished.push_back(ev.id);
    }
    std::sort(finished.begin(), finished.end());
    EXPECT_EQ(sched->running_ids(), row.running);
    EXPECT_EQ(sched->waiting_ids(), row.waiting);
    EXPECT_EQ(finished, row.finished);
    EXPECT_EQ(sched->stats().preemptions, row.preemptions);
  }
  for (int i = 0; i < 1000 && !sched->idle(); ++i) {
    clock.advance_ms(1000);
    sched->step();
  }
  EXPECT_TRUE(sched->idle());
  sched.reset();
  EXPECT_EQ(engine->kv_stats().used_blocks, 0) << "leaked KV blocks";
  EXPECT_EQ(engine->kv_stats().sequences, 0);
}

std::unique_ptr<BatchPolicy> policy(const std::string& name, const PolicyParams& p) {
  auto r = make_batch_policy(name, p);
  EFFITUNE_CHECK(r.ok(), r.status().to_string());
  return std::move(r).value();
}

TableSetup with_seqs(int32_t max_num_seqs) {
  TableSetup s;
  s.config.max_num_seqs = max_num_seqs;
  return s;
}

TEST(BatchPolicyTable, ContinuousRefillsAFreedSlotAtTheNextIteration) {
  run_table(policy("continuous", {}), with_seqs(2),
            {
                {0, 0, {{4, 3}, {4, 2}, {4, 2}}, {1, 2}, {3}, {}, 0},
                {1, 10, {}, {1}, {3}, {2}, 0},
                {2, 20, {}, {3}, {}, {1}, 0},
                {3, 30, {}, {}, {}, {3}, 0},
            });
}

TEST(BatchPolicyTable, ContinuousChunksPrefillWithinTheTokenBudget) {
  TableSetup s = with_seqs(4);
  s.config.max_num_batched_tokens = 6;
  // 1's 10-token prompt takes 6 then 4 tokens; 2's 3-token prompt gets the 2 left at iteration 1.
  run_table(policy("continuous", {}), s,
            {
                {0, 0, {{10, 2}, {3, 2}}, {1}, {2}, {}, 0},
                {1, 10, {}, {1, 2}, {}, {}, 0},
                {2, 20, {}, {2}, {}, {1}, 0},
                {3, 30, {}, {}, {}, {2}, 0},
            });
}

TEST(BatchPolicyTable, ContinuousPreemptsTheLatestArrivalWhenBlocksRunOut) {
  // 5 blocks of 4 tokens. Each request reaches 9 KV tokens (3 blocks) when it feeds its 5th token at
  // iteration 5: 1 takes the last free block, 2 is preempted and recomputes 4 + 5 = 9 tokens once
  // 1 has finished and freed its blocks.
  TableSetup s = with_seqs(4);
  s.kv_blocks = 5;
  s.config.kv_watermark = 0;
  run_table(policy("continuous", {}), s,
            {
                {0, 0, {{4, 8}, {4, 8}}, {1, 2}, {}, {}, 0},
                {1, 10, {}, {1, 2}, {}, {}, 0},
                {2, 20, {}, {1, 2}, {}, {}, 0},
                {3, 30, {}, {1, 2}, {}, {}, 0},
                {4, 40, {}, {1, 2}, {}, {}, 0},
                {5, 50, {}, {1}, {2}, {}, 1},
                {6, 60, {}, {1}, {2}, {}, 1},
                {7, 70, {}, {}, {2}, {1}, 1},
                {8, 80, {}, {2}, {}, {}, 1},
                {9, 90, {}, {2}, {}, {}, 1},
                {10, 100, {}, {}, {}, {2}, 1},
            });
}

TEST(BatchPolicyTable, StaticWaitsForAFullBatchOrTheTimeoutAndRunsItToCompletion) {
  run_table(policy("static", {{"batch_size", 2}, {"timeout_ms", 25}}), with_seqs(8),
            {
                {0, 0, {{4, 2}}, {}, {1}, {}, 0},
                {1, 10, {{4, 3}}, {1, 2}, {}, {}, 0},
                {2, 20, {{4, 1}}, {2}, {3}, {1}, 0},  // 3 may not join the batch in flight
                {3, 30, {}, {}, {3}, {2}, 0},
                {4, 40, {}, {}, {3}, {}, 0},  // waited 20 ms < 25
                {5, 50, {}, {}, {}, {3}, 0},  // timeout: a batch of one
            });
}

TEST(BatchPolicyTable, TimeWindowDispatchesAtTheMinimumOrTheWindowEndNeverAboveTheMaximum) {
  run_table(policy("time_window", {{"window_ms", 25}, {"min_batch", 2}, {"max_batch", 3}}), with_seqs(8),
            {
                {0, 0, {{4, 4}}, {}, {1}, {}, 0},
                {1, 10, {{4, 4}}, {1, 2}, {}, {}, 0},  // minimum reached early
                {2, 20, {{4, 4}}, {1, 2}, {3}, {}, 0},
                {3, 30, {{4, 4}, {4, 4}}, {1, 2, 3}, {4, 5}, {}, 0},  // max 3
                {4, 40, {}, {3}, {4, 5}, {1, 2}, 0},
                {5, 50, {}, {3, 4, 5}, {}, {}, 0},
                {6, 60, {}, {4, 5}, {}, {3}, 0},
                {7, 70, {}, {4, 5}, {}, {}, 0},
                {8, 80, {}, {}, {}, {4, 5}, 0},
                {9, 90, {{4, 1}}, {}, {6}, {}, 0},
                {10, 100, {}, {}, {6}, {}, 0},
                {11, 120, {}, {}, {}, {6}, 0},  // waited 30 ms >= the 25 ms window
            });
}

TEST(BatchPolicyTable, AdaptiveCapFollowsTheMeasuredArrivalRate) {
  // window 100 ms and service 100 ms: the cap is the number of arrivals in the last 100 ms.
  run_table(policy("adaptive", {{"min_batch", 1}, {"max_batch", 4}, {"window_ms", 100}, {"service_ms", 100}}),
            with_seqs(8),
            {
                {0, 0, {{4, 5}, {4, 5}, {4, 5}}, {1, 2, 3}, {}, {}, 0},  // 3 arrivals: cap 3
                {1, 10, {{4, 5}}, {1, 2, 3, 4}, {}, {}, 0},             // 4 arrivals: cap 4
                {2, 150, {{4, 1}}, {1, 2, 3, 4}, {5}, {}, 0},           // 1 arrival: cap 1
                {3, 160, {}, {1, 2, 3, 4}, {5}, {}, 0},
                {4, 170, {}, {4}, {5}, {1, 2, 3}, 0},
                {5, 180, {}, {}, {5}, {4}, 0},  // 4 still ran when admission was decided
                {6, 190, {}, {}, {}, {5}, 0},
            });
}

TEST(BatchPolicyTable, LoadShrinksTheCapWhenQueueingLatencyIsHighAndRegrowsIt) {
  run_table(policy("load", {{"min_batch", 1}, {"max_batch", 4}, {"queue_latency_high_ms", 15}, {"kv_high", 0.9}}),
            with_seqs(8),
            {
                {0, 0, {{4, 3}, {4, 3}, {4, 3}, {4, 3}, {4, 3}, {4, 3}}, {1, 2, 3, 4}, {5, 6}, {}, 0},  // cap 4
                {1, 10, {}, {1, 2, 3, 4}, {5, 6}, {}, 0},                                            // cap 4
                {2, 20, {}, {}, {5, 6}, {1, 2, 3, 4}, 0},  // waited 20 > 15: cap 2
                {3, 30, {}, {5}, {6}, {}, 0},              // cap 1
                {4, 40, {}, {5}, {6}, {}, 0},
                {5, 50, {}, {}, {6}, {5}, 0},
                {6, 60, {}, {6}, {}, {}, 0},
                {7, 70, {}, {6}, {}, {}, 0},   // queue empty: cap 2
                {8, 80, {}, {}, {}, {6}, 0},   // cap 3
                {9, 90, {{4, 1}, {4, 1}, {4, 1}, {4, 1}, {4, 1}}, {}, {11}, {7, 8, 9, 10}, 0},  // cap 4
            });
}

TEST(BatchPolicyTable, PredictiveHoltSizesAheadOfARisingArrivalRate) {
  // Buckets of 100 ms, service 100 ms: the cap is the forecast arrivals per bucket, rounded up.
  // Bucket 0 has 2 arrivals (level 2); bucket 1 has 4: level 0.5*4 + 0.5*2 = 3, trend 0.5*(3-2) = 0.5,
  // forecast one bucket ahead 3.5 -> cap 4.
  run_table(policy("predictive", {{"alpha", 0.5}, {"beta", 0.5}, {"bucket_ms", 100}, {"service_ms", 100},
                                  {"lookahead_buckets", 1}, {"min_batch", 1}, {"max_batch", 8}}),
            with_seqs(8),
            {
                {0, 0, {{4, 20}, {4, 20}}, {1}, {2}, {}, 0},  // no closed bucket yet: cap 1
                {1, 50, {}, {1}, {2}, {}, 0},
                {2, 100, {{4, 20}, {4, 20}, {4, 20}, {4, 20}}, {1, 2}, {3, 4, 5, 6}, {}, 0},  // cap 2
                {3, 200, {}, {1, 2, 3, 4}, {5, 6}, {}, 0},                                   // cap 4
            });
}

TEST(BatchPolicyTable, PredictiveEwmaLagsBehindHolt) {
  // beta = 0: level 2, then 0.5*4 + 0.5*2 = 3 -> cap 3 where Holt gave 4.
  run_table(policy("predictive", {{"alpha", 0.5}, {"beta", 0}, {"bucket_ms", 100}, {"service_ms", 100},
                                  {"min_batch", 1}, {"max_batch", 8}}),
            with_seqs(8),
            {
                {0, 0, {{4, 20}, {4, 20}}, {1}, {2}, {}, 0},
                {1, 50, {}, {1}, {2}, {}, 0},
                {2, 100, {{4, 20}, {4, 20}, {4, 20}, {4, 20}}, {1, 2}, {3, 4, 5, 6}, {}, 0},
                {3, 200, {}, {1, 2, 3}, {4, 5, 6}, {}, 0},
            });
}

TEST(BatchPolicyTable, PriorityAdmitsHigherClassesFirst) {
  run_table(policy("priority", {{"max_batch", 2}}), with_seqs(8),
            {
                {0, 0, {{4, 3}, {4, 3}, {4, 3}}, {1, 2}, {3}, {}, 0},
                {1, 10, {{4, 2, 2}, {4, 3, 1}}, {1, 2}, {3, 4, 5}, {}, 0},
                {2, 20, {}, {}, {3, 4, 5}, {1, 2}, 0},
                {3, 30, {}, {4, 5}, {3}, {}, 0},  // class 2, then class 1; 3 (class 0) waits
                {4, 40, {}, {5}, {3}, {4}, 0},
                {5, 50, {}, {3}, {}, {5}, 0},
                {6, 60, {}, {3}, {}, {}, 0},
                {7, 70, {}, {}, {}, {3}, 0},
            });
}

TEST(BatchPolicyTable, PriorityWithPreemptionEvictsALowerClass) {
  run_table(policy("priority", {{"max_batch", 2}, {"preempt", 1}}), with_seqs(8),
            {
                {0, 0, {{4, 4}, {4, 4}}, {1, 2}, {}, {}, 0},
                {1, 10, {{4, 2, 1}}, {1, 3}, {2}, {}, 1},  // 2 (latest of class 0) makes room for 3
                {2, 20, {}, {1}, {2}, {3}, 1},
                {3, 30, {}, {2}, {}, {1}, 1},  // 2 recomputes its prompt and its one token
                {4, 40, {}, {2}, {}, {}, 1},
                {5, 50, {}, {}, {}, {2}, 1},
            });
}

TEST(BatchPolicyTable, HybridCombinesTimeWindowUrgencyAndLoad) {
  run_table(policy("hybrid", {{"window_ms", 25},
                              {"min_batch", 3},
                              {"max_batch", 4},
                              {"queue_latency_high_ms", 35},
                              {"urgent_priority", 1}}),
            with_seqs(8),
            {
                {0, 0, {{4, 2}}, {}, {1}, {}, 0},
                {1, 10, {{4, 2, 1}}, {1, 2}, {}, {}, 0},  // urgent class: dispatch at once
                {2, 20, {{4, 2}}, {}, {3}, {1, 2}, 0},
                {3, 30, {}, {}, {3}, {}, 0},
                {4, 50, {}, {3}, {}, {}, 0},  // the window ended
                {5, 60, {}, {}, {}, {3}, 0},
                {6, 100, {{4, 3}, {4, 3}, {4, 3}, {4, 3}, {4, 3}, {4, 3}}, {4, 5, 6, 7}, {8, 9}, {}, 0},
                {7, 150, {}, {4, 5, 6, 7}, {8, 9}, {}, 0},  // waited 50 > 35: cap 2
                {8, 160, {}, {}, {8, 9}, {4, 5, 6, 7}, 0},   // cap 1
                {9, 170, {}, {8}, {9}, {}, 0},                // window rule, cap 1
            });
}

TEST(BatchPolicyFactory, KnowsEveryPolicyAndRejectsBadNamesAndParameters) {
  EXPECT_EQ(batch_policy_names().size(), 8u);
  for (const std::string& name : batch_policy_names()) {
    auto p = make_batch_policy(name);
    ASSERT_TRUE(p.ok()) << name << ": " << p.status().to_string();
    EXPECT_EQ((*p)->name(), name);
  }
  auto unknown = make_batch_policy("fifo");
  EXPECT_EQ(unknown.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(unknown.status().message().find("time_window"), std::string::npos) << unknown.status().message();

  auto typo = make_batch_policy("static", {{"batchsize", 4}});
  EXPECT_EQ(typo.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(typo.status().message().find("'batchsize'"), std::string::npos);
  EXPECT_NE(typo.status().message().find("batch_size"), std::string::npos);

  EXPECT_EQ(make_batch_policy("static", {{"batch_size", 0}}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(make_batch_policy("static", {{"batch_size", 2.5}}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(make_batch_policy("predictive", {{"alpha", 1.5}}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(make_batch_policy("priority", {{"preempt", 2}}).status().code(), StatusCode::kInvalidArgument);
  auto minmax = make_batch_policy("time_window", {{"min_batch", 8}, {"max_batch", 4}});
  EXPECT_NE(minmax.status().message().find("min_batch"), std::string::npos);
}

// The Holt recursion against a direct float64 evaluation of its definition over many buckets.
TEST(BatchPolicyUnit, PredictiveForecastMatchesTheHoltDefinition) {
  PredictivePolicyParams p;
  p.alpha = 0.3;
  p.beta = 0.2;
  p.bucket_ms = 10;
  p.lookahead_buckets = 2;
  PredictivePolicy policy(p);
  const std::vector<int> counts = {3, 5, 4, 8, 9, 0, 12, 7};
  double level = 0, trend = 0;
  for (size_t b = 0; b < counts.size(); ++b) {
    for (int i = 0; i < counts[b]; ++i) policy.observe_arrival(b * 10.0 + i * 0.5);
    const double x = counts[b] * 1000.0 / 10.0;
    if (b == 0) {
      level = x;
    } else {
      const double prev = level;
      level = 0.3 * x + 0.7 * (level + trend);
      trend = 0.2 * (level - prev) + 0.8 * trend;
    }
  }
  PolicyInput in;
  in.now_ms = counts.size() * 10.0;
  policy.decide(in);
  EXPECT_NEAR(policy.forecast_per_s(), std::max(0.0, level + 2 * trend), 1e-9);
}

TEST(BatchPolicyUnit, ArrivalRateMeterCountsTheSlidingWindow) {
  ArrivalRateMeter m(500);
  for (int i = 0; i < 10; ++i) m.add(i * 100.0);  // 0 .. 900 ms
  EXPECT_DOUBLE_EQ(m.rate_per_s(900), 5 * 2.0);    // (400, 900]: 5 arrivals in 0.5 s
  EXPECT_DOUBLE_EQ(m.rate_per_s(5000), 0.0);
}

TEST(BatchPolicyUnit, LoadReactsToKvUtilisation) {
  LoadPolicy load({2, 16, 1e9, 0.5});
  PolicyInput in;
  in.kv_utilization = 0.8;
  EXPECT_EQ(load.decide(in).max_batch, 8);
  EXPECT_EQ(load.decide(in).max_batch, 4);
  EXPECT_EQ(load.decide(in).max_batch, 2);
  EXPECT_EQ(load.decide(in).max_batch, 2);
  in.kv_utilization = 0.2;
  EXPECT_EQ(load.decide(in).max_batch, 3);
}

}  // namespace
}  // namespace effitune::engine
