// A model without a tokenizer of its own (a synthetic shape, a llama2.c checkpoint) takes one from another
// GGUF (EngineConfig::tokenizer_path, the experiment's model.tokenizer, the CLI's --tokenizer): the text
// then encodes as that file's tokenizer encodes it, the chat format comes from that file, and a tokenizer
// whose ids would index past the model's embedding, or a file that is not a tokenizer, is refused by
// name before the backend starts.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "effitune/engine/chat_format.h"
#include "effitune/engine/engine.h"
#include "effitune/engine/generate.h"
#include "support/paths.h"

namespace effitune::engine {
namespace {

std::string task_model() { return testing::source_dir() + "/experiments/support-desk/model.gguf"; }

EngineConfig small(const std::string& model, const std::string& tokenizer) {
  EngineConfig c;
  c.model_path = model;
  c.tokenizer_path = tokenizer;
  c.max_sequences = 1;
  c.context_length = 64;
  c.backend.threads = 2;
  return c;
}

TEST(SeparateTokenizer, SyntheticShapeEncodesAndChatsWithAnotherGgufsTokenizer) {
  auto own = Engine::create(small(task_model(), ""));
  ASSERT_TRUE(own.ok()) << own.status().to_string();
  ASSERT_NE(own.value()->tokenizer(), nullptr);

  auto bare = Engine::create(small("synthetic:bench-134m", ""));
  ASSERT_TRUE(bare.ok()) << bare.status().to_string();
  EXPECT_EQ(bare.value()->tokenizer(), nullptr) << "a synthetic shape carries no tokenizer";

  auto paired = Engine::create(small("synthetic:bench-134m", task_model()));
  ASSERT_TRUE(paired.ok()) << paired.status().to_string();
  const Tokenizer* tok = paired.value()->tokenizer();
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(tok->vocab_size(), own.value()->tokenizer()->vocab_size());
  EXPECT_EQ(paired.value()->model().vocab_size, 32000) << "the weights are still the synthetic shape's";
  const std::string text = "My order 4417 never arrived. Can I get a refund?";
  EXPECT_EQ(tok->encode(text, true), own.value()->tokenizer()->encode(text, true));
  ASSERT_NE(paired.value()->gguf(), nullptr);
  auto format = detect_chat_format(*paired.value()->gguf());
  EXPECT_TRUE(format.ok()) << "the chat template comes with the tokenizer: " << format.status().to_string();

  // Text in, tokens out, through the random weights.
  DecodingConfig g;
  g.max_new_tokens = 3;
  auto out = generate(*paired.value(), tok->encode("hello", true), g);
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  EXPECT_LE(out.value().token_ids.size(), 3u);
  EXPECT_EQ(out.value().prompt_tokens, static_cast<int32_t>(tok->encode("hello", true).size()));
}

TEST(SeparateTokenizer, VocabularyLargerThanTheModelsIsRefusedByName) {
  // synthetic:tiny has 96 token ids; the task model's tokenizer has 1024.
  auto e = Engine::create(small("synthetic:tiny", task_model()));
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), StatusCode::kInvalidArgument);
  const std::string m = e.status().to_string();
  EXPECT_NE(m.find(task_model()), std::string::npos) << m;
  EXPECT_NE(m.find("1024"), std::string::npos) << m;
  EXPECT_NE(m.find("96"), std::string::npos) << m;
}

TEST(SeparateTokenizer, MissingOrNonGgufTokenizerFileIsNamed) {
  const std::string missing = testing::make_temp_dir("tok") + "/nowhere.gguf";
  auto e = Engine::create(small("synthetic:tiny", missing));
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), StatusCode::kNotFound);
  EXPECT_NE(e.status().to_string().find(missing), std::string::npos) << e.status().to_string();

  auto b = Engine::create(small("synthetic:tiny", testing::stories260k_path()));
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(b.status().to_string().find("not a GGUF"), std::string::npos) << b.status().to_string();
}

}  // namespace
}  // namespace effitune::engine
