// Checks both tokenizers against llama.cpp's shipped test vectors (../shared/data/tokenizers): every
// string of the .inp file must encode to exactly the ids of the .out file (no BOS, specials not parsed).
#include <gtest/gtest.h>

#include <cstdio>
#include <ctime>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "effitune/engine/gguf.h"
#include "effitune/engine/tokenizer.h"
#include "support/paths.h"

namespace effitune::engine {
namespace {

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot open " << path;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The .inp format: each string is followed by "\n__ggml_vocab_test__\n".
std::vector<std::string> read_inputs(const std::string& path) {
  const std::string sep = "\n__ggml_vocab_test__\n";
  const std::string all = read_all(path);
  std::vector<std::string> out;
  size_t pos = 0;
  for (size_t hit = all.find(sep, pos); hit != std::string::npos; hit = all.find(sep, pos)) {
    out.push_back(all.substr(pos, hit - pos));
    pos = hit + sep.size();
  }
  EXPECT_EQ(pos, all.size()) << path << " has trailing text after the last separator";
  return out;
}

std::vector<std::vector<int32_t>> read_outputs(const std::string& path) {
  std::istringstream in(read_all(path));
  std::vector<std::vector<int32_t>> out;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::vector<int32_t> ids;
    int64_t id;
    while (ls >> id) ids.push_back(static_cast<int32_t>(id));
    out.push_back(std::move(ids));
  }
  return out;
}

std::string escaped(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (c == '\n') out += "\\n";
    else if (c == '\t') out += "\\t";
    else if (c < 0x20) out += "\\x" + std::to_string(c);
    else out.push_back(static_cast<char>(c));
  }
  return out;
}

std::string join(const std::vector<int32_t>& ids) {
  std::string out;
  for (int32_t id : ids) {
    if (!out.empty()) out.push_back(' ');
    out += std::to_string(id);
  }
  return out;
}

struct Loaded {
  std::unique_ptr<GgufFile> file;
  std::unique_ptr<Tokenizer> tok;
};

Loaded load(const std::string& name) {
  Loaded l;
  auto file = GgufFile::open(testing::tokenizer_dir() + "/" + name);
  EXPECT_TRUE(file.ok()) << file.status().to_string();
  if (!file.ok()) return l;
  l.file = std::move(*file);
  auto tok = make_tokenizer(*l.file);
  EXPECT_TRUE(tok.ok()) << tok.status().to_string();
  if (tok.ok()) l.tok = std::move(*tok);
  return l;
}

class VocabVectors : public ::testing::TestWithParam<const char*> {};

TEST_P(VocabVectors, EncodesEveryStringExactlyAsLlamaCpp) {
  const std::string name = GetParam();
  Loaded l = load(name);
  ASSERT_NE(l.tok, nullptr);
  const auto inputs = read_inputs(testing::tokenizer_dir() + "/" + name + ".inp");
  const auto expected = read_outputs(testing::tokenizer_dir() + "/" + name + ".out");
  ASSERT_EQ(inputs.size(), expected.size());
  ASSERT_GT(inputs.size(), 30u);
  size_t matched = 0;
  bool reported = false;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const auto got = l.tok->encode(inputs[i], /*add_bos=*/false);
    if (got == expected[i]) {
      ++matched;
    } else if (!reported) {
      reported = true;
      ADD_FAILURE() << name << " string " << i << " '" << escaped(inputs[i]) << "'\n  expected: " << join(expected[i])
                    << "\n  got:      " << join(got);
    }
  }
  EXPECT_EQ(matched, inputs.size()) << name << ": " << matched << "/" << inputs.size() << " vectors match";
}

TEST_P(VocabVectors, DecodeInvertsEncode) {
  const std::string name = GetParam();
  Loaded l = load(name);
  ASSERT_NE(l.tok, nullptr);
  for (const std::string& s : read_inputs(testing::tokenizer_dir() + "/" + name + ".inp")) {
    EXPECT_EQ(l.tok->decode(l.tok->encode(s, false)), s) << name << ": '" << escaped(s) << "'";
    EXPECT_EQ(l.tok->decode(l.tok->encode(s, true)), s) << name << " with BOS: '" << escaped(s) << "'";
  }
}

TEST_P(VocabVectors, EncodesOneMegabyteWellUnderASecond) {
  const std::string name = GetParam();
  Loaded l = load(name);
  ASSERT_NE(l.tok, nullptr);
  std::string text;
  for (const std::string& s : read_inputs(testing::tokenizer_dir() + "/" + name + ".inp")) text += s + "\n";
  std::string big;
  while (big.size() < (1u << 20)) big += text;
  // CPU time, not wall time: the bound is about the algorithm, not about a busy CI machine.
  const std::clock_t c0 = std::clock();
  const auto ids = l.tok->encode(big, false);
  const double seconds = static_cast<double>(std::clock() - c0) / CLOCKS_PER_SEC;
  EXPECT_EQ(l.tok->decode(ids), big);
  std::printf("%s: encoded %zu bytes into %zu tokens in %.3f s CPU\n", name.c_str(), big.size(), ids.size(), seconds);
#if defined(__OPTIMIZE__) && !defined(__SANITIZE_ADDRESS__)
  EXPECT_LT(seconds, 1.0);
#endif
}

TEST_P(VocabVectors, HugeRunsOfOneCharacterClassRoundTrip) {
  const std::string name = GetParam();
  Loaded l = load(name);
  ASSERT_NE(l.tok, nullptr);
  // One regex match (or one SentencePiece segment) spanning the whole input: the PCRE2 JIT stack
  // and the merge heap must cope.
  for (const std::string& run : {std::string(1 << 18, ' '), std::string(1 << 18, '\n'), std::string(1 << 18, 'a'),
                                 std::string(1 << 18, '7'), std::string(1 << 18, '!')}) {
    const auto ids = l.tok->encode(run, false);
    EXPECT_FALSE(ids.empty());
    EXPECT_EQ(l.tok->decode(ids), run) << name << ": a run of '" << escaped(run.substr(0, 1)) << "'";
  }
}

TEST(VocabVectors, InvalidUtf8) {
  Loaded gpt2 = load("ggml-vocab-gpt-2.gguf");
  Loaded spm = load("ggml-vocab-llama-spm.gguf");
  ASSERT_NE(gpt2.tok, nullptr);
  ASSERT_NE(spm.tok, nullptr);
  // GPT-2 (like llama.cpp) replaces each invalid byte by U+FFFD before pre-tokenizing.
  EXPECT_EQ(gpt2.tok->encode("a\xFF b\xC3", false), gpt2.tok->encode("a\xEF\xBF\xBD b\xEF\xBF\xBD", false));
  EXPECT_EQ(gpt2.tok->decode(gpt2.tok->encode("\xED\xA0\x80", false)), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  // SentencePiece keeps the bytes through <0xXX> fallback: 'a', then <0xFF> = id 0xFF + 3.
  const auto ids = spm.tok->encode("a\xFF", false);
  ASSERT_FALSE(ids.empty());
  EXPECT_EQ(ids.back(), 0xFF + 3);
  EXPECT_EQ(spm.tok->decode(ids), "a\xFF");
}

INSTANTIATE_TEST_SUITE_P(Shipped, VocabVectors,
                         ::testing::Values("ggml-vocab-llama-spm.gguf", "ggml-vocab-gpt-2.gguf"),
                         [](const auto& info) {
                           return std::string(info.index == 0 ? "LlamaSpm" : "Gpt2");
                         });

TEST(VocabVectors, SpecialIdsComeFromTheFiles) {
  Loaded spm = load("ggml-vocab-llama-spm.gguf");
  ASSERT_NE(spm.tok, nullptr);
  EXPECT_EQ(spm.tok->vocab_size(), 32000);
  EXPECT_EQ(spm.tok->bos_id(), 1);
  EXPECT_EQ(spm.tok->eos_id(), 2);
  EXPECT_EQ(spm.tok->find_token("</s>"), 2);
  // add_bos_token is true for Llama: BOS leads when asked for.
  EXPECT_EQ(spm.tok->encode("Hello", true), (std::vector<int32_t>{1, 15043}));
  Loaded gpt2 = load("ggml-vocab-gpt-2.gguf");
  ASSERT_NE(gpt2.tok, nullptr);
  EXPECT_EQ(gpt2.tok->vocab_size(), 50257);
  EXPECT_EQ(gpt2.tok->find_token("<|endoftext|>"), 50256);
  EXPECT_EQ(gpt2.tok->eos_id(), 50256);
  // GPT-2 does not add BOS (llama.cpp's default for pre-tokenizer "gpt-2"), even when asked.
  EXPECT_EQ(gpt2.tok->encode("Hello", true), gpt2.tok->encode("Hello", false));
  // Special-token text is plain text, and the control token itself decodes to nothing.
  EXPECT_GT(gpt2.tok->encode("<|endoftext|>", false).size(), 1u);
  EXPECT_EQ(gpt2.tok->token_to_piece(50256), "");
}

}  // namespace
}  // namespace effitune::engine
