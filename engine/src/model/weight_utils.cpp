#include "model/weight_utils.h"

#include <algorithm>
#include <atomic>
#include <new>
#include <cstring>
#include <thread>

namespace effitune::engine::model_detail {

std::shared_ptr<void> alloc_buffer(size_t bytes) {
  constexpr std::align_val_t kAlign{64};
  void* p = ::operator new(bytes > 0 ? bytes : 1, kAlign, std::nothrow);
  if (p == nullptr) return nullptr;
  return std::shared_ptr<void>(p, [kAlign](void* q) { ::operator delete(q, kAlign); });
}

void parallel_for(int64_t n, int64_t cost_per_item, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  const int64_t hw = std::max<int64_t>(1, std::thread::hardware_concurrency());
  // Starting a thread costs ~20-50 us; below ~1M element-operations that outweighs the work.
  const int64_t by_work = std::max<int64_t>(1, n * std::max<int64_t>(1, cost_per_item) / (1 << 20));
  const int64_t n_threads = std::min({hw, by_work, n});
  if (n_threads <= 1) {
    fn(0, n);
    return;
  }
  // Dynamic chunks keep all threads busy when rows cost different amounts.
  const int64_t chunk = std::max<int64_t>(1, n / (n_threads * 8));
  std::atomic<int64_t> next{0};
  auto worker = [&] {
    for (int64_t b; (b = next.fetch_add(chunk)) < n;) fn(b, std::min(n, b + chunk));
  };
  std::vector<std::thread> threads;
  for (int64_t t = 1; t < n_threads; ++t) threads.emplace_back(worker);
  worker();
  for (auto& t : threads) t.join();
}

Status validate_config(const ModelConfig& c, const std::string& name) {
  auto range = [&](const char* field, int64_t v, int64_t max) -> Status {
    if (v <= 0 || v > max) {
      return invalid_argument(name + ": " + field + " = " + std::to_string(v) + " is out of range (expected 1.." +
                              std::to_string(max) + ")");
    }
    return {};
  };
  EFFITUNE_RETURN_IF_ERROR(range("dim", c.dim, kMaxDim));
  EFFITUNE_RETURN_IF_ERROR(range("hidden_dim", c.hidden_dim, kMaxHidden));
  EFFITUNE_RETURN_IF_ERROR(range("n_layers", c.n_layers, kMaxLayers));
  EFFITUNE_RETURN_IF_ERROR(range("n_heads", c.n_heads, c.dim));
  EFFITUNE_RETURN_IF_ERROR(range("n_kv_heads", c.n_kv_heads, c.n_heads));
  EFFITUNE_RETURN_IF_ERROR(range("vocab_size", c.vocab_size, kMaxVocab));
  EFFITUNE_RETURN_IF_ERROR(range("max_seq_len", c.max_seq_len, kMaxSeqLen));
  if (c.dim % c.n_heads != 0) {
    return invalid_argument(name + ": n_heads " + std::to_string(c.n_heads) + " does not divide dim " + std::to_string(c.dim));
  }
  if (c.n_heads % c.n_kv_heads != 0) {
    return invalid_argument(name + ": n_kv_heads " + std::to_string(c.n_kv_heads) + " does not divide n_heads " +
                            std::to_string(c.n_heads));
  }
  if (c.head_dim() % 2 != 0) {
    return invalid_argument(name + ": head_dim " + std::to_string(c.head_dim()) + " is odd; RoPE rotates pairs");
  }
  if (!(c.rms_eps > 0.0f && c.rms_eps < 1.0f)) {
    return invalid_argument(name + ": rms_eps " + std::to_string(c.rms_eps) + " is out of range (0, 1)");
  }
  if (!(c.rope_theta > 0.0f && c.rope_theta < 1e30f)) {
    return invalid_argument(name + ": rope_theta " + std::to_string(c.rope_theta) + " must be positive and finite");
  }
  if (!c.rope_freq_factors.empty() && static_cast<int64_t>(c.rope_freq_factors.size()) != c.head_dim() / 2) {
    return invalid_argument(name + ": rope_freq_factors has " + std::to_string(c.rope_freq_factors.size()) +
                            " entries; head_dim/2 = " + std::to_string(c.head_dim() / 2) + " expected");
  }
  return {};
}

Result<TensorView> convert_view(const TensorView& src, DType type, std::vector<std::shared_ptr<const void>>& storage,
                                const std::string& what) {
  // Same type: only data left misaligned by an unusual general.alignment needs a copy.
  const bool aligned = reinterpret_cast<uintptr_t>(src.data) % 4 == 0;
  if (src.type != type) {
    if (type == DType::kQ4_K) {
      return unimplemented(what + ": converting weights to q4_k is not supported (no quantizer); use q4_0 or q8_0");
    }
    if (src.cols % dtype_block_elems(type) != 0) type = DType::kF16;
  }
  if (src.type == type && aligned) return src;
  TensorView dst = src;
  dst.type = type;
  const int64_t row_bytes = dst.row_bytes();
  auto buf = alloc_buffer(static_cast<size_t>(row_bytes * src.rows));
  if (!buf) {
    return resource_exhausted(what + ": cannot allocate " + std::to_string(row_bytes * src.rows) + " bytes to convert to " +
                              std::string(dtype_name(type)));
  }
  auto* out = static_cast<uint8_t*>(buf.get());
  if (src.type == type) {
    std::memcpy(out, src.data, static_cast<size_t>(row_bytes * src.rows));
  } else {
    parallel_for(src.rows, src.cols * 4, [&](int64_t r0, int64_t r1) {
      std::vector<float> tmp(static_cast<size_t>(src.cols));
      for (int64_t r = r0; r < r1; ++r) {
        dequantize_row(src.type, src.row(r), tmp.data(), src.cols);
        quantize_row(type, tmp.data(), out + r * row_bytes, src.cols);
      }
    });
  }
  dst.data = out;
  storage.push_back(std::move(buf));
  return dst;
}

}  // namespace effitune::engine::model_detail
