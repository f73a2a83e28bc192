// The CPU backend on a real trained model (stories260K), checked against the independent float64
// reference: greedy tokens, teacher-forced NLL, and batched prefill against token-by-token decode.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "effitune/engine/backend.h"
#include "effitune/engine/model_loader.h"
#include "support/paths.h"
#include "support/reference_f64.h"

namespace effitune::engine {
namespace {

constexpr int kNewTokens = 200;
constexpr int32_t kBos = 1;

template <typename T>
int32_t argmax(const T* v, int64_t n) {
  return static_cast<int32_t>(std::max_element(v, v + n) - v);
}

// -log softmax(logits)[target], in double.
template <typename T>
double nll(const T* logits, int64_t n, int32_t target) {
  double mx = -INFINITY;
  for (int64_t i = 0; i < n; ++i) mx = std::max(mx, static_cast<double>(logits[i]));
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += std::exp(static_cast<double>(logits[i]) - mx);
  return -(static_cast<double>(logits[target]) - mx - std::log(sum));
}

class Stories260kTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto w = load_llama2c(effitune::testing::stories260k_path());
    ASSERT_TRUE(w.ok()) << w.status().to_string();
    weights_ = *w;
    BackendOptions opt;
    opt.kind = "cpu";
    opt.threads = 2;
    opt.kv_block_size = 16;
    opt.kv_blocks = 16;  // 256 positions
    auto b = make_backend(weights_, opt);
    ASSERT_TRUE(b.ok()) << b.status().to_string();
    backend_ = std::move(*b);
    // A scrambled block table, so that paging (not a contiguous layout) is what gets exercised.
    for (int32_t i = 0; i < opt.kv_blocks; ++i) table_.push_back((i * 7 + 3) % opt.kv_blocks);
  }

  std::shared_ptr<const ModelWeights> weights_;
  std::unique_ptr<Backend> backend_;
  std::vector<int32_t> table_;
};

TEST_F(Stories260kTest, LoadsTheDocumentedShape) {
  const ModelConfig& c = weights_->config;
  EXPECT_EQ(c.dim, 64);
  EXPECT_EQ(c.hidden_dim, 172);
  EXPECT_EQ(c.n_layers, 5);
  EXPECT_EQ(c.n_heads, 8);
  EXPECT_EQ(c.n_kv_heads, 4);
  EXPECT_EQ(c.vocab_size, 512);
  EXPECT_EQ(c.max_seq_len, 512);
  EXPECT_TRUE(c.tied_output);
  EXPECT_EQ(c.bos_id, 1);
  EXPECT_EQ(c.eos_id, -1);
}

TEST_F(Stories260kTest, GreedyNllAndBatchedPrefillMatchFloat64Reference) {
  const int64_t vocab = weights_->config.vocab_size;
  effitune::testing::ReferenceLlama ref(*weights_);

  // Greedy, one token per step, engine and reference each following their own argmax.
  std::vector<int32_t> seq = {kBos}, ref_seq = {kBos};
  std::vector<std::vector<float>> step_logits;
  std::vector<std::vector<double>> ref_logits;
  std::vector<float> logits;
  double max_logit_diff = 0.0;
  for (int i = 0; i < kNewTokens; ++i) {
    const int32_t tok = seq.back();
    SequenceStep st;
    st.tokens = std::span<const int32_t>(&seq.back(), 1);
    st.start_pos = static_cast<int32_t>(seq.size()) - 1;
    st.block_table = table_;
    ASSERT_TRUE(backend_->forward(std::span<const SequenceStep>(&st, 1), logits).ok());
    ASSERT_EQ(static_cast<int64_t>(logits.size()), vocab);
    step_logits.push_back(logits);
    ref_logits.push_back(ref.step(ref_seq.back()));
    for (int64_t v = 0; v < vocab; ++v)
      max_logit_diff = std::max(max_logit_diff, std::fabs(logits[v] - ref_logits.back()[v]));
    seq.push_back(argmax(logits.data(), vocab));
    ref_seq.push_back(argmax(ref_logits.back().data(), vocab));
    ASSERT_EQ(seq.back(), ref_seq.back()) << "greedy token " << i << " differs (after token " << tok << ")";
  }
  EXPECT_EQ(seq.size(), static_cast<size_t>(kNewTokens + 1));
  EXPECT_LT(max_logit_diff, 1e-3);
  // A trained model does not loop on one token from BOS; this guards against a degenerate forward
  // that happens to agree with a degenerate reference.
  std::vector<int32_t> distinct(seq.begin(), seq.end());
  std::sort(distinct.begin(), distinct.end());
  EXPECT_GT(std::unique(distinct.begin(), distinct.end()) - distinct.begin(), 20);

  // Teacher forcing: the whole sequence in one batched prefill with logits at every position.
  const std::span<const int32_t> prompt(seq.data(), kNewTokens);
  SequenceStep all;
  all.tokens = prompt;
  all.start_pos = 0;
  all.block_table = table_;
  all.all_logits = true;
  ASSERT_TRUE(backend_->forward(std::span<const SequenceStep>(&all, 1), logits).ok());
  ASSERT_EQ(static_cast<int64_t>(logits.size()), vocab * kNewTokens);
  double max_nll_diff = 0.0, max_batch_diff = 0.0, mean_nll = 0.0;
  for (int i = 0; i < kNewTokens; ++i) {
    const float* row = logits.data() + static_cast<int64_t>(i) * vocab;
    const double engine_nll = nll(row, vocab, seq[static_cast<size_t>(i) + 1]);
    const double ref_nll = nll(ref_logits[static_cast<size_t>(i)].data(), vocab, seq[static_cast<size_t>(i) + 1]);
    max_nll_diff = std::max(max_nll_diff, std::fabs(engine_nll - ref_nll));
    mean_nll += ref_nll / kNewTokens;
    for (int64_t v = 0; v < vocab; ++v)
      max_batch_diff = std::max(max_batch_diff, static_cast<double>(std::fabs(row[v] - step_logits[i][v])));
  }
  EXPECT_LT(max_nll_diff, 1e-3);
  EXPECT_LT(max_batch_diff, 1e-4);
  // Greedy text from a trained model is confident: well below the uniform log(512) = 6.24.
  EXPECT_LT(mean_nll, 3.0);
  RecordProperty("max_logit_diff", std::to_string(max_logit_diff));
  RecordProperty("max_nll_diff", std::to_string(max_nll_diff));
  std::printf("stories260K: max |logit - f64| %.3g, max |NLL - f64| %.3g, max |batched - stepwise| %.3g, "
              "mean NLL %.3f\n", max_logit_diff, max_nll_diff, max_batch_diff, mean_nll);
}

TEST_F(Stories260kTest, TwoSequencesInOneBatchMatchTheReference) {
  const int64_t vocab = weights_->config.vocab_size;
  // Two prompts of different lengths in one forward, each in its own half of the blocks.
  const std::vector<int32_t> a = {1, 200, 31, 77, 5, 300, 12, 9, 18, 40, 41, 100, 250, 17, 3, 66, 90, 2};
  const std::vector<int32_t> b = {1, 45, 46, 47};
  const std::vector<int32_t> table_a(table_.begin(), table_.begin() + 8), table_b(table_.begin() + 8, table_.end());
  SequenceStep steps[2];
  steps[0].tokens = a;
  steps[0].block_table = table_a;
  steps[0].all_logits = true;
  steps[1].tokens = b;
  steps[1].block_table = table_b;
  std::vector<float> logits;
  ASSERT_TRUE(backend_->forward(steps, logits).ok());
  ASSERT_EQ(static_cast<int64_t>(logits.size()), vocab * static_cast<int64_t>(a.size() + 1));

  effitune::testing::ReferenceLlama ref(*weights_);
  double max_diff = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    std::vector<double> r = ref.step(a[i]);
    for (int64_t v = 0; v < vocab; ++v) max_diff = std::max(max_diff, std::fabs(logits[i * vocab + v] - r[v]));
  }
  ref.reset();
  std::vector<double> r;
  for (int32_t t : b) r = ref.step(t);
  for (int64_t v = 0; v < vocab; ++v) max_diff = std::max(max_diff, std::fabs(logits[a.size() * vocab + v] - r[v]));
  EXPECT_LT(max_diff, 1e-3);
}

TEST_F(Stories260kTest, RejectsBadSteps) {
  std::vector<float> logits;
  const std::vector<int32_t> bad_token = {512};
  SequenceStep st;
  st.tokens = bad_token;
  st.block_table = table_;
  EXPECT_EQ(backend_->forward(std::span<const SequenceStep>(&st, 1), logits).code(), StatusCode::kInvalidArgument);
  const std::vector<int32_t> ok_token = {1};
  st.tokens = ok_token;
  st.start_pos = 16;  // position 16 needs a second block
  const std::vector<int32_t> short_table = {0};
  st.block_table = short_table;
  EXPECT_EQ(backend_->forward(std::span<const SequenceStep>(&st, 1), logits).code(), StatusCode::kInvalidArgument);
  const std::vector<int32_t> bad_block = {0, 99};
  st.block_table = bad_block;
  EXPECT_EQ(backend_->forward(std::span<const SequenceStep>(&st, 1), logits).code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace effitune::engine
