// The fixed chat formats. Each is code, never a model-supplied template; text pieces are encoded
// separately and special tokens are inserted as ids so that message text cannot forge them.
#include "effitune/engine/chat_format.h"

#include <array>
#include <utility>

namespace effitune::engine {
namespace {

struct FormatName {
  ChatFormat format;
  const char* name;
};
constexpr std::array<FormatName, 4> kFormatNames = {{
    {ChatFormat::kSupportDesk, "support-desk"},
    {ChatFormat::kChatMl, "chatml"},
    {ChatFormat::kLlama2, "llama2"},
    {ChatFormat::kLlama3, "llama3"},
}};

// Appends encoded text and special-token ids; remembers the first missing special token.
class PromptBuilder {
 public:
  PromptBuilder(const Tokenizer& tokenizer, ChatFormat format) : tok_(tokenizer), format_(format) {}

  void text(const std::string& s) {
    if (s.empty()) return;
    std::vector<int32_t> ids = tok_.encode(s, /*add_bos=*/false);
    out_.insert(out_.end(), ids.begin(), ids.end());
  }
  void special(std::string_view name) { id(lookup(name)); }
  void id(int32_t token) {
    if (token >= 0) out_.push_back(token);
  }
  int32_t lookup(std::string_view name) {
    int32_t token = tok_.find_token(name);
    if (token < 0 && status_.ok()) {
      status_ = invalid_argument(std::string("chat format '") + chat_format_name(format_) +
                                 "' needs the special token '" + std::string(name) +
                                 "', which the tokenizer's vocabulary lacks; choose another chat format");
    }
    return token;
  }
  int32_t bos_or(std::string_view name) {
    int32_t token = tok_.find_token(name);
    return token >= 0 ? token : tok_.bos_id();
  }
  const Tokenizer& tokenizer() const { return tok_; }

  Result<std::vector<int32_t>> finish() {
    if (!status_.ok()) return status_;
    return std::move(out_);
  }

 private:
  const Tokenizer& tok_;
  ChatFormat format_;
  std::vector<int32_t> out_;
  Status status_;
};

const char* role_name(ChatRole role) { return role == ChatRole::kUser ? "user" : "assistant"; }

// <|bos|><|system|> system<|end|> (<|user|>|<|assistant|>) content<|end|> ... <|user|> question<|end|><|assistant|>
// Content carries a leading space so a fact copied from the history keeps its tokens
// (tools/support_desk/bpe.py renders the same way for training).
void render_support_desk(PromptBuilder& b, const Conversation& conv) {
  b.special("<|bos|>");
  if (!conv.system.empty()) {
    b.special("<|system|>");
    b.text(" " + conv.system);
    b.special("<|end|>");
  }
  for (const ChatTurn& t : conv.turns) {
    b.special(t.role == ChatRole::kUser ? "<|user|>" : "<|assistant|>");
    b.text(" " + t.content);
    b.special("<|end|>");
  }
  b.special("<|user|>");
  b.text(" " + conv.question);
  b.special("<|end|>");
  b.special("<|assistant|>");
}

void render_chatml(PromptBuilder& b, const Conversation& conv) {
  auto message = [&b](const char* role, const std::string& content) {
    b.special("<|im_start|>");
    b.text(std::string(role) + "\n" + content);
    b.special("<|im_end|>");
    b.text("\n");
  };
  if (!conv.system.empty()) message("system", conv.system);
  for (const ChatTurn& t : conv.turns) message(role_name(t.role), t.content);
  message("user", conv.question);
  b.special("<|im_start|>");
  b.text("assistant\n");
}

// Llama-2-chat: the system block goes into the first [INST]; a history that starts with an
// assistant turn (after truncation) gets an empty user message to carry it.
void render_llama2(PromptBuilder& b, const Conversation& conv) {
  const int32_t bos = b.tokenizer().bos_id();
  const int32_t eos = b.tokenizer().eos_id();
  std::string system_block = conv.system.empty() ? "" : "<<SYS>>\n" + conv.system + "\n<</SYS>>\n\n";
  bool open_user = false;  // an [INST] block is waiting for its assistant answer
  auto user = [&](const std::string& content) {
    b.id(bos);
    b.text("[INST] " + system_block + content + " [/INST]");
    system_block.clear();
    open_user = true;
  };
  for (const ChatTurn& t : conv.turns) {
    if (t.role == ChatRole::kUser) {
      user(t.content);
      continue;
    }
    if (!open_user) user("");
    b.text(" " + t.content + " ");
    b.id(eos);
    open_user = false;
  }
  user(conv.question);
}

void render_llama3(PromptBuilder& b, const Conversation& conv) {
  auto header = [&b](const char* role) {
    b.special("<|start_header_id|>");
    b.text(role);
    b.special("<|end_header_id|>");
  };
  auto message = [&](const char* role, const std::string& content) {
    header(role);
    b.text("\n\n" + content);
    b.special("<|eot_id|>");
  };
  b.id(b.bos_or("<|begin_of_text|>"));
  if (!conv.system.empty()) message("system", conv.system);
  for (const ChatTurn& t : conv.turns) message(role_name(t.role), t.content);
  message("user", conv.question);
  header("assistant");
  b.text("\n\n");
}

bool has_token(const std::vector<std::string>& vocab, std::string_view token) {
  for (const std::string& s : vocab) {
    if (s == token) return true;
  }
  return false;
}

}  // namespace

const char* chat_format_name(ChatFormat format) {
  for (const FormatName& f : kFormatNames) {
    if (f.format == format) return f.name;
  }
  return "unknown";
}

Result<ChatFormat> parse_chat_format(std::string_view name) {
  std::string known;
  for (const FormatName& f : kFormatNames) {
    if (name == f.name) return f.format;
    known += known.empty() ? "" : ", ";
    known += f.name;
  }
  return invalid_argument("unknown chat format '" + std::string(name) + "'; known formats: " + known);
}

Result<ChatFormat> detect_chat_format(const GgufFile& file) {
  if (const GgufValue* v = file.find(kChatFormatKey)) {
    std::optional<std::string> name = v->as_string();
    if (!name) {
      return invalid_argument(file.path() + ": metadata key " + std::string(kChatFormatKey) + " must be a string");
    }
    Result<ChatFormat> f = parse_chat_format(*name);
    if (!f.ok()) return f.status().with_context(file.path() + ": " + std::string(kChatFormatKey));
    return f;
  }
  const GgufValue* tokens = file.find("tokenizer.ggml.tokens");
  if (tokens != nullptr) {
    const std::vector<std::string>& vocab = tokens->strings;
    if (has_token(vocab, "<|start_header_id|>") && has_token(vocab, "<|eot_id|>")) return ChatFormat::kLlama3;
    if (has_token(vocab, "<|im_start|>") && has_token(vocab, "<|im_end|>")) return ChatFormat::kChatMl;
    if (has_token(vocab, "<|assistant|>") && has_token(vocab, "<|end|>") && has_token(vocab, "<|bos|>")) {
      return ChatFormat::kSupportDesk;
    }
  }
  const GgufValue* model = file.find("tokenizer.ggml.model");
  if (model != nullptr && model->as_string() == std::optional<std::string>("llama")) return ChatFormat::kLlama2;
  return not_found(file.path() + ": cannot tell the chat format (no " + std::string(kChatFormatKey) +
                   " key and no known special tokens); pass the format by name");
}

Result<std::vector<int32_t>> render_conversation(ChatFormat format, const Tokenizer& tokenizer,
                                                 const Conversation& conv) {
  PromptBuilder b(tokenizer, format);
  switch (format) {
    case ChatFormat::kSupportDesk: render_support_desk(b, conv); break;
    case ChatFormat::kChatMl: render_chatml(b, conv); break;
    case ChatFormat::kLlama2: render_llama2(b, conv); break;
    case ChatFormat::kLlama3: render_llama3(b, conv); break;
  }
  return b.finish();
}

}  // namespace effitune::engine
