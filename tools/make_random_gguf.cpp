// make_random_gguf: writes a random-weight Llama GGUF of a named shape, so benchmarks and tests can
// load real GGUF files without downloading a model.
//   make_random_gguf --shape bench-134m --type q8_0 --out bench-134m-q8_0.gguf [--seed 1]
#include <cstdio>
#include <cstdlib>
#include <string>

#include "effitune/engine/gguf.h"
#include "effitune/engine/model_loader.h"

namespace {

using namespace effitune::engine;

struct Shape {
  const char* name;
  ModelConfig config;
};

ModelConfig make_config(const char* name, int dim, int layers, int heads, int kv_heads, int hidden, int vocab, int ctx,
                        bool tied) {
  ModelConfig c;
  c.name = name;
  c.dim = dim;
  c.n_layers = layers;
  c.n_heads = heads;
  c.n_kv_heads = kv_heads;
  c.hidden_dim = hidden;
  c.vocab_size = vocab;
  c.max_seq_len = ctx;
  c.tied_output = tied;
  return c;
}

// bench-134m: a GPT-2-small-sized Llama (134M parameters with its untied output).
const Shape kShapes[] = {
    {"bench-134m", make_config("bench-134m", 768, 12, 12, 12, 2048, 32000, 2048, false)},
    {"tiny", make_config("tiny", 64, 2, 4, 2, 128, 256, 256, true)},
};

// llama.cpp's LLAMA_FTYPE values for an all-one-type file.
uint32_t file_type(DType t) {
  switch (t) {
    case DType::kF32: return 0;
    case DType::kF16: return 1;
    case DType::kQ4_0: return 2;
    case DType::kQ8_0: return 7;
    case DType::kBF16: return 32;
    case DType::kQ4_K: return 15;
  }
  return 0;
}

void add(GgufWriter& w, const std::string& name, const TensorView& v, bool is_vector) {
  const std::vector<int64_t> ne = is_vector ? std::vector<int64_t>{v.cols} : std::vector<int64_t>{v.cols, v.rows};
  w.add_tensor(name, v.type, ne, v.data, static_cast<size_t>(v.bytes()));
}

int usage(const char* msg) {
  std::fprintf(stderr, "make_random_gguf: %s\nusage: make_random_gguf --shape bench-134m|tiny --type f32|f16|bf16|q8_0|q4_0 "
                       "--out FILE [--seed N]\n", msg);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string shape_name, type_name, out;
  uint64_t seed = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--shape") shape_name = v;
    else if (k == "--type") type_name = v;
    else if (k == "--out") out = v;
    else if (k == "--seed") seed = std::strtoull(v.c_str(), nullptr, 10);
    else return usage(("unknown option " + k).c_str());
  }
  if (argc % 2 == 0) return usage("options take one value each");
  if (shape_name.empty() || type_name.empty() || out.empty()) return usage("--shape, --type and --out are required");
  const Shape* shape = nullptr;
  for (const auto& s : kShapes) {
    if (shape_name == s.name) shape = &s;
  }
  if (shape == nullptr) return usage(("unknown shape '" + shape_name + "'").c_str());
  const auto type = parse_dtype(type_name);
  if (!type) return usage(("unknown type '" + type_name + "'").c_str());

  auto model = make_random_model(shape->config, *type, seed);
  if (!model.ok()) {
    std::fprintf(stderr, "make_random_gguf: %s\n", model.status().to_string().c_str());
    return 1;
  }
  const ModelWeights& m = **model;
  const ModelConfig& c = m.config;
  GgufWriter w;
  w.set_string("general.architecture", "llama");
  w.set_string("general.name", c.name);
  w.set_u32("general.file_type", file_type(*type));
  w.set_u32("llama.context_length", static_cast<uint32_t>(c.max_seq_len));
  w.set_u32("llama.embedding_length", static_cast<uint32_t>(c.dim));
  w.set_u32("llama.feed_forward_length", static_cast<uint32_t>(c.hidden_dim));
  w.set_u32("llama.block_count", static_cast<uint32_t>(c.n_layers));
  w.set_u32("llama.attention.head_count", static_cast<uint32_t>(c.n_heads));
  w.set_u32("llama.attention.head_count_kv", static_cast<uint32_t>(c.n_kv_heads));
  w.set_u32("llama.rope.dimension_count", static_cast<uint32_t>(c.head_dim()));
  w.set_u32("llama.vocab_size", static_cast<uint32_t>(c.vocab_size));
  w.set_f32("llama.attention.layer_norm_rms_epsilon", c.rms_eps);
  w.set_f32("llama.rope.freq_base", c.rope_theta);
  w.set_u32("tokenizer.ggml.bos_token_id", static_cast<uint32_t>(c.bos_id));
  w.set_u32("tokenizer.ggml.eos_token_id", static_cast<uint32_t>(c.eos_id));
  add(w, "token_embd.weight", m.token_embedding, false);
  add(w, "output_norm.weight", m.output_norm, true);
  if (!c.tied_output) add(w, "output.weight", m.output, false);
  for (int l = 0; l < c.n_layers; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    const LayerWeights& lw = m.layers[static_cast<size_t>(l)];
    add(w, p + "attn_norm.weight", lw.attn_norm, true);
    add(w, p + "attn_q.weight", lw.wq, false);
    add(w, p + "attn_k.weight", lw.wk, false);
    add(w, p + "attn_v.weight", lw.wv, false);
    add(w, p + "attn_output.weight", lw.wo, false);
    add(w, p + "ffn_norm.weight", lw.ffn_norm, true);
    add(w, p + "ffn_gate.weight", lw.w_gate, false);
    add(w, p + "ffn_down.weight", lw.w_down, false);
    add(w, p + "ffn_up.weight", lw.w_up, false);
  }
  if (auto s = w.write(out); !s.ok()) {
    std::fprintf(stderr, "make_random_gguf: %s\n", s.to_string().c_str());
    return 1;
  }
  std::printf("%s: %s %s, %lld parameters, %.1f MB of weights\n", out.c_str(), c.name.c_str(), std::string(dtype_name(*type)).c_str(),
              static_cast<long long>(c.parameter_count()), static_cast<double>(m.bytes()) / 1e6);
  return 0;
}
