// Tokenizers on small hand-made vocabularies, where every expected id sequence follows by hand from
// the algorithm's definition (SentencePiece: merge the highest-scoring adjacent pair, leftmost on
// ties; GPT-2 BPE: merge the lowest-ranked pair), plus metadata validation.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <string>
#include <vector>

#include "effitune/engine/gguf.h"
#include "effitune/engine/tokenizer.h"
#include "support/paths.h"

namespace effitune::engine {
namespace {

constexpr int32_t kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kByte = 6;

struct Tok {
  std::string text;
  float score;
  int32_t type;
};

std::unique_ptr<GgufFile> write_and_open(const GgufWriter& w) {
  const std::string path = testing::make_temp_dir("tokenizer-test") + "/vocab.gguf";
  Status s = w.write(path);
  EXPECT_TRUE(s.ok()) << s.to_string();
  auto f = GgufFile::open(path);
  EXPECT_TRUE(f.ok()) << f.status().to_string();
  return f.ok() ? std::move(*f) : nullptr;
}

void set_vocab(GgufWriter& w, const std::vector<Tok>& toks) {
  std::vector<std::string> texts;
  std::vector<float> scores;
  std::vector<int32_t> types;
  for (const Tok& t : toks) {
    texts.push_back(t.text);
    scores.push_back(t.score);
    types.push_back(t.type);
  }
  w.set_string_array("tokenizer.ggml.tokens", texts);
  w.set_f32_array("tokenizer.ggml.scores", scores);
  w.set_i32_array("tokenizer.ggml.token_type", types);
}

// ids: 0 <unk>, 1 <s>, 2 </s>, 3 <0x21> '!', 4 <0xC3>, 5 <0xA9>, 6 ▁, 7 a, 8 b, 9 c, 10 ab, 11 bc,
// 12 ▁a, 13 <tag> (user-defined), 14 ▁b
std::vector<Tok> spm_vocab(float ab, float bc) {
  return {{"<unk>", 0, kUnknown}, {"<s>", 0, kControl}, {"</s>", 0, kControl},  {"<0x21>", 0, kByte},
          {"<0xC3>", 0, kByte},   {"<0xA9>", 0, kByte}, {"\xE2\x96\x81", -10, kNormal}, {"a", -4, kNormal},
          {"b", -4, kNormal},     {"c", -4, kNormal},   {"ab", ab, kNormal},       {"bc", bc, kNormal},
          {"\xE2\x96\x81" "a", -5, kNormal}, {"<tag>", 0, kUserDefined}, {"\xE2\x96\x81" "b", -5, kNormal}};
}

std::unique_ptr<Tokenizer> spm(const std::vector<Tok>& toks, std::unique_ptr<GgufFile>& keep,
                               bool add_space_prefix = true) {
  GgufWriter w;
  w.set_string("tokenizer.ggml.model", "llama");
  set_vocab(w, toks);
  if (!add_space_prefix) w.set_bool("tokenizer.ggml.add_space_prefix", false);
  keep = write_and_open(w);
  if (!keep) return nullptr;
  auto t = make_tokenizer(*keep);
  EXPECT_TRUE(t.ok()) << t.status().to_string();
  return t.ok() ? std::move(*t) : nullptr;
}

using Ids = std::vector<int32_t>;

TEST(SpmTokenizer, MergesTheHighestScoringPairFirst) {
  std::unique_ptr<GgufFile> f;
  // "abc" -> "▁abc". ab (-1) beats bc (-2) and ▁a (-5): ▁ ab c; nothing merges further.
  auto t = spm(spm_vocab(-1, -2), f);
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->encode("abc", false), (Ids{6, 10, 9}));
  // bc (-0.5) first: ▁ a bc, then ▁a (-5): ▁a bc.
  auto t2 = spm(spm_vocab(-1, -0.5f), f);
  ASSERT_NE(t2, nullptr);
  EXPECT_EQ(t2->encode("abc", false), (Ids{12, 11}));
  // Equal scores: the leftmost pair (ab) wins.
  auto t3 = spm(spm_vocab(-1, -1), f);
  ASSERT_NE(t3, nullptr);
  EXPECT_EQ(t3->encode("abc", false), (Ids{6, 10, 9}));
}

TEST(SpmTokenizer, SpacesBecomeU2581AndTheEmptyStringHasNoTokens) {
  std::unique_ptr<GgufFile> f;
  auto t = spm(spm_vocab(-1, -2), f);
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->encode("a b", false), (Ids{12, 14}));
  EXPECT_EQ(t->encode("", false), Ids{});
  EXPECT_EQ(t->encode("", true), (Ids{1}));
  EXPECT_EQ(t->encode("a", true), (Ids{1, 12}));
  EXPECT_EQ(t->decode({12, 14}), "a b");  // the prefix space is dropped
  EXPECT_EQ(t->decode({1, 12, 14, 2}), "a b");  // BOS and EOS have no output text
  EXPECT_EQ(t->token_to_piece(14), " b");
  EXPECT_EQ(t->token_to_piece(99), "");
  EXPECT_EQ(t->decode({12, -5, 400, 14}), "a b");  // ids out of range decode to nothing
}

TEST(SpmTokenizer, WithoutSpacePrefix) {
  std::unique_ptr<GgufFile> f;
  auto t = spm(spm_vocab(-1, -2), f, /*add_space_prefix=*/false);
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->encode("ab", false), (Ids{10}));
  EXPECT_EQ(t->decode({6, 10}), " ab");
}

TEST(SpmTokenizer, UnknownCharactersFallBackToBytesThenUnk) {
  std::unique_ptr<GgufFile> f;
  auto t = spm(spm_vocab(-1, -2), f);
  ASSERT_NE(t, nullptr);
  // '!' has a byte token; é is C3 A9, both byte tokens exist; 'z' (0x7A) has none -> <unk>.
  EXPECT_EQ(t->encode("a!", false), (Ids{12, 3}));
  EXPECT_EQ(t->encode("a\xC3\xA9", false), (Ids{12, 4, 5}));
  EXPECT_EQ(t->encode("az", false), (Ids{12, 0}));
  EXPECT_EQ(t->decode({12, 4, 5, 3}), "a\xC3\xA9!");
  EXPECT_EQ(t->decode({12, 0}), "a");  // <unk> has no output text
}

TEST(SpmTokenizer, UserDefinedTokensAreMatchedInText) {
  std::unique_ptr<GgufFile> f;
  auto t = spm(spm_vocab(-1, -2), f);
  ASSERT_NE(t, nullptr);
  // As in llama.cpp, the text after a token gets the prefix space again.
  EXPECT_EQ(t->encode("a<tag>b", false), (Ids{12, 13, 14}));
  EXPECT_EQ(t->find_token("<tag>"), 13);
  // Control-token text is not parsed: "<s>" is plain text (no byte tokens for < s > -> <unk>).
  const Ids ids = t->encode("<s>", false);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), 1), 0);
}

// Byte-level BPE vocab: every printable ASCII character maps to itself; ' ' is Ġ (U+0120).
std::unique_ptr<Tokenizer> bpe(const std::vector<std::string>& extra, const std::vector<std::string>& merges,
                               std::unique_ptr<GgufFile>& keep, const std::string& pre = "gpt-2") {
  std::vector<Tok> toks;
  for (char c = '!'; c <= '~'; ++c) toks.push_back({std::string(1, c), 0, kNormal});  // ids 0..93
  toks.push_back({"\xC4\xA0", 0, kNormal});                                             // 94: Ġ
  toks.push_back({"<|eot|>", 0, kControl});                                              // 95
  for (const std::string& e : extra) toks.push_back({e, 0, kNormal});                    // 96..
  GgufWriter w;
  w.set_string("tokenizer.ggml.model", "gpt2");
  w.set_string("tokenizer.ggml.pre", pre);
  set_vocab(w, toks);
  w.set_string_array("tokenizer.ggml.merges", merges);
  w.set_u32("tokenizer.ggml.eos_token_id", 95);
  keep = write_and_open(w);
  if (!keep) return nullptr;
  auto t = make_tokenizer(*keep);
  EXPECT_TRUE(t.ok()) << t.status().to_string();
  return t.ok() ? std::move(*t) : nullptr;
}

int32_t ch(char c) { return c - '!'; }

TEST(BpeTokenizer, MergesByRankOrder) {
  std::unique_ptr<GgufFile> f;
  // "b c" ranks before "a b": abc -> a bc.
  auto t = bpe({"ab", "bc"}, {"b c", "a b"}, f);
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->encode("abc", false), (Ids{ch('a'), 97}));
  // "a b" first: abc -> ab c.
  auto t2 = bpe({"ab", "bc"}, {"a b", "b c"}, f);
  ASSERT_NE(t2, nullptr);
  EXPECT_EQ(t2->encode("abc", false), (Ids{96, ch('c')}));
  // A merge whose result continues: ab + c -> abc.
  auto t3 = bpe({"ab", "abc"}, {"a b", "ab c"}, f);
  ASSERT_NE(t3, nullptr);
  EXPECT_EQ(t3->encode("abcabc", false), (Ids{97, 97}));
  EXPECT_EQ(t3->decode({97, 97}), "abcabc");
}

TEST(BpeTokenizer, Gpt2RegexSplitsWordsAndKeepsOneSpaceForTheNextWord) {
  std::unique_ptr<GgufFile> f;
  // Ġb (96) exists and merges; a merge never crosses a word boundary.
  auto t = bpe({"\xC4\xA0" "b", "a\xC4\xA0"}, {"\xC4\xA0 b", "a \xC4\xA0"}, f);
  ASSERT_NE(t, nullptr);
  // " ?\p{L}+": "a", " b".
  EXPECT_EQ(t->encode("a b", false), (Ids{ch('a'), 96}));
  // "\s+(?!\S)" leaves the last space to " b": "a", " ", " b".
  EXPECT_EQ(t->encode("a  b", false), (Ids{ch('a'), 94, 96}));
  // Contractions split off: "I", "'m".
  EXPECT_EQ(t->encode("I'm", false), (Ids{ch('I'), ch('\''), ch('m')}));
  EXPECT_EQ(t->decode({ch('a'), 94, 96}), "a  b");
  // Control tokens decode to nothing; the eos id comes from the file.
  EXPECT_EQ(t->eos_id(), 95);
  EXPECT_EQ(t->decode({ch('a'), 95}), "a");
}

TEST(BpeTokenizer, Llama3PreTokenizerEmitsWholeWordTokensWithoutMerging) {
  std::unique_ptr<GgufFile> f;
  // No merges at all, but "hello" is a token and llama3 sets ignore_merges.
  auto t = bpe({"hello"}, {"h e"}, f, "llama-bpe");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->encode("hello", false), (Ids{96}));
  // llama3's regex groups digits in threes: "1234" -> "123", "4" (no merges, so per character).
  EXPECT_EQ(t->encode("1234", false), (Ids{ch('1'), ch('2'), ch('3'), ch('4')}));
}

TEST(BpeTokenizer, CharactersOutsideTheVocabularyAreDropped) {
  std::unique_ptr<GgufFile> f;
  auto t = bpe({}, {"a b"}, f);
  ASSERT_NE(t, nullptr);
  // é's bytes map to Ã and © which this vocabulary lacks; llama.cpp drops them too.
  EXPECT_EQ(t->encode("a\xC3\xA9", false), (Ids{ch('a')}));
}

Status make_error(const std::function<void(GgufWriter&)>& edit) {
  GgufWriter w;
  w.set_string("tokenizer.ggml.model", "llama");
  set_vocab(w, spm_vocab(-1, -2));
  edit(w);
  auto f = write_and_open(w);
  if (!f) return internal_error("could not write the test file");
  auto t = make_tokenizer(*f);
  return t.ok() ? Status::ok_status() : t.status();
}

TEST(MakeTokenizer, RejectsInconsistentMetadataNamingTheKey) {
  Status s = make_error([](GgufWriter& w) { w.set_f32_array("tokenizer.ggml.scores", {0.0f, 1.0f}); });
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("tokenizer.ggml.scores"), std::string::npos) << s.to_string();

  s = make_error([](GgufWriter& w) { w.set_i32_array("tokenizer.ggml.token_type", {1, 1, 1}); });
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("tokenizer.ggml.token_type"), std::string::npos) << s.to_string();

  s = make_error([](GgufWriter& w) { w.set_u32("tokenizer.ggml.bos_token_id", 15); });
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("tokenizer.ggml.bos_token_id"), std::string::npos) << s.to_string();

  s = make_error([](GgufWriter& w) { w.set_f32_array("tokenizer.ggml.tokens", {1.0f}); });
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("tokenizer.ggml.tokens"), std::string::npos) << s.to_string();

  s = make_error([](GgufWriter& w) { w.set_string("tokenizer.ggml.model", "t5"); });
  EXPECT_EQ(s.code(), StatusCode::kUnimplemented) << s.to_string();

  s = make_error([](GgufWriter& w) { w.set_string("tokenizer.ggml.model", "gpt2"); });
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("tokenizer.ggml.merges"), std::string::npos) << s.to_string();

  s = make_error([](GgufWriter& w) {
    w.set_string("tokenizer.ggml.model", "gpt2");
    w.set_string("tokenizer.ggml.pre", "no-such-pre");
    w.set_string_array("tokenizer.ggml.merges", {"a b"});
  });
  EXPECT_EQ(s.code(), StatusCode::kUnimplemented);
  EXPECT_NE(s.message().find("tokenizer.ggml.pre"), std::string::npos) << s.to_string();
}

TEST(MakeTokenizer, NotFoundWithoutTokenizer) {
  GgufWriter w;
  w.set_string("general.architecture", "llama");
  auto f = write_and_open(w);
  ASSERT_NE(f, nullptr);
  auto t = make_tokenizer(*f);
  EXPECT_EQ(t.status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace effitune::engine
