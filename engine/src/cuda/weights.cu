#include <algorithm>
#include <cstring>
#include <string>

#include "attention.cuh"
#include "common.cuh"
#include "weights.cuh"

namespace effitune::engine::cuda {
namespace {

constexpr int64_t kAlign = 256;
constexpr int64_t kStageBytes = 64 << 20;
constexpr float kRandomStd = 0.02f;

int64_t align_up(int64_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

WKind float_kind(ActType act) {
  return act == ActType::kF32 ? WKind::kF32 : act == ActType::kF16 ? WKind::kF16 : WKind::kBF16;
}

WKind device_kind(DType t, ActType act) {
  if (t == DType::kQ8_0) return WKind::kQ8;
  if (t == DType::kQ4_0) return WKind::kQ4;
  return float_kind(act);  // f32/f16/bf16 follow the activations; other quants dequantize to them
}

bool is_quant(WKind k) { return k == WKind::kQ8 || k == WKind::kQ4; }

// Seeded standard normal from a counter (splitmix64 + Box-Muller): no RNG state to store.
__device__ __forceinline__ float rand_normal(uint64_t seed, uint64_t idx) {
  uint64_t z = seed + (idx + 1) * 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  const float u1 = (static_cast<float>(z >> 40) + 1.0f) * (1.0f / 16777217.0f);
  const float u2 = static_cast<float>(z & 0xFFFFFF) * (1.0f / 16777216.0f);
  return sqrtf(-2.0f * logf(u1)) * cospif(2.0f * u2);
}

template <typename T>
__global__ void random_float_kernel(T* out, int64_t n, uint64_t seed) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    out[i] = from_f32<T>(kRandomStd * rand_normal(seed, i));
}

// ggml's reference quantizers (quantize_row_q8_0_ref / q4_0_ref) on random blocks of 32.
__global__ void random_quant_kernel(WKind kind, uint8_t* qs, __half* scales, int64_t n_blocks, uint64_t seed) {
  for (int64_t b = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; b < n_blocks;
       b += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    float x[32];
    float amax = 0.0f, vmax = 0.0f;
    for (int j = 0; j < 32; ++j) {
      x[j] = kRandomStd * rand_normal(seed, b * 32 + j);
      if (fabsf(x[j]) > amax) {
        amax = fabsf(x[j]);
        vmax = x[j];
      }
    }
    if (kind == WKind::kQ8) {
      const float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
      scales[b] = __float2half_rn(d);
      for (int j = 0; j < 32; ++j) reinterpret_cast<int8_t*>(qs)[b * 32 + j] = static_cast<int8_t>(roundf(x[j] * id));
    } else {
      const float d = vmax / -8.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
      scales[b] = __float2half_rn(d);
      for (int j = 0; j < 16; ++j) {
        const int q0 = min(15, static_cast<int>(static_cast<int8_t>(x[j] * id + 8.5f)));
        const int q1 = min(15, static_cast<int>(static_cast<int8_t>(x[j + 16] * id + 8.5f)));
        qs[b * 16 + j] = static_cast<uint8_t>(q0 | (q1 << 4));
      }
    }
  }
}

__global__ void fill_kernel(float* p, int64_t n, float v) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n; i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    p[i] = v;
}

unsigned grid_for(int64_t n) { return static_cast<unsigned>(std::clamp<int64_t>(ceil_div(n, 256), 1, 132 * 32)); }

// One host row converted to the device layout of `kind`: quants + scales, or float elements.
void convert_row(const TensorView& v, int64_t r, WKind kind, uint8_t* data, uint16_t* scales, std::vector<float>& tmp) {
  const int64_t cols = v.cols;
  if (kind == WKind::kQ8) {
    const auto* blk = reinterpret_cast<const BlockQ8_0*>(v.row(r));
    for (int64_t b = 0; b < cols / 32; ++b) {
      scales[b] = blk[b].d;
      std::memcpy(data + 32 * b, blk[b].qs, 32);
    }
    return;
  }
  if (kind == WKind::kQ4) {
    const auto* blk = reinterpret_cast<const BlockQ4_0*>(v.row(r));
    for (int64_t b = 0; b < cols / 32; ++b) {
      scales[b] = blk[b].d;
      std::memcpy(data + 16 * b, blk[b].qs, 16);
    }
    return;
  }
  const DType same = kind == WKind::kF32 ? DType::kF32 : kind == WKind::kF16 ? DType::kF16 : DType::kBF16;
  if (v.type == same) {
    std::memcpy(data, v.row(r), v.row_bytes());
    return;
  }
  tmp.resize(cols);
  dequantize_row(v.type, v.row(r), tmp.data(), cols);
  for (int64_t c = 0; c < cols; ++c) {
    if (kind == WKind::kF32) std::memcpy(data + 4 * c, &tmp[c], 4);
    else {
      const uint16_t h = kind == WKind::kF16 ? f32_to_fp16(tmp[c]) : f32_to_bf16(tmp[c]);
      std::memcpy(data + 2 * c, &h, 2);
    }
  }
}

}  // namespace

DeviceModel::~DeviceModel() { cudaFree(arena_); }

void DeviceModel::add_matrix(DeviceMatrix* m, WKind kind, std::vector<TensorView> views) {
  Slot slot;
  slot.m = m;
  m->kind = kind;
  m->cols = views[0].cols;
  m->rows = 0;
  for (const TensorView& v : views) {
    slot.parts.push_back({v, m->rows});
    m->rows += v.rows;
  }
  bytes_ += align_up(m->data_row_bytes() * m->rows) + (is_quant(kind) ? align_up(m->rows * (m->cols / 32) * 2) : 0);
  slots_.push_back(std::move(slot));
}

void DeviceModel::add_norm(float** p, const TensorView& v) {
  Slot slot;
  slot.norm = p;
  slot.norm_len = v.rows * v.cols;
  slot.parts.push_back({v, 0});
  bytes_ += align_up(slot.norm_len * 4);
  slots_.push_back(std::move(slot));
}

Result<std::unique_ptr<DeviceModel>> DeviceModel::plan(const ModelWeights& w) {
  const ModelConfig& c = w.config;
  if (c.n_heads <= 0 || c.n_kv_heads <= 0 || c.n_heads % c.n_kv_heads != 0)
    return invalid_argument("cuda: n_heads must be a positive multiple of n_kv_heads");
  const int group = c.n_heads / c.n_kv_heads;
  if (group > kAttnMaxGroup)
    return invalid_argument("cuda: " + std::to_string(group) + " query heads per KV head; the kernels support up to " +
                            std::to_string(kAttnMaxGroup));
  const int hd = c.head_dim();
  if ((hd != 8 && hd != 16 && hd != 32 && hd != 64 && hd != 128) || (c.head_dim_override == 0 && c.dim % c.n_heads != 0))
    return invalid_argument("cuda: head_dim " + std::to_string(hd) + " is not one of 8, 16, 32, 64, 128");
  if (static_cast<int64_t>(w.layers.size()) != c.n_layers) return invalid_argument("cuda: layer count mismatch");

  std::unique_ptr<DeviceModel> m(new DeviceModel());
  bool all_f32 = true, all_f16 = true;
  auto note = [&](const TensorView& v) {
    all_f32 = all_f32 && v.type == DType::kF32;
    all_f16 = all_f16 && v.type == DType::kF16;
  };
  for (const LayerWeights& l : w.layers)
    for (const TensorView* v : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down}) note(*v);
  note(w.output);
  m->act_ = all_f32 ? ActType::kF32 : all_f16 ? ActType::kF16 : ActType::kBF16;
  const ActType act = m->act_;
  // Concatenated matrices need one kind; when their parts differ they meet at the float kind.
  auto joint_kind = [&](std::initializer_list<const TensorView*> views) {
    WKind k = device_kind((*views.begin())->type, act);
    for (const TensorView* v : views)
      if (device_kind(v->type, act) != k) return float_kind(act);
    return k;
  };

  // Same start and same shape: rank 0's vocab-parallel head starts where the embedding does but is a
  // slice of it, not the whole.
  const bool tied = c.tied_output || (w.output.data != nullptr && w.output.data == w.token_embedding.data &&
                                      w.output.rows == w.token_embedding.rows);
  m->add_matrix(&m->emb, device_kind(w.token_embedding.type, act), {w.token_embedding});
  if (!tied) m->add_matrix(&m->output, device_kind(w.output.type, act), {w.output});
  m->add_norm(&m->out_norm, w.output_norm);
  m->layers.resize(w.layers.size());
  for (size_t i = 0; i < w.layers.size(); ++i) {
    const LayerWeights& l = w.layers[i];
    DeviceLayer& d = m->layers[i];
    m->add_norm(&d.attn_norm, l.attn_norm);
    m->add_matrix(&d.wqkv, joint_kind({&l.wq, &l.wk, &l.wv}), {l.wq, l.wk, l.wv});
    m->add_matrix(&d.wo, device_kind(l.wo.type, act), {l.wo});
    m->add_norm(&d.ffn_norm, l.ffn_norm);
    m->add_matrix(&d.w_gu, joint_kind({&l.w_gate, &l.w_up}), {l.w_gate, l.w_up});
    m->add_matrix(&d.w_down, device_kind(l.w_down.type, act), {l.w_down});
  }
  return std::move(m);
}

Status DeviceModel::allocate() {
  CUDA_RETURN_IF_ERROR(cudaMalloc(&arena_, bytes_));
  char* p = static_cast<char*>(arena_);
  for (Slot& s : slots_) {
    if (s.norm) {
      *s.norm = reinterpret_cast<float*>(p);
      p += align_up(s.norm_len * 4);
      continue;
    }
    s.m->data = p;
    p += align_up(s.m->data_row_bytes() * s.m->rows);
    if (is_quant(s.m->kind)) {
      s.m->scales = reinterpret_cast<__half*>(p);
      p += align_up(s.m->rows * (s.m->cols / 32) * 2);
    }
  }
  if (!output.data) output = emb;  // tied
  return {};
}

Status DeviceModel::upload(const ModelWeights& w) {
  (void)w;
  EFFITUNE_RETURN_IF_ERROR(allocate());
  std::vector<uint8_t> data;
  std::vector<uint16_t> scales;
  std::vector<float> tmp;
  for (const Slot& s : slots_) {
    if (s.norm) {
      const TensorView& v = s.parts[0].view;
      if (v.type != DType::kF32 || !v.data) return invalid_argument("cuda: norm weights must be f32");
      CUDA_RETURN_IF_ERROR(cudaMemcpy(*s.norm, v.data, s.norm_len * 4, cudaMemcpyHostToDevice));
      continue;
    }
    DeviceMatrix& m = *s.m;
    const int64_t row_bytes = m.data_row_bytes(), blocks = m.cols / 32;
    for (const Part& part : s.parts) {
      const TensorView& v = part.view;
      if (!v.data) return invalid_argument("cuda: a weight tensor has no data");
      if (v.cols != m.cols) return invalid_argument("cuda: concatenated weights differ in width");
      const int64_t chunk = std::max<int64_t>(1, kStageBytes / row_bytes);
      for (int64_t r0 = 0; r0 < v.rows; r0 += chunk) {
        const int64_t n = std::min(chunk, v.rows - r0);
        data.resize(n * row_bytes);
        scales.resize(n * blocks);
        for (int64_t r = 0; r < n; ++r)
          convert_row(v, r0 + r, m.kind, data.data() + r * row_bytes, scales.data() + r * blocks, tmp);
        const int64_t dst_row = part.row0 + r0;
        CUDA_RETURN_IF_ERROR(cudaMemcpy(static_cast<char*>(m.data) + dst_row * row_bytes, data.data(), n * row_bytes,
                                        cudaMemcpyHostToDevice));
        if (is_quant(m.kind))
          CUDA_RETURN_IF_ERROR(cudaMemcpy(m.scales + dst_row * blocks, scales.data(), n * blocks * 2, cudaMemcpyHostToDevice));
      }
    }
  }
  return {};
}

Status DeviceModel::randomize(uint64_t seed, cudaStream_t st) {
  EFFITUNE_RETURN_IF_ERROR(allocate());
  uint64_t tensor = 0;
  for (const Slot& s : slots_) {
    const uint64_t tseed = seed ^ (++tensor * 0xD1B54A32D192ED03ull);
    if (s.norm) {
      fill_kernel<<<grid_for(s.norm_len), 256, 0, st>>>(*s.norm, s.norm_len, 1.0f);
      continue;
    }
    const DeviceMatrix& m = *s.m;
    const int64_t n = m.rows * m.cols;
    switch (m.kind) {
      case WKind::kF32: random_float_kernel<<<grid_for(n), 256, 0, st>>>(static_cast<float*>(m.data), n, tseed); break;
      case WKind::kF16: random_float_kernel<<<grid_for(n), 256, 0, st>>>(static_cast<__half*>(m.data), n, tseed); break;
      case WKind::kBF16:
        random_float_kernel<<<grid_for(n), 256, 0, st>>>(static_cast<__nv_bfloat16*>(m.data), n, tseed);
        break;
      case WKind::kQ8:
      case WKind::kQ4:
        random_quant_kernel<<<grid_for(n / 32), 256, 0, st>>>(m.kind, static_cast<uint8_t*>(m.data), m.scales, n / 32, tseed);
        break;
    }
    CUDA_RETURN_IF_LAUNCH_ERROR("random weights");
  }
  return cuda_status(cudaStreamSynchronize(st), "random weights");
}

Status upload_single(const TensorView& v, WKind kind, DeviceMatrix& m, void** alloc) {
  m = DeviceMatrix{};
  m.kind = kind;
  m.rows = v.rows;
  m.cols = v.cols;
  const int64_t data_bytes = align_up(m.data_row_bytes() * m.rows), blocks = m.cols / 32;
  CUDA_RETURN_IF_ERROR(cudaMalloc(alloc, m.bytes() + kAlign));
  m.data = *alloc;
  if (is_quant(kind)) m.scales = reinterpret_cast<__half*>(static_cast<char*>(*alloc) + data_bytes);
  std::vector<uint8_t> data(m.data_row_bytes() * m.rows);
  std::vector<uint16_t> scales(m.rows * blocks);
  std::vector<float> tmp;
  for (int64_t r = 0; r < m.rows; ++r)
    convert_row(v, r, kind, data.data() + r * m.data_row_bytes(), scales.data() + r * blocks, tmp);
  CUDA_RETURN_IF_ERROR(cudaMemcpy(m.data, data.data(), data.size(), cudaMemcpyHostToDevice));
  if (is_quant(kind)) CUDA_RETURN_IF_ERROR(cudaMemcpy(m.scales, scales.data(), scales.size() * 2, cudaMemcpyHostToDevice));
  return {};
}

int64_t DeviceModel::largest_quant_elems() const {
  int64_t n = 0;
  for (const Slot& s : slots_)
    if (s.m && is_quant(s.m->kind)) n = std::max(n, s.m->rows * s.m->cols);
  return n;
}

}  // namespace effitune::engine::cuda
