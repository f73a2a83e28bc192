// Continuous batching is exact: on the real CPU engine with stories260K, greedy outputs of a mixed
// batch of 32 requests (different prompt lengths and budgets, chunked prefill, and in a second run
// preemption by recompute) equal those of each request run alone with generate().
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <map>

#include "effitune/engine/generate.h"
#include "effitune/engine/scheduler.h"
#include "support/paths.h"

namespace effitune::engine {
namespace {

struct Case {
  std::vector<int32_t> prompt;
  int32_t max_new;
};

std::vector<Case> mixed_cases(int32_t vocab) {
  std::vector<Case> cases;
  uint64_t x = 12345;
  for (int i = 0; i < 32; ++i) {
    Case c;
    c.prompt.push_back(1);  // BOS
    const int32_t len = 1 + (i * 7) % 23;
    for (int32_t j = 0; j < len; ++j) {
      x = x * 6364136223846793005ull + 1442695040888963407ull;
      c.prompt.push_back(3 + static_cast<int32_t>((x >> 33) % static_cast<uint64_t>(vocab - 3)));
    }
    c.max_new = 4 + (i * 5) % 29;
    cases.push_back(std::move(c));
  }
  return cases;
}

std::unique_ptr<Engine> make_engine(int64_t kv_tokens, int32_t max_sequences) {
  EngineConfig config;
  config.model_path = testing::stories260k_path();
  config.context_length = 128;
  config.max_sequences = max_sequences;  // the engine adds one block per sequence
  config.kv_cache_tokens = kv_tokens;
  config.backend.threads = 1;  // a 260K-parameter model: one thread beats the pool's hand-offs
  auto engine = Engine::create(config);
  EFFITUNE_CHECK(engine.ok(), engine.status().to_string());
  return std::move(engine).value();
}

std::map<RequestId, RequestEvent> run_batched(Engine& engine, const std::vector<Case>& cases, SchedulerConfig config,
                                              int64_t* preemptions) {
  auto sched = Scheduler::create(engine, config, make_batch_policy("continuous").value()).value();
  for (const Case& c : cases) {
    InferenceRequest r;
    r.prompt = c.prompt;
    r.decoding.max_new_tokens = c.max_new;
    EXPECT_TRUE(sched->submit(std::move(r)).ok());
  }
  std::map<RequestId, RequestEvent> done;
  for (int i = 0; i < 5000 && !sched->idle(); ++i) {
    sched->step();
    for (auto& ev : sched->poll_events())
      if (ev.kind == RequestEvent::Kind::kFinish) done[ev.id] = std::move(ev);
  }
  EXPECT_TRUE(sched->idle());
  *preemptions = sched->stats().preemptions;
  return done;
}

class ContinuousBatchingModelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(testing::stories260k_path()))
      GTEST_SKIP() << "stories260K not found at " << testing::stories260k_path();
    solo_ = make_engine(0, 1);
    cases_ = mixed_cases(solo_->model().vocab_size);
    for (const Case& c : cases_) {
      DecodingConfig greedy;
      greedy.max_new_tokens = c.max_new;
      auto r = generate(*solo_, c.prompt, greedy);
      ASSERT_TRUE(r.ok()) << r.status().to_string();
      expected_.push_back(r->token_ids);
      total_tokens_ += static_cast<int64_t>(r->token_ids.size());
    }
    // Most requests run to their budget; an early EOS here and there is fine, all-EOS would prove nothing.
    ASSERT_GT(total_tokens_, 400);
  }

  void expect_identical(const std::map<RequestId, RequestEvent>& done) {
    ASSERT_EQ(done.size(), cases_.size());
    for (size_t i = 0; i < cases_.size(); ++i) {
      const RequestEvent& ev = done.at(static_cast<RequestId>(i + 1));
      EXPECT_NE(ev.outcome, RequestOutcome::kError) << ev.error.to_string();
      EXPECT_EQ(ev.tokens, expected_[i]) << "request " << i + 1 << " (prompt " << cases_[i].prompt.size()
                                          << " tokens, " << ev.preemptions << " preemptions)";
    }
  }

  std::unique_ptr<Engine> solo_;
  std::vector<Case> cases_;
  std::vector<std::vector<int32_t>> expected_;
  int64_t total_tokens_ = 0;
};

TEST_F(ContinuousBatchingModelTest, MixedBatchOf32EqualsEachRequestAlone) {
  auto engine = make_engine(32 * 64, 32);
  SchedulerConfig config;
  config.max_num_seqs = 32;
  config.max_num_batched_tokens = 48;  // prompts are chunked and mixed with decodes
  int64_t preemptions = 0;
  expect_identical(run_batched(*engine, cases_, config, &preemptions));
  EXPECT_EQ(engine->kv_stats().used_blocks, 0);
}

TEST_F(ContinuousBatchingModelTest, PreemptionByRecomputeKeepsOutputsExact) {
  auto engine = make_engine(320, 4);  // 24 blocks of 16 for 32 requests reaching up to 56 tokens
  SchedulerConfig config;
  config.max_num_seqs = 16;
  config.kv_watermark = 0;
  int64_t preemptions = 0;
  expect_identical(run_batched(*engine, cases_, config, &preemptions));
  EXPECT_GT(preemptions, 0);
  std::printf("generated %lld tokens; %lld preemptions under the small cache\n", static_cast<long long>(total_tokens_),
              static_cast<long long>(preemptions));
  EXPECT_EQ(engine->kv_stats().used_blocks, 0);
}

TEST_F(ContinuousBatchingModelTest, SharedPromptPrefixesKeepOutputsExact) {
  // 16 requests behind a common 40-token prefix: later admissions reuse its first two 16-token blocks.
  std::vector<Case> cases;
  for (int i = 0; i < 16; ++i) {
    Case c = cases_[i];
    std::vector<int32_t> prompt(cases_[31].prompt.begin(), cases_[31].prompt.end());
    while (prompt.size() < 40) prompt.push_back(3 + static_cast<int32_t>(prompt.size() * 11 % 400));
    prompt.insert(prompt.end(), c.prompt.begin() + 1, c.prompt.end());
    c.prompt = prompt;
    cases.push_back(c);
  }
  std::vector<std::vector<int32_t>> expected;
  for (const Case& c : cases) {
    DecodingConfig greedy;
    greedy.max_new_tokens = c.max_new;
    expected.push_back(generate(*solo_, c.prompt, greedy).value().token_ids);
  }
  auto engine = make_engine(32 * 64, 32);
  SchedulerConfig config;
  config.max_num_seqs = 4;
  auto sched = Scheduler::create(*engine, config, make_batch_policy("continuous").value()).value();
  for (const Case& c : cases) {
    InferenceRequest r;
    r.prompt = c.prompt;
    r.decoding.max_new_tokens = c.max_new;
    ASSERT_TRUE(sched->submit(std::move(r)).ok());
  }
  std::map<RequestId, RequestEvent> done;
  for (int i = 0; i < 5000 && !sched->idle(); ++i) {
    sched->step();
    for (auto& ev : sched->poll_events())
      if (ev.kind == RequestEvent::Kind::kFinish) done[ev.id] = std::move(ev);
  }
  ASSERT_EQ(done.size(), cases.size());
  for (size_t i = 0; i < cases.size(); ++i) EXPECT_EQ(done.at(i + 1).tokens, expected[i]) << "request " << i + 1;
  EXPECT_GE(sched->stats().prefix_shared_tokens, 12 * 32);
  sched.reset();
  EXPECT_EQ(engine->kv_stats().used_blocks, 0);
}

}  // namespace
}  // namespace effitune::engine
