// The host side of sampling on the device: the Philox generator against Random123's known answers,
// RowSampling from a DecodingConfig, Engine::step_sample, and the scheduler's use of a device
// sampler (ids instead of logits; the draw counter is the request's generated-token count, so its
// tokens do not depend on its batch; EOS and max tokens still end requests). The device kernels
// themselves are tested in tests/cuda/sampling_test.cpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

#include "../../engine/src/cuda/cuda_backend_factory.h"
#include "../../engine/src/sampling/philox.h"
#include "effitune/engine/batch_policy.h"
#include "effitune/engine/engine.h"
#include "effitune/engine/generate.h"
#include "effitune/engine/scheduler.h"
#include "support/scripted_backend.h"

namespace effitune::engine {
namespace {

constexpr int32_t kVocab = 32;
constexpr int32_t kBlocks = 64;
constexpr int32_t kBlockSize = 4;

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

// What the fake device sampler draws: a function of (seed, counter) only, never 0 (the prompt filler).
int32_t fake_draw(uint64_t seed, uint64_t counter) {
  return 1 + static_cast<int32_t>(philox_u64(seed, counter) % static_cast<uint64_t>(kVocab - 1));
}

// A scripted backend that also "samples on the device": argmax for greedy rows, fake_draw otherwise.
// Records every RowSampling it was given.
class FakeDeviceSampler : public Backend, public DeviceSampler {
 public:
  FakeDeviceSampler() : inner_(kVocab, kBlocks, kBlockSize, hash_logits) {}
  std::string name() const override { return "fake-device"; }
  std::string device_name() const override { return "test"; }
  Status forward(std::span<const SequenceStep> steps, std::vector<float>& logits) override {
    return inner_.forward(steps, logits);
  }
  Status forward_greedy(std::span<const SequenceStep> steps, std::vector<int32_t>& tokens) override {
    return forward_sample(steps, std::vector<RowSampling>(steps.size()), tokens);
  }
  Status forward_sample(std::span<const SequenceStep> steps, std::span<const RowSampling> params,
                        std::vector<int32_t>& tokens) override {
    if (params.size() != steps.size()) return invalid_argument("params");
    std::vector<float> logits;
    EFFITUNE_RETURN_IF_ERROR(inner_.forward(steps, logits));
    tokens.clear();
    for (size_t i = 0; i < steps.size(); ++i) {
      seen.push_back(params[i]);
      const std::span<const float> row(logits.data() + i * kVocab, kVocab);
      tokens.push_back(params[i].temperature > 0 ? fake_draw(params[i].seed, params[i].counter) : argmax(row));
    }
    return {};
  }
  // The k best log-softmax entries of each step's row, from a float64 log-softmax written here.
  Status forward_topk(std::span<const SequenceStep> steps, int32_t k, std::vector<int32_t>& ids,
                      std::vector<float>& logprobs) override {
    std::vector<float> logits;
    EFFITUNE_RETURN_IF_ERROR(inner_.forward(steps, logits));
    ids.clear();
    logprobs.clear();
    ++topk_calls;
    for (size_t i = 0; i < steps.size(); ++i) {
      const float* row = logits.data() + i * kVocab;
      double mx = -std::numeric_limits<double>::infinity(), sum = 0;
      for (int32_t v = 0; v < kVocab; ++v) mx = std::max(mx, static_cast<double>(row[v]));
      for (int32_t v = 0; v < kVocab; ++v) sum += std::exp(row[v] - mx);
      std::vector<int32_t> order(kVocab);
      for (int32_t v = 0; v < kVocab; ++v) order[v] = v;
      std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return row[a] > row[b]; });
      for (int32_t j = 0; j < k; ++j) {
        ids.push_back(order[j]);
        logprobs.push_back(static_cast<float>(row[order[j]] - mx - std::log(sum)));
      }
    }
    return {};
  }
  int topk_calls = 0;
  void synchronize() override {}
  void copy_block(int32_t src, int32_t dst) override { inner_.copy_block(src, dst); }
  int64_t kv_bytes_per_block() const override { return inner_.kv_bytes_per_block(); }
  int64_t weight_bytes() const override { return 0; }

  std::vector<RowSampling> seen;

 private:
  testing::ScriptedBackend inner_;
};

std::unique_ptr<Engine> make_engine(std::unique_ptr<Backend> backend, int32_t eos = -1) {
  return Engine::create_with_backend(testing::config_only_weights(kVocab, 256, eos), std::move(backend), 256, kBlocks,
                                     kBlockSize)
      .value();
}

InferenceRequest request(std::vector<int32_t> prompt, int32_t max_new, DecodingStrategy strategy, uint64_t seed) {
  InferenceRequest r;
  r.prompt = std::move(prompt);
  r.decoding.strategy = strategy;
  r.decoding.temperature = 0.8f;
  r.decoding.top_k = 7;
  r.decoding.top_p = 0.9f;
  r.decoding.seed = seed;
  r.decoding.max_new_tokens = max_new;
  return r;
}

struct Finished {
  RequestOutcome outcome;
  std::vector<int32_t> tokens;
};

// Runs the requests on one scheduler until idle; their finish events by submit order.
std::vector<Finished> serve(Engine& engine, const std::vector<InferenceRequest>& reqs) {
  ManualClock clock;
  SchedulerConfig config;
  config.kv_watermark = 0;
  auto sched = Scheduler::create(engine, config, make_batch_policy("continuous").value(), &clock).value();
  std::vector<RequestId> ids;
  for (const auto& r : reqs) ids.push_back(sched->submit(r).value());
  std::map<RequestId, Finished> done;
  for (int i = 0; i < 1000 && !sched->idle(); ++i) {
    sched->step();
    clock.advance_ms(1);
    for (auto& ev : sched->poll_events())
      if (ev.kind == RequestEvent::Kind::kFinish) done[ev.id] = {ev.outcome, ev.tokens};
  }
  EXPECT_TRUE(sched->idle());
  std::vector<Finished> out;
  for (RequestId id : ids) out.push_back(done.at(id));
  return out;
}

TEST(DeviceSamplingTest, PhiloxMatchesRandom123KnownAnswers) {
  // kat_vectors of Random123 1.09 for philox4x32-10: counter, key -> output.
  const Philox4x32 a = philox4x32_10({{0, 0, 0, 0}}, 0, 0);
  EXPECT_EQ(a.v[0], 0x6627e8d5u);
  EXPECT_EQ(a.v[1], 0xe169c58du);
  EXPECT_EQ(a.v[2], 0xbc57ac4cu);
  EXPECT_EQ(a.v[3], 0x9b00dbd8u);
  const Philox4x32 b = philox4x32_10({{~0u, ~0u, ~0u, ~0u}}, ~0u, ~0u);
  EXPECT_EQ(b.v[0], 0x408f276du);
  EXPECT_EQ(b.v[1], 0x41c83b0eu);
  EXPECT_EQ(b.v[2], 0xa20bc7c6u);
  EXPECT_EQ(b.v[3], 0x6d5451fdu);
  const Philox4x32 c = philox4x32_10({{0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}}, 0xa4093822u, 0x299f31d0u);
  EXPECT_EQ(c.v[0], 0xd16cfe09u);
  EXPECT_EQ(c.v[1], 0x94fdccebu);
  EXPECT_EQ(c.v[2], 0x5001e420u);
  EXPECT_EQ(c.v[3], 0x24126ea1u);
  // philox_u64: key = seed, counter = (counter, 0, 0, 0), the first two words.
  EXPECT_EQ(philox_u64(0, 0), 0xe169c58d6627e8d5ull);
  EXPECT_NE(philox_u64(0, 1), philox_u64(0, 0));
  EXPECT_NE(philox_u64(1, 0), philox_u64(0, 0));
}

TEST(DeviceSamplingTest, RowSamplingFollowsTheDecodingConfig) {
  DecodingConfig c;
  c.strategy = DecodingStrategy::kSample;
  c.temperature = 0.7f;
  c.top_k = 40;
  c.top_p = 0.95f;
  c.seed = 1234;
  const RowSampling s = row_sampling(c, 17);
  EXPECT_FLOAT_EQ(s.temperature, 0.7f);
  EXPECT_EQ(s.top_k, 40);
  EXPECT_FLOAT_EQ(s.top_p, 0.95f);
  EXPECT_EQ(s.seed, 1234u);
  EXPECT_EQ(s.counter, 17u);
  c.strategy = DecodingStrategy::kGreedy;
  EXPECT_LE(row_sampling(c, 0).temperature, 0.0f) << "greedy is the argmax whatever the temperature";
  c.strategy = DecodingStrategy::kSample;
  c.temperature = 0.0f;
  EXPECT_LE(row_sampling(c, 0).temperature, 0.0f);
  EXPECT_TRUE(validate(s).ok());
  RowSampling bad = s;
  bad.top_p = 0.0f;
  EXPECT_EQ(validate(bad).code(), StatusCode::kInvalidArgument);
  bad = s;
  bad.top_k = -1;
  EXPECT_EQ(validate(bad).code(), StatusCode::kInvalidArgument);
  bad = s;
  bad.temperature = std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ(validate(bad).code(), StatusCode::kInvalidArgument);
  // The struct is copied byte for byte to the GPU: keep its layout fixed.
  EXPECT_EQ(sizeof(RowSampling), 32u);
}

TEST(DeviceSamplingTest, StepSampleNeedsADeviceSampler) {
  auto engine = make_engine(std::make_unique<testing::ScriptedBackend>(kVocab, kBlocks, kBlockSize, hash_logits));
  EXPECT_FALSE(engine->samples_on_device());
  const SeqId seq = engine->add_sequence();
  const std::vector<int32_t> toks = {1, 2, 3};
  const StepRequest req{seq, toks, false};
  std::vector<int32_t> ids;
  EXPECT_EQ(engine->step_sample({&req, 1}, std::vector<RowSampling>(1), ids).code(), StatusCode::kUnimplemented);
  EXPECT_EQ(engine->sequence_length(seq), 0);
  engine->remove_sequence(seq);
}

TEST(DeviceSamplingTest, StepSampleReturnsOneIdPerRequestAndCommitsTheKv) {
  auto fake = std::make_unique<FakeDeviceSampler>();
  FakeDeviceSampler* f = fake.get();
  auto engine = make_engine(std::move(fake));
  ASSERT_TRUE(engine->samples_on_device());
  const SeqId a = engine->add_sequence(), b = engine->add_sequence();
  const std::vector<int32_t> ta = {1, 2, 3, 4, 5}, tb = {6};
  const std::vector<StepRequest> reqs = {{a, ta, false}, {b, tb, false}};
  std::vector<int32_t> ids;
  // One params entry per request, or nothing happens.
  EXPECT_EQ(engine->step_sample(reqs, std::vector<RowSampling>(1), ids).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(engine->sequence_length(a), 0);
  RowSampling sampled;
  sampled.temperature = 1.0f;
  sampled.seed = 5;
  sampled.counter = 2;
  const std::vector<RowSampling> params = {RowSampling{}, sampled};
  ASSERT_TRUE(engine->step_sample(reqs, params, ids).ok());
  ASSERT_EQ(ids.size(), 2u);
  EXPECT_EQ(ids[0], argmax(hash_logits(ta)));
  EXPECT_EQ(ids[1], fake_draw(5, 2));
  EXPECT_EQ(engine->sequence_length(a), 5);
  EXPECT_EQ(engine->sequence_length(b), 1);
  ASSERT_EQ(f->seen.size(), 2u);
  EXPECT_EQ(f->seen[1].counter, 2u);
  engine->remove_sequence(a);
  engine->remove_sequence(b);
}

TEST(DeviceSamplingTest, SchedulerDrawsWithTheGeneratedCountAsCounterWhateverTheBatch) {
  const std::vector<int32_t> p1 = {3, 1, 4, 1, 5, 9, 2, 6, 5}, p2 = {2, 7}, p3 = {1, 1, 2, 3, 5, 8, 13};
  const std::vector<InferenceRequest> reqs = {request(p1, 6, DecodingStrategy::kSample, 7),
                                              request(p2, 5, DecodingStrategy::kGreedy, 0),
                                              request(p3, 4, DecodingStrategy::kSample, 8)};
  auto fake = std::make_unique<FakeDeviceSampler>();
  FakeDeviceSampler* f = fake.get();
  auto engine = make_engine(std::move(fake));
  const std::vector<Finished> together = serve(*engine, reqs);
  ASSERT_EQ(together.size(), 3u);
  for (const uint64_t seed : {7u, 8u}) {
    const Finished& got = together[seed == 7 ? 0 : 2];
    const int32_t n = seed == 7 ? 6 : 4;
    ASSERT_EQ(got.tokens.size(), static_cast<size_t>(n)) << "seed " << seed;
    EXPECT_EQ(got.outcome, RequestOutcome::kLength);
    for (int32_t c = 0; c < n; ++c) EXPECT_EQ(got.tokens[c], fake_draw(seed, c)) << "seed " << seed << " token " << c;
  }
  // The scheduler passed the config's knobs through, and no counter twice per request.
  std::map<uint64_t, std::vector<uint64_t>> counters;
  for (const RowSampling& s : f->seen) {
    if (s.temperature <= 0) continue;
    EXPECT_FLOAT_EQ(s.temperature, 0.8f);
    EXPECT_EQ(s.top_k, 7);
    EXPECT_FLOAT_EQ(s.top_p, 0.9f);
    counters[s.seed].push_back(s.counter);
  }
  EXPECT_EQ(counters[7], (std::vector<uint64_t>{0, 1, 2, 3, 4, 5}));
  EXPECT_EQ(counters[8], (std::vector<uint64_t>{0, 1, 2, 3}));

  // Greedy on the device equals greedy on the host path (Sampler over the logits).
  auto host = make_engine(std::make_unique<testing::ScriptedBackend>(kVocab, kBlocks, kBlockSize, hash_logits));
  ASSERT_FALSE(host->samples_on_device());
  EXPECT_EQ(serve(*host, {reqs[1]})[0].tokens, together[1].tokens);
  // Alone, a sampled request draws the same tokens as in the batch.
  auto alone = make_engine(std::make_unique<FakeDeviceSampler>());
  EXPECT_EQ(serve(*alone, {reqs[0]})[0].tokens, together[0].tokens);
}

TEST(DeviceSamplingTest, EosEndsADeviceSampledRequest) {
  std::vector<int32_t> expected;
  for (int c = 0; c < 8; ++c) expected.push_back(fake_draw(11, c));
  const int32_t eos = expected[3];
  const size_t stop_at = std::find(expected.begin(), expected.end(), eos) - expected.begin();
  auto engine = make_engine(std::make_unique<FakeDeviceSampler>(), eos);
  const Finished got = serve(*engine, {request({1, 2, 3}, 8, DecodingStrategy::kSample, 11)})[0];
  EXPECT_EQ(got.outcome, RequestOutcome::kStop);
  EXPECT_EQ(got.tokens, std::vector<int32_t>(expected.begin(), expected.begin() + stop_at));
  EXPECT_EQ(engine->kv_stats().used_blocks, 0);
}

// Beam search on a device sampler takes each beam's 2 x width candidates from step_topk (no
// vocab-wide rows) and must find what the host path finds from the full logits.
TEST(DeviceSamplingTest, BeamSearchFromDeviceTopKMatchesTheHostPath) {
  for (int32_t width : {1, 2, 4}) {
    DecodingConfig beam;
    beam.strategy = DecodingStrategy::kBeam;
    beam.beam_width = width;
    beam.max_new_tokens = 12;
    auto host = make_engine(std::make_unique<testing::ScriptedBackend>(kVocab, kBlocks, kBlockSize, hash_logits), 3);
    auto fake = std::make_unique<FakeDeviceSampler>();
    FakeDeviceSampler* f = fake.get();
    auto device = make_engine(std::move(fake), 3);
    const auto a = generate(*host, {5, 6, 7}, beam);
    const auto b = generate(*device, {5, 6, 7}, beam);
    ASSERT_TRUE(a.ok() && b.ok()) << width;
    EXPECT_EQ(b.value().token_ids, a.value().token_ids) << "width " << width;
    EXPECT_NEAR(b.value().score, a.value().score, 1e-5) << "width " << width;
    EXPECT_GT(f->topk_calls, 0) << "the beam search did not use the device top-k";
    EXPECT_EQ(device->kv_stats().used_blocks, 0) << "beam search leaked KV blocks";
  }
}

}  // namespace
}  // namespace effitune::engine
