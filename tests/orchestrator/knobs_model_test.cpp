// Issue 3, acceptance 2: each tuned knob moves its matching indicator in the expected direction,
// beyond the confidence interval, on the shipped support-desk task model (test split).
#include <gtest/gtest.h>

#include <cstdio>

#include "effitune/engine/engine.h"
#include "effitune/orchestrator/quality_probe.h"
#include "effitune/probes/dataset.h"
#include "support/paths.h"

namespace effitune::orchestrator {
namespace {

constexpr size_t kItems = 40;

std::unique_ptr<engine::Engine> make_engine(engine::DType type) {
  engine::EngineConfig c;
  c.model_path = testing::source_dir() + "/experiments/support-desk/model.gguf";
  c.weight_type = type;
  c.backend.threads = 2;
  c.max_sequences = 4;
  return engine::Engine::create(c).value();
}

class KnobsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    items_ = new std::vector<probes::EvalItem>(
        probes::read_dataset(testing::source_dir() + "/experiments/support-desk/test.jsonl").value());
    reference_ = make_engine(engine::DType::kF32).release();
  }
  static void TearDownTestSuite() {
    delete reference_;
    delete items_;
  }
  static QualityReport probe(engine::Engine& e, int history, int response, engine::DecodingConfig d = {}, int repeats = 1) {
    QualityProbeOptions o;
    o.budget.history_tokens = history;
    o.budget.response_tokens = response;
    o.decoding = d;
    o.repeats = repeats;
    o.max_items = kItems;
    o.seed = 11;
    return run_quality_probe(e, reference_, *items_, o).value();
  }
  static std::vector<probes::EvalItem>* items_;
  static engine::Engine* reference_;
};
std::vector<probes::EvalItem>* KnobsTest::items_ = nullptr;
engine::Engine* KnobsTest::reference_ = nullptr;

// Separated: the better configuration's whole interval lies above the worse one's.
void expect_above(const probes::Estimate& hi, const probes::Estimate& lo, const char* what) {
  std::printf("%s: %.4g [%.4g, %.4g] above %.4g [%.4g, %.4g]\n", what, hi.value, hi.ci_low, hi.ci_high, lo.value, lo.ci_low,
              lo.ci_high);
  EXPECT_GT(hi.ci_low, lo.ci_high) << what << ": [" << hi.ci_low << ", " << hi.ci_high << "] vs [" << lo.ci_low << ", "
                                   << lo.ci_high << "]";
}

TEST_F(KnobsTest, ShortHistoryLowersAccuracyAndHistoryConsistency) {
  auto full = probe(*reference_, 400, 96);
  auto short_history = probe(*reference_, 96, 96);
  expect_above(full.accuracy, short_history.accuracy, "accuracy");
  expect_above(full.history_consistency, short_history.history_consistency, "history consistency");
}

TEST_F(KnobsTest, ShortResponseBudgetTruncatesAndLowersCompleteness) {
  auto full = probe(*reference_, 400, 96);
  auto cut = probe(*reference_, 400, 12);
  expect_above(cut.truncation_rate, full.truncation_rate, "truncation rate");
  expect_above(full.completeness, cut.completeness, "completeness");
}

TEST_F(KnobsTest, Q4_0MovesAgreementWithTheReference) {
  auto f32 = probe(*reference_, 400, 96);
  auto q4 = make_engine(engine::DType::kQ4_0);
  auto quantized = probe(*q4, 400, 96);
  // The reference configuration agrees with itself exactly (KL 0); Q4_0's KL interval is above it.
  expect_above(quantized.mean_kl, f32.mean_kl, "mean KL against the reference");
  EXPECT_LE(quantized.same_top1.value, f32.same_top1.value);
}

TEST_F(KnobsTest, HigherTemperatureLowersRepeatAgreement) {
  engine::DecodingConfig cool, hot;
  cool.strategy = hot.strategy = engine::DecodingStrategy::kSample;
  cool.temperature = 0.3f;
  hot.temperature = 2.0f;
  auto a = probe(*reference_, 400, 96, cool, 4);
  auto b = probe(*reference_, 400, 96, hot, 4);
  expect_above(a.repeat_agreement, b.repeat_agreement, "repeat agreement");
}

}  // namespace
}  // namespace effitune::orchestrator
