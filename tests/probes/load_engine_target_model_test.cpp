// The in-process engine as a Target (stories260K and the task model). The HTTP-versus-in-process
// agreement (acceptance 3) is load_http_agreement_slow_test.cpp.
#include <gtest/gtest.h>

#include <filesystem>

#include "effitune/orchestrator/engine_target.h"
#include "effitune/probes/load_test.h"
#include "support/paths.h"

namespace effitune::probes {
namespace {

struct Collected {
  std::mutex mu;
  std::condition_variable cv;
  int tokens = 0;
  std::optional<TargetFinish> finish;
};

class CollectSink : public StreamSink {
 public:
  explicit CollectSink(std::shared_ptr<Collected> c) : c_(std::move(c)) {}
  void on_tokens(int32_t n, double) override {
    std::lock_guard<std::mutex> g(c_->mu);
    c_->tokens += n;
  }
  void on_finish(const TargetFinish& f, double) override {
    std::lock_guard<std::mutex> g(c_->mu);
    c_->finish = f;
    c_->cv.notify_all();
  }

 private:
  std::shared_ptr<Collected> c_;
};

bool wait_finish(Collected& c, double s = 30) {
  std::unique_lock<std::mutex> lock(c.mu);
  return c.cv.wait_for(lock, std::chrono::duration<double>(s), [&] { return c.finish.has_value(); });
}

orchestrator::EngineTargetOptions options_for(const std::string& model) {
  orchestrator::EngineTargetOptions o;
  o.engine.model_path = model;
  o.engine.max_sequences = 8;
  o.engine.backend.threads = 1;
  o.scheduler.max_num_seqs = 8;
  return o;
}

TEST(EngineTarget, SyntheticRequestsStreamEveryToken) {
  auto target = orchestrator::make_engine_target(options_for(testing::stories260k_path()));
  ASSERT_TRUE(target.ok()) << target.status().to_string();
  TargetRequest r;
  r.prompt_tokens = 12;
  r.max_tokens = 9;
  r.ignore_eos = true;
  auto c = std::make_shared<Collected>();
  (*target)->submit(r, std::make_shared<CollectSink>(c));
  ASSERT_TRUE(wait_finish(*c));
  EXPECT_EQ(c->finish->reason, FinishReason::kLength) << c->finish->error.to_string();
  EXPECT_EQ(c->finish->output_tokens, 9);
  EXPECT_EQ(c->tokens, 9);
  EXPECT_EQ(c->finish->prompt_tokens, 12);
}

TEST(EngineTarget, ChatWithoutTokenizerIsAnErrorFinish) {
  auto target = orchestrator::make_engine_target(options_for(testing::stories260k_path()));
  ASSERT_TRUE(target.ok());
  TargetRequest r;
  r.messages = {{"user", "hi"}};
  auto c = std::make_shared<Collected>();
  (*target)->submit(r, std::make_shared<CollectSink>(c));
  ASSERT_TRUE(wait_finish(*c));
  EXPECT_EQ(c->finish->reason, FinishReason::kError);
  EXPECT_NE(c->finish->error.message().find("tokenizer"), std::string::npos);
}

TEST(EngineTarget, DestroyingFinishesInFlightRequests) {
  std::vector<std::shared_ptr<Collected>> all;
  {
    auto target = orchestrator::make_engine_target(options_for(testing::stories260k_path())).value();
    for (int i = 0; i < 6; ++i) {
      TargetRequest r;
      r.prompt_tokens = 8;
      r.max_tokens = 200;
      r.ignore_eos = true;
      all.push_back(std::make_shared<Collected>());
      target->submit(r, std::make_shared<CollectSink>(all.back()));
    }
  }
  for (auto& c : all) {
    ASSERT_TRUE(c->finish.has_value());
    EXPECT_TRUE(c->finish->reason == FinishReason::kCancelled || c->finish->reason == FinishReason::kLength);
  }
}

std::string task_model() { return testing::source_dir() + "/experiments/support-desk/model.gguf"; }

TEST(EngineTarget, TaskModelAnswersEvalSetConversations) {
  if (!std::filesystem::exists(task_model())) GTEST_SKIP() << "no task model";
  auto target = orchestrator::make_engine_target(options_for(task_model()));
  ASSERT_TRUE(target.ok()) << target.status().to_string();
  auto w = Workload::load(testing::source_dir() + "/experiments/support-desk/test.jsonl", 24, 1);
  ASSERT_TRUE(w.ok());
  LoadTestConfig c;
  c.arrivals.kind = ArrivalKind::kConstant;
  c.arrivals.rate_per_s = 4;
  c.duration_s = 1.5;
  c.slos = parse_slos("e2e_p99_ms=30000").value();
  auto r = run_load_test(**target, *w, c);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->ok, 6u) << (r->sample_errors.empty() ? "" : r->sample_errors[0]);
  EXPECT_GT(r->ttft.p50_ms, 0);
}

}  // namespace
}  // namespace effitune::probes
