// The in-process engine as a Target (stories260K and the task model), and acceptance 3: a load test
// and a capacity search through `effitune serve`'s Server on loopback agree with the in-process
// target within their intervals.
#include <gtest/gtest.h>

#include <filesystem>

#include "effitune/engine/server.h"
#include "effitune/orchestrator/engine_target.h"
#include "effitune/probes/capacity_search.h"
#include "effitune/probes/http_target.h"
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

// Acceptance 3: the same load through HTTP and in process.
struct Measured {
  RepeatedResult result;
  CapacityResult capacity;
};

Measured measure(Target& target) {
  SyntheticSpec spec;
  spec.input.mean = 32;
  spec.output.mean = 8;
  spec.count = 16;
  const Workload w = Workload::synthetic(spec, 1).value();
  LoadTestConfig c;
  c.arrivals.kind = ArrivalKind::kPoisson;
  c.arrivals.rate_per_s = 3;
  c.duration_s = 3;
  c.warmup_s = 0.5;
  c.request_timeout_s = 20;
  c.slos = parse_slos("ttft_p95_ms=2000,e2e_p95_ms=4000").value();
  SteadyClock clock;
  Measured m;
  m.result = run_repeated(target, w, c, 2, clock).value();
  // A coarse capacity search against a tight SLO so that it brackets quickly.
  LoadTestConfig cc = c;
  cc.duration_s = 1.5;
  cc.warmup_s = 0;
  cc.slos = parse_slos("e2e_p90_ms=250").value();
  CapacityOptions o;
  o.start_load = 2;
  o.tolerance = 2;
  o.max_load = 256;
  o.max_probes = 10;
  m.capacity = find_capacity(
                   [&](double rate) -> Result<CapacityProbe> {
                     LoadTestConfig x = cc;
                     x.arrivals.rate_per_s = rate;
                     EFFITUNE_ASSIGN_OR_RETURN(RepeatedResult r, run_repeated(target, w, x, 1, clock));
                     return CapacityProbe{rate, r.slo_met, r.slo_margin, r.performance};
                   },
                   o)
                   .value();
  return m;
}

TEST(EngineTarget, HttpServerAgreesWithInProcess) {
  if (!std::filesystem::exists(task_model())) GTEST_SKIP() << "no task model";
  const auto opts = options_for(task_model());
  Measured inproc;
  {
    auto target = orchestrator::make_engine_target(opts).value();
    inproc = measure(*target);
  }
  Measured http;
  {
    auto eng = engine::Engine::create(opts.engine).value();
    engine::ServerConfig sc;
    sc.port = 0;
    auto server = engine::Server::create(*eng, opts.scheduler, engine::make_batch_policy("continuous").value(), sc);
    ASSERT_TRUE(server.ok()) << server.status().to_string();
    ASSERT_TRUE((*server)->start().ok());
    HttpTargetOptions ho;
    ho.port = (*server)->port();
    auto target = make_http_target(ho).value();
    http = measure(*target);
    target.reset();
    (*server)->shutdown();
  }
  const RepeatedResult& a = inproc.result;
  const RepeatedResult& b = http.result;
  EXPECT_EQ(a.pooled.errors + a.pooled.timeouts, 0u) << (a.pooled.sample_errors.empty() ? "" : a.pooled.sample_errors[0]);
  EXPECT_EQ(b.pooled.errors + b.pooled.timeouts, 0u) << (b.pooled.sample_errors.empty() ? "" : b.pooled.sample_errors[0]);
  // P intervals overlap (both are all-good at this light load).
  EXPECT_LE(a.performance.ci_low, b.performance.ci_high);
  EXPECT_LE(b.performance.ci_low, a.performance.ci_high);
  // Every request produced its 8 tokens through both paths.
  EXPECT_NEAR(a.pooled.output_tokens_per_s * a.pooled.measured_s, 8.0 * a.pooled.ok, 1e-6);
  EXPECT_NEAR(b.pooled.output_tokens_per_s * b.pooled.measured_s, 8.0 * b.pooled.ok, 1e-6);
  // Capacity intervals overlap: HTTP adds little to a CPU engine's per-request time.
  std::printf("capacity inproc %.2f [%.2f, %.2f]  http %.2f [%.2f, %.2f]\n", inproc.capacity.capacity,
              inproc.capacity.ci_low, inproc.capacity.ci_high, http.capacity.capacity, http.capacity.ci_low,
              http.capacity.ci_high);
  EXPECT_GT(inproc.capacity.capacity, 0);
  EXPECT_GT(http.capacity.capacity, 0);
  EXPECT_LE(inproc.capacity.ci_low, http.capacity.ci_high);
  EXPECT_LE(http.capacity.ci_low, inproc.capacity.ci_high);
}

}  // namespace
}  // namespace effitune::probes
