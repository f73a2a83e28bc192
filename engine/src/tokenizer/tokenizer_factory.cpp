// make_tokenizer: reads and validates the tokenizer.ggml.* keys, then builds the tokenizer.
#include <limits>
#include <optional>
#include <string>

#include "effitune/engine/tokenizer.h"
#include "tokenizer/bpe_tokenizer.h"
#include "tokenizer/spm_tokenizer.h"

namespace effitune::engine {

namespace {

using tokenizer::TokenType;
using tokenizer::Vocab;

constexpr const char* kModelKey = "tokenizer.ggml.model";
constexpr const char* kTokensKey = "tokenizer.ggml.tokens";
constexpr const char* kScoresKey = "tokenizer.ggml.scores";
constexpr const char* kTypesKey = "tokenizer.ggml.token_type";
constexpr const char* kMergesKey = "tokenizer.ggml.merges";
constexpr const char* kPreKey = "tokenizer.ggml.pre";

bool is_integer_type(GgufType t) {
  switch (t) {
    case GgufType::kUint8: case GgufType::kInt8: case GgufType::kUint16: case GgufType::kInt16:
    case GgufType::kUint32: case GgufType::kInt32: case GgufType::kUint64: case GgufType::kInt64:
      return true;
    default:
      return false;
  }
}

std::string where(const GgufFile& file, const std::string& key) { return file.path() + ": " + key; }

Result<const GgufValue*> array_of(const GgufFile& file, const std::string& key, bool (*elem_ok)(GgufType),
                                  const char* elem_name) {
  const GgufValue* v = file.find(key);
  if (v == nullptr) return static_cast<const GgufValue*>(nullptr);
  if (v->type != GgufType::kArray || !elem_ok(v->array_type)) {
    return invalid_argument(where(file, key) + " must be an array of " + elem_name + "; regenerate the GGUF");
  }
  return v;
}

Result<std::optional<std::string>> optional_string(const GgufFile& file, const std::string& key) {
  const GgufValue* v = file.find(key);
  if (v == nullptr) return std::optional<std::string>();
  auto s = v->as_string();
  if (!s) return invalid_argument(where(file, key) + " must be a string");
  return std::optional<std::string>(*s);
}

Result<std::optional<bool>> optional_bool(const GgufFile& file, const std::string& key) {
  const GgufValue* v = file.find(key);
  if (v == nullptr) return std::optional<bool>();
  auto b = v->as_bool();
  if (!b) return invalid_argument(where(file, key) + " must be a bool");
  return std::optional<bool>(*b);
}

// Reads a token id key into `id` (left unchanged when absent); it must name a token.
Status read_id(const GgufFile& file, const std::string& key, int32_t n_tokens, int32_t& id) {
  const GgufValue* v = file.find(key);
  if (v == nullptr) return Status::ok_status();
  auto x = v->type == GgufType::kBool ? std::nullopt : v->as_int();
  if (!x) return invalid_argument(where(file, key) + " must be an integer token id");
  if (*x < 0 || *x >= n_tokens) {
    return invalid_argument(where(file, key) + " = " + std::to_string(*x) + " is not a token id (the vocabulary has " +
                            std::to_string(n_tokens) + " tokens)");
  }
  id = static_cast<int32_t>(*x);
  return Status::ok_status();
}

// Reads tokens, scores and token types; fills everything but the special ids.
Result<Vocab> read_vocab(const GgufFile& file) {
  EFFITUNE_ASSIGN_OR_RETURN(const GgufValue* tokens,
                            array_of(file, kTokensKey, [](GgufType t) { return t == GgufType::kString; }, "strings"));
  if (tokens == nullptr || tokens->strings.empty()) {
    return invalid_argument(where(file, kTokensKey) + " is missing or empty; the file has no usable vocabulary");
  }
  if (tokens->strings.size() > static_cast<size_t>(std::numeric_limits<int32_t>::max())) {
    return invalid_argument(where(file, kTokensKey) + " has more than 2^31-1 tokens");
  }
  const size_t n = tokens->strings.size();
  Vocab vocab;
  vocab.texts = tokens->strings;
  vocab.index.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    // llama.cpp renames empty tokens so that they can never match text.
    if (vocab.texts[i].empty()) vocab.texts[i] = "[EMPTY_" + std::to_string(i) + "]";
    vocab.index[vocab.texts[i]] = static_cast<int32_t>(i);
  }

  EFFITUNE_ASSIGN_OR_RETURN(
      const GgufValue* scores,
      array_of(file, kScoresKey, [](GgufType t) { return t == GgufType::kFloat32 || t == GgufType::kFloat64; },
               "floats"));
  if (scores != nullptr) {
    if (scores->floats.size() != n) {
      return invalid_argument(where(file, kScoresKey) + " has " + std::to_string(scores->floats.size()) +
                              " entries but " + kTokensKey + " has " + std::to_string(n));
    }
    vocab.scores.assign(scores->floats.begin(), scores->floats.end());
  }

  EFFITUNE_ASSIGN_OR_RETURN(const GgufValue* types, array_of(file, kTypesKey, is_integer_type, "integers"));
  vocab.types.assign(n, TokenType::kNormal);
  if (types != nullptr) {
    if (types->ints.size() != n) {
      return invalid_argument(where(file, kTypesKey) + " has " + std::to_string(types->ints.size()) +
                              " entries but " + kTokensKey + " has " + std::to_string(n));
    }
    for (size_t i = 0; i < n; ++i) {
      const int64_t t = types->ints[i];
      if (t < 0 || t > static_cast<int64_t>(TokenType::kByte)) {
        return invalid_argument(where(file, kTypesKey) + "[" + std::to_string(i) + "] = " + std::to_string(t) +
                                " is not a token type (0..6)");
      }
      vocab.types[i] = static_cast<TokenType>(t);
    }
  }
  return vocab;
}

// Special ids and add_bos/add_eos, with llama.cpp's defaults for `model` where the file has none.
Status read_specials(const GgufFile& file, bool is_spm, bool default_add_bos, Vocab& vocab) {
  const int32_t n = vocab.size();
  if (is_spm) {
    // llama.cpp's SentencePiece defaults: <unk> 0, <s> 1, </s> 2.
    vocab.unk = n > 0 ? 0 : -1;
    vocab.bos = n > 1 ? 1 : -1;
    vocab.eos = n > 2 ? 2 : -1;
  }
  EFFITUNE_RETURN_IF_ERROR(read_id(file, "tokenizer.ggml.bos_token_id", n, vocab.bos));
  EFFITUNE_RETURN_IF_ERROR(read_id(file, "tokenizer.ggml.eos_token_id", n, vocab.eos));
  EFFITUNE_RETURN_IF_ERROR(read_id(file, "tokenizer.ggml.unknown_token_id", n, vocab.unk));
  EFFITUNE_ASSIGN_OR_RETURN(auto add_bos, optional_bool(file, "tokenizer.ggml.add_bos_token"));
  EFFITUNE_ASSIGN_OR_RETURN(auto add_eos, optional_bool(file, "tokenizer.ggml.add_eos_token"));
  vocab.add_bos = add_bos.value_or(default_add_bos);
  vocab.add_eos = add_eos.value_or(false);
  return Status::ok_status();
}

}  // namespace

Result<std::unique_ptr<Tokenizer>> make_tokenizer(const GgufFile& file) {
  EFFITUNE_ASSIGN_OR_RETURN(auto model, optional_string(file, kModelKey));
  if (!model || *model == "none" || *model == "no_vocab") {
    return not_found(file.path() + ": no tokenizer (" + kModelKey + " is missing or 'none')");
  }
  if (*model != "llama" && *model != "gpt2") {
    return unimplemented(where(file, kModelKey) + " = '" + *model +
                         "' is not supported (supported: 'llama' SentencePiece, 'gpt2' byte-level BPE)");
  }
  EFFITUNE_ASSIGN_OR_RETURN(Vocab vocab, read_vocab(file));

  if (*model == "llama") {
    EFFITUNE_RETURN_IF_ERROR(read_specials(file, /*is_spm=*/true, /*default_add_bos=*/true, vocab));
    EFFITUNE_ASSIGN_OR_RETURN(auto prefix, optional_bool(file, "tokenizer.ggml.add_space_prefix"));
    return std::unique_ptr<Tokenizer>(new tokenizer::SpmTokenizer(std::move(vocab), prefix.value_or(true)));
  }

  EFFITUNE_ASSIGN_OR_RETURN(auto pre_name, optional_string(file, kPreKey));
  auto spec = tokenizer::pre_tokenizer_spec(pre_name.value_or(""));
  if (!spec.ok()) return spec.status().with_context(file.path());
  EFFITUNE_ASSIGN_OR_RETURN(const GgufValue* merges,
                            array_of(file, kMergesKey, [](GgufType t) { return t == GgufType::kString; }, "strings"));
  if (merges == nullptr) {
    return invalid_argument(where(file, kMergesKey) + " is missing; a 'gpt2' tokenizer needs its BPE merges");
  }
  if (merges->strings.size() > static_cast<size_t>(std::numeric_limits<int32_t>::max())) {
    return invalid_argument(where(file, kMergesKey) + " has more than 2^31-1 merges");
  }
  EFFITUNE_RETURN_IF_ERROR(read_specials(file, /*is_spm=*/false, spec->add_bos, vocab));
  auto pre = tokenizer::PreTokenizer::create(spec->regexes);
  if (!pre.ok()) return pre.status().with_context(where(file, kPreKey));
  return std::unique_ptr<Tokenizer>(
      new tokenizer::BpeTokenizer(std::move(vocab), merges->strings, std::move(*pre), spec->ignore_merges));
}

}  // namespace effitune::engine
