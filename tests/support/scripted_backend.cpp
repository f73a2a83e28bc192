#include "support/scripted_backend.h"

namespace effitune::testing {

ScriptedBackend::ScriptedBackend(int32_t vocab, int32_t n_blocks, int32_t block_size, ScriptFn script)
    : vocab_(vocab), block_size_(block_size), script_(std::move(script)),
      slots_(n_blocks, std::vector<int32_t>(block_size, -1)) {}

Status ScriptedBackend::forward(std::span<const engine::SequenceStep> steps, std::vector<float>& logits) {
  ++calls_;
  logits.clear();
  for (const auto& s : steps) {
    const int32_t end = s.start_pos + static_cast<int32_t>(s.tokens.size());
    if (static_cast<int64_t>(s.block_table.size()) * block_size_ < end) return invalid_argument("block table too short");
    std::vector<int32_t> history;
    for (int32_t p = 0; p < s.start_pos; ++p) history.push_back(slots_[s.block_table[p / block_size_]][p % block_size_]);
    for (size_t i = 0; i < s.tokens.size(); ++i) {
      const int32_t p = s.start_pos + static_cast<int32_t>(i);
      slots_[s.block_table[p / block_size_]][p % block_size_] = s.tokens[i];
      history.push_back(s.tokens[i]);
      ++tokens_;
      if (s.all_logits || i + 1 == s.tokens.size()) {
        std::vector<float> l = script_(history);
        logits.insert(logits.end(), l.begin(), l.end());
      }
    }
  }
  return {};
}

void ScriptedBackend::copy_block(int32_t src, int32_t dst) { slots_[dst] = slots_[src]; }

std::shared_ptr<const engine::ModelWeights> config_only_weights(int32_t vocab, int32_t max_seq_len, int32_t eos_id) {
  auto w = std::make_shared<engine::ModelWeights>();
  w->config.name = "scripted";
  w->config.vocab_size = vocab;
  w->config.max_seq_len = max_seq_len;
  w->config.eos_id = eos_id;
  w->config.dim = 8;
  w->config.n_heads = 1;
  w->config.n_kv_heads = 1;
  return w;
}

}  // namespace effitune::testing
