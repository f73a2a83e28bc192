// Fuzzes encode/decode of arbitrary bytes with both shipped vocabularies (Llama SentencePiece and
// GPT-2 byte-level BPE), loaded once from $EFFITUNE_SHARED_DIR/data/tokenizers or the shared dir
// compiled into tests/support. Checks: no crash, ids in range, and the round trips that hold for
// valid UTF-8 (SentencePiece turns U+2581 into ' '); GPT-2 replaces invalid bytes with U+FFFD.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "effitune/engine/gguf.h"
#include "effitune/engine/tokenizer.h"
#include "support/paths.h"

namespace {

using effitune::engine::GgufFile;
using effitune::engine::Tokenizer;

struct Loaded {
  std::unique_ptr<GgufFile> file;
  std::unique_ptr<Tokenizer> tok;
};

Loaded load(const std::string& name) {
  const char* env = std::getenv("EFFITUNE_SHARED_DIR");
  const std::string dir = env != nullptr ? std::string(env) + "/data/tokenizers" : effitune::testing::tokenizer_dir();
  Loaded l;
  auto file = GgufFile::open(dir + "/" + name);
  if (!file.ok()) {
    std::fprintf(stderr, "tokenizer_fuzz: %s\n", file.status().to_string().c_str());
    std::abort();
  }
  l.file = std::move(*file);
  auto tok = effitune::engine::make_tokenizer(*l.file);
  if (!tok.ok()) {
    std::fprintf(stderr, "tokenizer_fuzz: %s\n", tok.status().to_string().c_str());
    std::abort();
  }
  l.tok = std::move(*tok);
  return l;
}

// Strict UTF-8 validity, written independently of the engine's helper.
bool valid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t n;
    unsigned lo = 0x80, hi = 0xBF;
    if (c < 0x80) n = 1;
    else if (c >= 0xC2 && c <= 0xDF) n = 2;
    else if (c >= 0xE0 && c <= 0xEF) { n = 3; lo = c == 0xE0 ? 0xA0 : 0x80; hi = c == 0xED ? 0x9F : 0xBF; }
    else if (c >= 0xF0 && c <= 0xF4) { n = 4; lo = c == 0xF0 ? 0x90 : 0x80; hi = c == 0xF4 ? 0x8F : 0xBF; }
    else return false;
    if (i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k) {
      const auto d = static_cast<unsigned char>(s[i + k]);
      if (d < (k == 1 ? lo : 0x80) || d > (k == 1 ? hi : 0xBF)) return false;
    }
    i += n;
  }
  return true;
}

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "tokenizer_fuzz: %s\n", what);
    std::abort();
  }
}

void check_ids(const Tokenizer& t, const std::vector<int32_t>& ids) {
  for (int32_t id : ids) check(id >= 0 && id < t.vocab_size(), "id out of range");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const Loaded spm = load("ggml-vocab-llama-spm.gguf");
  static const Loaded gpt2 = load("ggml-vocab-gpt-2.gguf");
  const std::string text(reinterpret_cast<const char*>(data), size);

  const auto spm_ids = spm.tok->encode(text, true);
  check_ids(*spm.tok, spm_ids);
  if (valid_utf8(text)) {
    // U+2581 is SentencePiece's space, so it comes back as ' '.
    std::string expected;
    for (size_t i = 0; i < text.size(); ++i) {
      if (text.compare(i, 3, "\xE2\x96\x81") == 0) {
        expected.push_back(' ');
        i += 2;
      } else {
        expected.push_back(text[i]);
      }
    }
    check(spm.tok->decode(spm_ids) == expected, "SentencePiece decode(encode(s)) != s");
  }

  const auto gpt2_ids = gpt2.tok->encode(text, false);
  check_ids(*gpt2.tok, gpt2_ids);
  const std::string back = gpt2.tok->decode(gpt2_ids);
  if (valid_utf8(text)) check(back == text, "GPT-2 decode(encode(s)) != s for valid UTF-8");
  check(valid_utf8(back), "GPT-2 decode of invalid input is not valid UTF-8");
  // Decoding arbitrary ids (the input read as int32) must not crash either.
  std::vector<int32_t> ids(size / 4);
  for (size_t i = 0; i < ids.size(); ++i) {
    int32_t v;
    std::memcpy(&v, data + 4 * i, 4);
    ids[i] = v;
  }
  (void)spm.tok->decode(ids);
  (void)gpt2.tok->decode(ids);
  return 0;
}
