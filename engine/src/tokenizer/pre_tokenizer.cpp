#define PCRE2_CODE_UNIT_WIDTH 8
#include "tokenizer/pre_tokenizer.h"

#include <pcre2.h>

#include <utility>

namespace effitune::engine::tokenizer {

namespace {

// The regexes llama.cpp (src/llama-vocab.cpp, llm_tokenizer_bpe) uses for each pre-tokenizer.
const char* const kGpt2 = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S))";
const char* const kLlama3 =
    R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
const char* const kQwen2 =
    R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
const char* const kBloom = R"( ?[^(\s|.,!?…。，、।۔،)]+)";

struct Entry {
  std::vector<std::string> names;
  PreTokenizerSpec spec;
};

const std::vector<Entry>& table() {
  static const std::vector<Entry> kTable = {
      {{"", "default"}, {{R"([\p{P}\$\+<=>\^~\|]+)", kGpt2, R"(\p{N}+)", "[0-9][0-9][0-9]"}, false, false}},
      {{"gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v1-en", "jina-v2-es", "jina-v2-de",
        "jina-v2-code", "roberta-bpe", "mpt", "olmo", "jais"},
       {{kGpt2}, false, false}},
      {{"llama3", "llama-v3", "llama-bpe", "falcon3"}, {{kLlama3}, true, true}},
      {{"dbrx", "smaug-bpe", "chatglm-bpe"}, {{kLlama3}, false, false}},
      {{"qwen2", "stablelm2", "megrez"}, {{kQwen2}, false, false}},
      {{"falcon"}, {{R"([\p{P}\$\+<=>\^~\|`]+)", kGpt2, "[0-9][0-9][0-9]"}, false, false}},
      {{"starcoder", "refact", "command-r", "smollm", "codeshell", "exaone", "minerva-7b"},
       {{R"(\p{N})", kGpt2}, false, false}},
      {{"deepseek-coder"}, {{"[\r\n]", R"(\s?\p{L}+)", R"(\s?\p{P}+)", "[一-龥ࠀ-一가-퟿]+", R"(\p{N})"}, false, false}},
      {{"poro-chat", "bloom", "gpt3-finnish"}, {{kBloom}, false, false}},
      {{"viking"}, {{kBloom, R"(\p{N})"}, false, false}},
  };
  return kTable;
}

struct CodeDeleter {
  void operator()(pcre2_code* c) const { pcre2_code_free(c); }
};

}  // namespace

Result<PreTokenizerSpec> pre_tokenizer_spec(const std::string& name) {
  for (const Entry& e : table()) {
    for (const std::string& n : e.names) {
      if (n == name) return e.spec;
    }
  }
  return unimplemented("tokenizer.ggml.pre = '" + name +
                       "' is not a supported pre-tokenizer (supported: default, gpt-2, llama3/llama-bpe, qwen2, "
                       "falcon, starcoder, deepseek-coder, bloom, viking and their aliases)");
}

struct PreTokenizer::Impl {
  std::vector<std::unique_ptr<pcre2_code, CodeDeleter>> codes;
};

PreTokenizer::PreTokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PreTokenizer::~PreTokenizer() = default;

Result<std::unique_ptr<PreTokenizer>> PreTokenizer::create(const std::vector<std::string>& regexes) {
  auto impl = std::make_unique<Impl>();
  for (const std::string& re : regexes) {
    int err = 0;
    PCRE2_SIZE err_off = 0;
    pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(re.data()), re.size(),
                                     PCRE2_UTF | PCRE2_UCP | PCRE2_DOLLAR_ENDONLY, &err, &err_off, nullptr);
    if (code == nullptr) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(err, msg, sizeof(msg));
      return invalid_argument("pre-tokenizer regex '" + re + "' does not compile at offset " +
                              std::to_string(err_off) + ": " + reinterpret_cast<const char*>(msg));
    }
    // JIT makes a 1 MB text split in milliseconds; the interpreter is the fallback where JIT is absent.
    (void)pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
    impl->codes.emplace_back(code);
  }
  return std::unique_ptr<PreTokenizer>(new PreTokenizer(std::move(impl)));
}

std::vector<std::string_view> PreTokenizer::split(std::string_view text) const {
  std::vector<std::string_view> pieces;
  if (text.empty()) return pieces;
  pieces.push_back(text);
  pcre2_match_context* mctx = pcre2_match_context_create(nullptr);
  pcre2_jit_stack* jstack = nullptr;  // made on demand, when the 32 KiB default is not enough
  pcre2_match_data* md = pcre2_match_data_create(1, nullptr);

  for (const auto& code : impl_->codes) {
    std::vector<std::string_view> next;
    next.reserve(pieces.size() * 2);
    for (std::string_view piece : pieces) {
      const auto* subject = reinterpret_cast<PCRE2_SPTR>(piece.data());
      size_t pos = 0;   // where the next search starts
      size_t done = 0;  // end of the last emitted piece
      while (pos < piece.size()) {
        int rc = pcre2_match(code.get(), subject, piece.size(), pos, PCRE2_NO_UTF_CHECK, md, mctx);
        if (rc == PCRE2_ERROR_JIT_STACKLIMIT && jstack == nullptr) {
          jstack = pcre2_jit_stack_create(32 * 1024, 64 * 1024 * 1024, nullptr);
          if (jstack != nullptr) {
            pcre2_jit_stack_assign(mctx, nullptr, jstack);
            rc = pcre2_match(code.get(), subject, piece.size(), pos, PCRE2_NO_UTF_CHECK, md, mctx);
          }
        }
        if (rc < 0) break;  // no further match (or a resource limit): the rest is one gap piece
        const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
        const size_t ms = ov[0];
        const size_t me = ov[1];
        if (me > ms) {
          if (ms > done) next.push_back(piece.substr(done, ms - done));
          next.push_back(piece.substr(ms, me - ms));
          done = me;
          pos = me;
        } else {
          // An empty match emits nothing; step over one character so the search advances.
          pos = ms + 1;
          while (pos < piece.size() && (static_cast<uint8_t>(piece[pos]) & 0xC0) == 0x80) ++pos;
        }
      }
      if (done < piece.size()) next.push_back(piece.substr(done));
    }
    pieces = std::move(next);
  }

  pcre2_match_data_free(md);
  if (jstack != nullptr) pcre2_jit_stack_free(jstack);
  pcre2_match_context_free(mctx);
  return pieces;
}

}  // namespace effitune::engine::tokenizer
