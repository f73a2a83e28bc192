// make_random_model: seeded random weights built directly in the target type, fast enough for 8B
// shapes. Each row has its own generator seeded from (seed, tensor, row), so the result does not
// depend on how rows are spread over threads.
#include <algorithm>
#include <cmath>

#include "effitune/engine/model_loader.h"
#include "model/weight_utils.h"

namespace effitune::engine {
namespace {

using model_detail::alloc_buffer;
using model_detail::parallel_for;

uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Uniform on [-a, a] with a = 0.02 * sqrt(3) has std 0.02, the scale of trained Llama projections;
// a uniform is far cheaper than Box-Muller and the kernels only care about the magnitude.
constexpr float kHalfWidth = 0.02f * 1.7320508f;

void fill_row(uint64_t seed, uint64_t tensor_id, int64_t row, float* out, int64_t n) {
  uint64_t state = seed ^ (tensor_id * 0xD1B54A32D192ED03ull) ^ (static_cast<uint64_t>(row) * 0x8CB92BA72F3D8DD7ull);
  splitmix64(state);
  constexpr float kScale = 2.0f * kHalfWidth / 4294967296.0f;
  int64_t i = 0;
  for (; i + 1 < n; i += 2) {
    const uint64_t r = splitmix64(state);
    out[i] = static_cast<float>(static_cast<uint32_t>(r)) * kScale - kHalfWidth;
    out[i + 1] = static_cast<float>(static_cast<uint32_t>(r >> 32)) * kScale - kHalfWidth;
  }
  if (i < n) out[i] = static_cast<float>(static_cast<uint32_t>(splitmix64(state))) * kScale - kHalfWidth;
}

struct Pending {
  TensorView* view;
  uint64_t id;
};

}  // namespace

Result<std::shared_ptr<const ModelWeights>> make_random_model(const ModelConfig& config, DType type, uint64_t seed) {
  const std::string name = "random model '" + config.name + "'";
  EFFITUNE_RETURN_IF_ERROR(model_detail::validate_config(config, name));
  if (type == DType::kQ4_K) return unimplemented(name + ": q4_k weights cannot be generated (no quantizer); use q4_0 or q8_0");
  const int64_t block = dtype_block_elems(type);
  if (config.dim % block != 0 || config.hidden_dim % block != 0) {
    return invalid_argument(name + ": dim " + std::to_string(config.dim) + " and hidden_dim " + std::to_string(config.hidden_dim) +
                            " must be multiples of the " + std::string(dtype_name(type)) + " block size " + std::to_string(block));
  }
  auto w = std::make_shared<ModelWeights>();
  w->config = config;
  const ModelConfig& c = w->config;
  const int64_t q_dim = int64_t{c.n_heads} * c.head_dim();

  std::vector<Pending> pending;
  auto make = [&](TensorView* v, DType t, int64_t rows, int64_t cols) -> Status {
    v->type = t;
    v->rows = rows;
    v->cols = cols;
    auto buf = alloc_buffer(static_cast<size_t>(v->bytes()));
    if (!buf) return resource_exhausted(name + ": cannot allocate " + std::to_string(v->bytes()) + " bytes of weights");
    v->data = buf.get();
    w->storage.push_back(std::move(buf));
    return {};
  };
  auto matrix = [&](TensorView* v, int64_t rows, int64_t cols) -> Status {
    EFFITUNE_RETURN_IF_ERROR(make(v, type, rows, cols));
    pending.push_back({v, pending.size() + 1});
    return {};
  };
  auto norm = [&](TensorView* v) -> Status {
    EFFITUNE_RETURN_IF_ERROR(make(v, DType::kF32, 1, c.dim));
    auto* p = static_cast<float*>(const_cast<void*>(v->data));
    std::fill(p, p + c.dim, 1.0f);
    return {};
  };

  w->layers.resize(static_cast<size_t>(c.n_layers));
  EFFITUNE_RETURN_IF_ERROR(matrix(&w->token_embedding, c.vocab_size, c.dim));
  for (auto& l : w->layers) {
    EFFITUNE_RETURN_IF_ERROR(norm(&l.attn_norm));
    EFFITUNE_RETURN_IF_ERROR(matrix(&l.wq, q_dim, c.dim));
    EFFITUNE_RETURN_IF_ERROR(matrix(&l.wk, c.kv_dim(), c.dim));
    EFFITUNE_RETURN_IF_ERROR(matrix(&l.wv, c.kv_dim(), c.dim));
    EFFITUNE_RETURN_IF_ERROR(matrix(&l.wo, c.dim, q_dim));
    EFFITUNE_RETURN_IF_ERROR(norm(&l.ffn_norm));
    EFFITUNE_RETURN_IF_ERROR(matrix(&l.w_gate, c.hidden_dim, c.dim));
    EFFITUNE_RETURN_IF_ERROR(matrix(&l.w_down, c.dim, c.hidden_dim));
    EFFITUNE_RETURN_IF_ERROR(matrix(&l.w_up, c.hidden_dim, c.dim));
  }
  EFFITUNE_RETURN_IF_ERROR(norm(&w->output_norm));
  if (c.tied_output) {
    w->output = w->token_embedding;
  } else {
    EFFITUNE_RETURN_IF_ERROR(matrix(&w->output, c.vocab_size, c.dim));
  }

  // One flat index over every row of every matrix, so threads share the work evenly.
  std::vector<int64_t> first_row(pending.size() + 1, 0);
  for (size_t i = 0; i < pending.size(); ++i) first_row[i + 1] = first_row[i] + pending[i].view->rows;
  const int64_t max_cols = std::max<int64_t>(c.dim, c.hidden_dim);
  parallel_for(first_row.back(), max_cols * 4, [&](int64_t r0, int64_t r1) {
    std::vector<float> tmp(static_cast<size_t>(max_cols));
    size_t t = static_cast<size_t>(std::upper_bound(first_row.begin(), first_row.end(), r0) - first_row.begin()) - 1;
    for (int64_t r = r0; r < r1; ++r) {
      while (r >= first_row[t + 1]) ++t;
      TensorView& v = *pending[t].view;
      const int64_t row = r - first_row[t];
      fill_row(seed, pending[t].id, row, tmp.data(), v.cols);
      quantize_row(type, tmp.data(), const_cast<uint8_t*>(v.row(row)), v.cols);
    }
  });
  return std::shared_ptr<const ModelWeights>(std::move(w));
}

}  // namespace effitune::engine
