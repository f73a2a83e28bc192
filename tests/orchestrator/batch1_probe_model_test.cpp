// The batch-1 probe (orchestrator/src/batch1_probe.cpp) on the task model through the CPU backend: one
// request of 32 decode steps, its time per token, and under tensor parallelism (the in-process
// communicator) every all-reduce of that request counted: two per layer per forward pass (the prefill
// and each decode step but the last token's), none on one rank.
#include <gtest/gtest.h>

#include "effitune/orchestrator/batch1_probe.h"
#include "support/paths.h"

namespace effitune::orchestrator {
namespace {

std::unique_ptr<engine::Engine> task_engine(int32_t gpu_count) {
  engine::EngineConfig c;
  c.model_path = testing::source_dir() + "/experiments/support-desk/model.gguf";
  c.max_sequences = 1;
  c.context_length = 128;
  c.backend.threads = 2;
  c.backend.gpu_count = gpu_count;
  auto e = engine::Engine::create(c);
  EXPECT_TRUE(e.ok()) << e.status().to_string();
  return e.ok() ? std::move(e).value() : nullptr;
}

TEST(Batch1Probe, TimesOneRequestAndCountsItsAllReduces) {
  auto one = task_engine(1), two = task_engine(2), untimed = task_engine(2);
  ASSERT_TRUE(one && two && untimed);
  // As the trial runner does: the timer on before the first step.
  one->backend().start_collective_timing();
  two->backend().start_collective_timing();
  const int64_t layers = one->model().n_layers;

  auto a = measure_batch1_decode(*one, 32);
  ASSERT_TRUE(a.ok()) << a.status().to_string();
  EXPECT_EQ(a->decode_tokens, 32);
  EXPECT_GT(a->ms_per_token, 0.0);
  EXPECT_GT(a->prefill_ms, 0.0);
  EXPECT_EQ(a->allreduce_calls, 0);
  EXPECT_EQ(a->allreduce_ms, 0.0);
  EXPECT_EQ(a->allreduce_share, 0.0);

  auto b = measure_batch1_decode(*two, 32);
  ASSERT_TRUE(b.ok()) << b.status().to_string();
  EXPECT_EQ(b->decode_tokens, 32);
  // 33 tokens from 33 forward passes: the prefill gives the first, each of 32 decode steps one more.
  EXPECT_EQ(b->allreduce_calls, 2 * layers * 33);
  EXPECT_GT(b->allreduce_ms, 0.0);
  EXPECT_GT(b->allreduce_share, 0.0);
  EXPECT_LT(b->allreduce_share, 1.0);
  // The share is of the request's own forward time.
  EXPECT_LE(b->allreduce_ms, b->prefill_ms + b->ms_per_token * b->decode_tokens);

  // Without the timer the request is still timed; its all-reduces read 0.
  auto u = measure_batch1_decode(*untimed, 8);
  ASSERT_TRUE(u.ok()) << u.status().to_string();
  EXPECT_EQ(u->decode_tokens, 8);
  EXPECT_EQ(u->allreduce_calls, 0);

  EXPECT_EQ(measure_batch1_decode(*one, 0).status().code(), StatusCode::kInvalidArgument);
  // A 128-token context holds 16 + 111 + 1: a longer request is shortened to fit.
  auto c = measure_batch1_decode(*one, 500);
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  EXPECT_EQ(c->decode_tokens, 111);
}

}  // namespace
}  // namespace effitune::orchestrator
