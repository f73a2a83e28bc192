// Chat formats and the max-tokens split, checked with a byte-level fake tokenizer: every text piece
// costs its length in bytes and every special token one id, so expected sequences and the
// truncation table are worked out by hand below.
#include "effitune/engine/chat_format.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "support/fake_tokenizer.h"
#include "support/paths.h"

namespace effitune::engine {
namespace {

using testing::FakeByteTokenizer;

const std::vector<std::string> kSupportDeskSpecials = {"<|bos|>", "<|end|>", "<|system|>", "<|user|>",
                                                       "<|assistant|>", "<|pad|>"};

// Expected-sequence builder: bytes of text plus special ids looked up by name.
struct Seq {
  const FakeByteTokenizer& tok;
  std::vector<int32_t> ids;
  Seq& t(const std::string& s) {
    for (unsigned char c : s) ids.push_back(c);
    return *this;
  }
  Seq& s(const std::string& name) {
    int32_t id = tok.find_token(name);
    EXPECT_GE(id, 0) << name;
    ids.push_back(id);
    return *this;
  }
  Seq& id(int32_t x) {
    ids.push_back(x);
    return *this;
  }
};

Conversation small_conversation() {
  Conversation c;
  c.system = "Be kind.";
  c.turns = {{ChatRole::kUser, "Order 42."}, {ChatRole::kAssistant, "Noted."}};
  c.question = "Which order?";
  return c;
}

TEST(ChatFormatTest, NamesRoundTrip) {
  for (ChatFormat f : {ChatFormat::kSupportDesk, ChatFormat::kChatMl, ChatFormat::kLlama2, ChatFormat::kLlama3}) {
    Result<ChatFormat> back = parse_chat_format(chat_format_name(f));
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, f);
  }
  Result<ChatFormat> bad = parse_chat_format("jinja");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("chatml"), std::string::npos);
}

TEST(ChatFormatTest, SupportDeskMatchesTheTrainingLayout) {
  FakeByteTokenizer tok(kSupportDeskSpecials, "<|bos|>", "<|end|>");
  Result<std::vector<int32_t>> ids = render_conversation(ChatFormat::kSupportDesk, tok, small_conversation());
  ASSERT_TRUE(ids.ok()) << ids.status().to_string();
  Seq want{tok, {}};
  want.s("<|bos|>").s("<|system|>").t(" Be kind.").s("<|end|>");
  want.s("<|user|>").t(" Order 42.").s("<|end|>");
  want.s("<|assistant|>").t(" Noted.").s("<|end|>");
  want.s("<|user|>").t(" Which order?").s("<|end|>").s("<|assistant|>");
  EXPECT_EQ(*ids, want.ids);
}

TEST(ChatFormatTest, ChatMl) {
  FakeByteTokenizer tok({"<|im_start|>", "<|im_end|>", "<|endoftext|>"}, "", "<|endoftext|>");
  Result<std::vector<int32_t>> ids = render_conversation(ChatFormat::kChatMl, tok, small_conversation());
  ASSERT_TRUE(ids.ok()) << ids.status().to_string();
  Seq want{tok, {}};
  want.s("<|im_start|>").t("system\nBe kind.").s("<|im_end|>").t("\n");
  want.s("<|im_start|>").t("user\nOrder 42.").s("<|im_end|>").t("\n");
  want.s("<|im_start|>").t("assistant\nNoted.").s("<|im_end|>").t("\n");
  want.s("<|im_start|>").t("user\nWhich order?").s("<|im_end|>").t("\n");
  want.s("<|im_start|>").t("assistant\n");
  EXPECT_EQ(*ids, want.ids);
}

TEST(ChatFormatTest, Llama2PutsTheSystemInTheFirstInst) {
  FakeByteTokenizer tok({"<s>", "</s>"}, "<s>", "</s>");
  Result<std::vector<int32_t>> ids = render_conversation(ChatFormat::kLlama2, tok, small_conversation());
  ASSERT_TRUE(ids.ok()) << ids.status().to_string();
  Seq want{tok, {}};
  want.s("<s>").t("[INST] <<SYS>>\nBe kind.\n<</SYS>>\n\nOrder 42. [/INST]").t(" Noted. ").s("</s>");
  want.s("<s>").t("[INST] Which order? [/INST]");
  EXPECT_EQ(*ids, want.ids);

  // A history that starts with an assistant turn gets an empty user message carrying the system.
  Conversation c = small_conversation();
  c.turns.erase(c.turns.begin());
  ids = render_conversation(ChatFormat::kLlama2, tok, c);
  ASSERT_TRUE(ids.ok());
  Seq want2{tok, {}};
  want2.s("<s>").t("[INST] <<SYS>>\nBe kind.\n<</SYS>>\n\n [/INST]").t(" Noted. ").s("</s>");
  want2.s("<s>").t("[INST] Which order? [/INST]");
  EXPECT_EQ(*ids, want2.ids);
}

TEST(ChatFormatTest, Llama3) {
  FakeByteTokenizer tok({"<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"},
                        "<|begin_of_text|>", "<|eot_id|>");
  Result<std::vector<int32_t>> ids = render_conversation(ChatFormat::kLlama3, tok, small_conversation());
  ASSERT_TRUE(ids.ok()) << ids.status().to_string();
  Seq want{tok, {}};
  want.s("<|begin_of_text|>");
  for (auto [role, content] : std::vector<std::pair<std::string, std::string>>{
           {"system", "Be kind."}, {"user", "Order 42."}, {"assistant", "Noted."}, {"user", "Which order?"}}) {
    want.s("<|start_header_id|>").t(role).s("<|end_header_id|>").t("\n\n" + content).s("<|eot_id|>");
  }
  want.s("<|start_header_id|>").t("assistant").s("<|end_header_id|>").t("\n\n");
  EXPECT_EQ(*ids, want.ids);
}

TEST(ChatFormatTest, SpecialTextInAMessageIsNotASpecialToken) {
  FakeByteTokenizer tok({"<|im_start|>", "<|im_end|>"}, "", "");
  Conversation c;
  c.question = "<|im_end|>";
  Result<std::vector<int32_t>> ids = render_conversation(ChatFormat::kChatMl, tok, c);
  ASSERT_TRUE(ids.ok());
  // <|im_start|> "user\n<|im_end|>" <|im_end|> "\n" <|im_start|> "assistant\n": exactly three specials.
  int specials = 0;
  for (int32_t id : *ids) specials += id >= FakeByteTokenizer::kFirstSpecial;
  EXPECT_EQ(specials, 3);
}

TEST(ChatFormatTest, MissingSpecialTokenIsNamed) {
  FakeByteTokenizer tok({"<|im_start|>"}, "", "");
  Result<std::vector<int32_t>> ids = render_conversation(ChatFormat::kChatMl, tok, small_conversation());
  ASSERT_FALSE(ids.ok());
  EXPECT_EQ(ids.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(ids.status().message().find("<|im_end|>"), std::string::npos);
}

// The truncation table. System "SSSSSSSSSS" (10 bytes): <|bos|> <|system|> + 11 (" " + 10) + <|end|> = 14.
// Each turn: role + (1 + len) + <|end|> = len + 3. Turn lengths 7, 5, 9, 3 -> 10, 8, 12, 6 tokens.
// Question "qqqqqq" (6): <|user|> + 7 + <|end|> + <|assistant|> = 10. Full prompt 14 + 36 + 10 = 60.
// Dropping turns oldest first leaves 60, 50, 42, 30, 24 tokens.
TEST(TokenBudgetTest, DropsOldestTurnsWholeToFitTheHistoryBudget) {
  FakeByteTokenizer tok(kSupportDeskSpecials, "<|bos|>", "<|end|>");
  Conversation c;
  c.system = std::string(10, 'S');
  c.turns = {{ChatRole::kUser, std::string(7, 'a')},
             {ChatRole::kAssistant, std::string(5, 'b')},
             {ChatRole::kUser, std::string(9, 'c')},
             {ChatRole::kAssistant, std::string(3, 'd')}};
  c.question = std::string(6, 'q');

  struct Row {
    int32_t history_budget;
    int32_t want_prompt_tokens;
    int32_t want_turns_dropped;
    int32_t want_tokens_dropped;
  };
  const Row rows[] = {
      {1000, 60, 0, 0}, {60, 60, 0, 0},  {59, 50, 1, 10}, {50, 50, 1, 10}, {49, 42, 2, 18},
      {42, 42, 2, 18},  {41, 30, 3, 30}, {30, 30, 3, 30}, {29, 24, 4, 36}, {24, 24, 4, 36},
  };
  for (const Row& r : rows) {
    SCOPED_TRACE("history budget " + std::to_string(r.history_budget));
    Result<RenderedPrompt> p = render_with_budget(ChatFormat::kSupportDesk, tok, c, {r.history_budget, 17});
    ASSERT_TRUE(p.ok()) << p.status().to_string();
    EXPECT_EQ(static_cast<int32_t>(p->tokens.size()), r.want_prompt_tokens);
    EXPECT_EQ(p->turns_dropped, r.want_turns_dropped);
    EXPECT_EQ(p->history_tokens_dropped, r.want_tokens_dropped);
    EXPECT_EQ(p->max_new_tokens, 17);
    // The kept prompt is the rendering of the newest turns: system first, question last.
    Conversation kept = c;
    kept.turns.erase(kept.turns.begin(), kept.turns.begin() + r.want_turns_dropped);
    EXPECT_EQ(p->tokens, *render_conversation(ChatFormat::kSupportDesk, tok, kept));
  }

  Result<RenderedPrompt> too_small = render_with_budget(ChatFormat::kSupportDesk, tok, c, {23, 17});
  ASSERT_FALSE(too_small.ok());
  EXPECT_EQ(too_small.status().code(), StatusCode::kOutOfRange);
  EXPECT_NE(too_small.status().message().find("24"), std::string::npos);

  Result<RenderedPrompt> negative = render_with_budget(ChatFormat::kSupportDesk, tok, c, {60, -1});
  ASSERT_FALSE(negative.ok());
  EXPECT_EQ(negative.status().code(), StatusCode::kInvalidArgument);
}

TEST(TokenBudgetTest, HardLimitIsHistoryPlusResponse) {
  TokenBudget b{300, 212};
  EXPECT_EQ(b.hard_limit(), 512);
}

TEST(TokenBudgetTest, StopTokensEndTheAssistantTurn) {
  FakeByteTokenizer sd(kSupportDeskSpecials, "<|bos|>", "<|end|>");
  Result<RenderedPrompt> p = render_with_budget(ChatFormat::kSupportDesk, sd, small_conversation(), {100, 8});
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->stop_token_ids, std::vector<int32_t>{sd.find_token("<|end|>")});

  FakeByteTokenizer l3({"<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>",
                        "<|end_of_text|>"},
                       "<|begin_of_text|>", "<|end_of_text|>");
  p = render_with_budget(ChatFormat::kLlama3, l3, small_conversation(), {200, 8});
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->stop_token_ids, (std::vector<int32_t>{l3.find_token("<|eot_id|>"), l3.find_token("<|end_of_text|>")}));
}

Result<ChatFormat> detect_from(const std::vector<std::string>& tokens, const std::string& model,
                               const std::string& explicit_format) {
  GgufWriter w;
  w.set_string("general.architecture", "llama");
  w.set_string("tokenizer.ggml.model", model);
  w.set_string_array("tokenizer.ggml.tokens", tokens);
  // A stored template must never matter: it names ChatML here in every case.
  w.set_string("tokenizer.chat_template", "{% for m in messages %}<|im_start|>{{ m.content }}{% endfor %}");
  if (!explicit_format.empty()) w.set_string(std::string(kChatFormatKey), explicit_format);
  std::string path = testing::make_temp_dir("chat_format") + "/m.gguf";
  EXPECT_TRUE(w.write(path).ok());
  Result<std::unique_ptr<GgufFile>> f = GgufFile::open(path);
  EXPECT_TRUE(f.ok()) << f.status().to_string();
  if (!f.ok()) return f.status();
  return detect_chat_format(**f);
}

TEST(ChatFormatTest, DetectsFromMetadataAndVocabulary) {
  EXPECT_EQ(*detect_from({"a", "<|bos|>", "<|end|>", "<|assistant|>"}, "gpt2", ""), ChatFormat::kSupportDesk);
  EXPECT_EQ(*detect_from({"a", "<|im_start|>", "<|im_end|>"}, "gpt2", ""), ChatFormat::kChatMl);
  EXPECT_EQ(*detect_from({"a", "<|start_header_id|>", "<|eot_id|>"}, "gpt2", ""), ChatFormat::kLlama3);
  EXPECT_EQ(*detect_from({"<s>", "</s>", "a"}, "llama", ""), ChatFormat::kLlama2);
  EXPECT_EQ(*detect_from({"<s>", "</s>", "a"}, "llama", "support-desk"), ChatFormat::kSupportDesk);

  Result<ChatFormat> none = detect_from({"a", "b"}, "gpt2", "");
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().code(), StatusCode::kNotFound);
  Result<ChatFormat> bad = detect_from({"a"}, "gpt2", "vicuna");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("effitune.chat_format"), std::string::npos);
}

}  // namespace
}  // namespace effitune::engine
