// Fuzz target for the llama2.c checkpoint parser: any input must give a Status or a model whose every
// tensor lies inside the parsed bytes (ASan checks the reads below).
#include <cstddef>
#include <cstdint>

#include "effitune/engine/model_loader.h"

namespace {

float touch(const effitune::engine::TensorView& t) {
  if (t.data == nullptr || t.rows <= 0 || t.cols <= 0) return 0.0f;
  const auto* first = t.row(0);
  const auto* last = t.row(t.rows - 1) + t.row_bytes() - 1;
  return static_cast<float>(*first) + static_cast<float>(*last);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace effitune::engine;
  for (int convert = 0; convert < 2; ++convert) {
    LoadOptions opt;
    if (convert) opt.weight_type = DType::kQ8_0;
    auto r = parse_llama2c(data, size, "fuzz.bin", opt);
    if (!r.ok()) continue;
    const ModelWeights& w = **r;
    volatile float sink = touch(w.token_embedding) + touch(w.output) + touch(w.output_norm);
    for (const LayerWeights& l : w.layers)
      for (const TensorView* t : {&l.attn_norm, &l.wq, &l.wk, &l.wv, &l.wo, &l.ffn_norm, &l.w_gate, &l.w_down, &l.w_up})
        sink = sink + touch(*t);
    (void)sink;
  }
  return 0;
}
