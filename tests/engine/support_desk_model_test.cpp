// The shipped support-desk task model through the engine: its GGUF loads with its tokenizer, the
// chat format comes from its metadata, and greedy answers on the test split reach the bar (>= 90%
// normalized exact match on short answers, full history). A short history budget must cost
// accuracy: that is the knob the task exists to show.
#include <gtest/gtest.h>

#include <cctype>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "effitune/engine/chat_format.h"
#include "effitune/engine/engine.h"
#include "effitune/engine/generate.h"
#include "support/paths.h"

namespace effitune::engine {
namespace {

std::string model_path() { return testing::source_dir() + "/experiments/support-desk/model.gguf"; }
std::string test_split_path() { return testing::source_dir() + "/experiments/support-desk/test.jsonl"; }

// HELM's quasi-exact-match normalization, written out here so the test does not lean on probes/:
// lowercase, drop ASCII punctuation, drop the words a/an/the, collapse whitespace.
std::string normalize(const std::string& s) {
  std::string kept;
  for (unsigned char c : s) {
    if (!std::ispunct(c)) kept += static_cast<char>(std::tolower(c));
  }
  std::istringstream words(kept);
  std::string w;
  std::string out;
  while (words >> w) {
    if (w == "a" || w == "an" || w == "the") continue;
    out += out.empty() ? "" : " ";
    out += w;
  }
  return out;
}

struct Example {
  Conversation conv;
  std::string answer;
};

std::vector<Example> short_answer_examples() {
  std::ifstream in(test_split_path());
  EXPECT_TRUE(in.good()) << test_split_path();
  std::vector<Example> out;
  std::string line;
  while (std::getline(in, line)) {
    nlohmann::json j = nlohmann::json::parse(line);
    if (j.at("answer_type") != "short") continue;
    Example e;
    e.conv.system = j.at("system").get<std::string>();
    e.conv.question = j.at("question").get<std::string>();
    for (const auto& t : j.at("turns")) {
      e.conv.turns.push_back({t.at("role") == "user" ? ChatRole::kUser : ChatRole::kAssistant,
                              t.at("content").get<std::string>()});
    }
    e.answer = j.at("answer").get<std::string>();
    out.push_back(std::move(e));
  }
  return out;
}

class SupportDeskModelTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    EngineConfig config;
    config.model_path = model_path();
    config.max_sequences = 1;
    Result<std::unique_ptr<Engine>> e = Engine::create(config);
    ASSERT_TRUE(e.ok()) << e.status().to_string();
    engine_ = std::move(e).value().release();
  }
  static void TearDownTestSuite() {
    delete engine_;
    engine_ = nullptr;
  }

  // Exact-match rate over the first `limit` short answers with the given history budget.
  static double accuracy(int32_t history_tokens, size_t limit, int32_t* n_out) {
    const Tokenizer& tok = *engine_->tokenizer();
    int correct = 0;
    int n = 0;
    std::vector<Example> examples = short_answer_examples();
    if (examples.size() > limit) examples.resize(limit);
    for (const Example& e : examples) {
      Result<RenderedPrompt> p = render_with_budget(ChatFormat::kSupportDesk, tok, e.conv, {history_tokens, 16});
      if (!p.ok()) {
        ADD_FAILURE() << p.status().to_string();
        continue;
      }
      DecodingConfig dc;
      dc.max_new_tokens = p->max_new_tokens;
      Result<GenerationResult> r = generate(*engine_, p->tokens, dc);
      if (!r.ok()) {
        ADD_FAILURE() << r.status().to_string();
        continue;
      }
      correct += normalize(r->text) == normalize(e.answer);
      ++n;
    }
    *n_out = n;
    return n ? static_cast<double>(correct) / n : 0.0;
  }

  static Engine* engine_;
};

Engine* SupportDeskModelTest::engine_ = nullptr;

TEST_F(SupportDeskModelTest, LoadsWithItsTokenizerAndChatFormat) {
  ASSERT_NE(engine_->tokenizer(), nullptr);
  ASSERT_NE(engine_->gguf(), nullptr);
  Result<ChatFormat> f = detect_chat_format(*engine_->gguf());
  ASSERT_TRUE(f.ok()) << f.status().to_string();
  EXPECT_EQ(*f, ChatFormat::kSupportDesk);
  const Tokenizer& tok = *engine_->tokenizer();
  EXPECT_EQ(tok.eos_id(), tok.find_token("<|end|>"));
  // Ids from tools/support_desk/bpe.py, an independent Python BPE over the shipped merges (regenerate
  // these if the tokenizer is retrained): words are single tokens, digits stay single bytes.
  EXPECT_EQ(tok.encode(" order 48213", false), (std::vector<int32_t>{282, 32, 52, 56, 50, 49, 51}));
  EXPECT_EQ(tok.encode(" What is my order number?", false), (std::vector<int32_t>{592, 279, 459, 282, 344, 63}));
  EXPECT_EQ(tok.decode({282, 32, 52, 56, 50, 49, 51}), " order 48213");
}

TEST_F(SupportDeskModelTest, GreedyFullHistoryReachesTheBar) {
  int32_t n = 0;
  double em = accuracy(/*history_tokens=*/448, /*limit=*/1000, &n);
  EXPECT_GE(n, 200);
  EXPECT_GE(em, 0.90) << "normalized exact match on " << n << " short answers";
  std::printf("support-desk test split: short-answer EM %.4f over %d (full history, greedy)\n", em, n);
  RecordProperty("short_answer_em", std::to_string(em));
}

TEST_F(SupportDeskModelTest, ShortHistoryBudgetCostsAccuracy) {
  int32_t n = 0;
  // The first 60 short answers keep this test short; Python measured 0.40 over all 210 at 128
  // tokens (experiments/support-desk/train_eval.json): facts stated early go with the oldest turns.
  double em = accuracy(/*history_tokens=*/128, /*limit=*/60, &n);
  EXPECT_LT(em, 0.70) << "history budget 128 on " << n << " short answers";
  std::printf("support-desk test split: short-answer EM %.4f over %d (history budget 128)\n", em, n);
}

}  // namespace
}  // namespace effitune::engine
