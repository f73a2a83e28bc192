// llama2.c legacy (version 0) checkpoints: a 7 x int32 header, then f32 arrays in a fixed order.
// Every size is validated against the file size (in 64-bit arithmetic, with upper bounds that keep
// every product far from overflow) before any pointer is formed or any buffer is allocated.
//
// eos_id is set to -1: the format has no EOS token. llama2.c itself stops when BOS (id 1) is produced;
// that policy belongs to the caller (generate/probes), not to the model description.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>

#include "effitune/engine/model_loader.h"

namespace effitune::engine {
namespace {

constexpr int64_t kHeaderBytes = 7 * 4;
// Upper bounds far above any llama2.c model yet small enough that L*F*D etc. stay below 2^62.
constexpr int64_t kMaxDim = 1 << 16;
constexpr int64_t kMaxHidden = 1 << 18;
constexpr int64_t kMaxLayers = 1 << 10;
constexpr int64_t kMaxVocab = 1 << 22;
constexpr int64_t kMaxSeqLen = 1 << 22;

int32_t read_i32(const uint8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);  // little-endian hosts only (x86_64, aarch64)
  return v;
}

Status check_range(const std::string& name, const char* field, int64_t v, int64_t max) {
  if (v <= 0 || v > max) {
    return invalid_argument(name + ": llama2.c header field '" + field + "' = " + std::to_string(v) +
                            " is out of range (expected 1.." + std::to_string(max) +
                            "); is this a llama2.c version-0 checkpoint?");
  }
  return {};
}

// Hands out consecutive f32 arrays of the payload, each checked against the bytes that remain.
class Cursor {
 public:
  Cursor(const uint8_t* base, int64_t size, int64_t offset, const std::string& name)
      : base_(base), size_(size), offset_(offset), name_(name) {}

  Result<TensorView> take(const char* field, int64_t rows, int64_t cols) {
    const int64_t n = rows * cols;  // bounded by the header limits: < 2^50
    if (n > (size_ - offset_) / 4) {
      return data_loss(name_ + ": file is truncated in array '" + field + "' (needs " + std::to_string(n * 4) +
                       " bytes at offset " + std::to_string(offset_) + ", file has " + std::to_string(size_) + ")");
    }
    TensorView v;
    v.type = DType::kF32;
    v.data = base_ + offset_;
    v.rows = rows;
    v.cols = cols;
    offset_ += n * 4;
    return v;
  }
  Status skip(const char* field, int64_t n) {
    if (n > (size_ - offset_) / 4) {
      return data_loss(name_ + ": file is truncated in '" + field + "' at offset " + std::to_string(offset_));
    }
    offset_ += n * 4;
    return {};
  }
  int64_t offset() const { return offset_; }

 private:
  const uint8_t* base_;
  int64_t size_;
  int64_t offset_;
  const std::string& name_;
};

// Converts a f32 view to `type` into a new buffer kept alive by `storage`. A row length that is not a
// multiple of the type's block size falls back to f16 (as llama.cpp's quantizer falls back), so the
// knob still reduces precision instead of failing on odd shapes such as stories260K's hidden 172.
TensorView convert(const TensorView& src, DType type, std::vector<std::shared_ptr<const void>>& storage) {
  if (src.cols % dtype_block_elems(type) != 0) type = DType::kF16;
  if (type == DType::kF32) return src;
  TensorView dst = src;
  dst.type = type;
  const int64_t row_bytes = dtype_row_bytes(type, src.cols);
  std::shared_ptr<uint8_t[]> buf(new uint8_t[static_cast<size_t>(row_bytes * src.rows)]);
  for (int64_t r = 0; r < src.rows; ++r)
    quantize_row(type, src.f32() + r * src.cols, buf.get() + r * row_bytes, src.cols);
  dst.data = buf.get();
  storage.push_back(std::shared_ptr<const void>(buf, buf.get()));
  return dst;
}

Result<std::shared_ptr<const ModelWeights>> parse_impl(const uint8_t* data, int64_t size, const std::string& name,
                                                       const LoadOptions& options,
                                                       std::shared_ptr<const void> keep_alive) {
  if (options.weight_type && (*options.weight_type == DType::kQ4_K)) {
    return unimplemented(name + ": cannot convert to q4_k (no quantizer in this engine); use q4_0, q8_0, f16 or bf16");
  }
  if (size < kHeaderBytes) {
    return data_loss(name + ": file has " + std::to_string(size) + " bytes, shorter than the 28-byte llama2.c header");
  }
  const int64_t dim = read_i32(data), hidden = read_i32(data + 4), layers = read_i32(data + 8);
  const int64_t heads = read_i32(data + 12), kv_heads = read_i32(data + 16);
  const int64_t vocab_signed = read_i32(data + 20), seq_len = read_i32(data + 24);
  const bool shared = vocab_signed > 0;
  const int64_t vocab = shared ? vocab_signed : -vocab_signed;  // int64: -INT32_MIN is safe

  EFFITUNE_RETURN_IF_ERROR(check_range(name, "dim", dim, kMaxDim));
  EFFITUNE_RETURN_IF_ERROR(check_range(name, "hidden_dim", hidden, kMaxHidden));
  EFFITUNE_RETURN_IF_ERROR(check_range(name, "n_layers", layers, kMaxLayers));
  EFFITUNE_RETURN_IF_ERROR(check_range(name, "n_heads", heads, dim));
  EFFITUNE_RETURN_IF_ERROR(check_range(name, "n_kv_heads", kv_heads, heads));
  EFFITUNE_RETURN_IF_ERROR(check_range(name, "vocab_size", vocab, kMaxVocab));
  EFFITUNE_RETURN_IF_ERROR(check_range(name, "seq_len", seq_len, kMaxSeqLen));
  if (dim % heads != 0)
    return invalid_argument(name + ": llama2.c header: n_heads " + std::to_string(heads) + " does not divide dim " +
                            std::to_string(dim));
  if (heads % kv_heads != 0)
    return invalid_argument(name + ": llama2.c header: n_kv_heads " + std::to_string(kv_heads) +
                            " does not divide n_heads " + std::to_string(heads));
  const int64_t head_dim = dim / heads;
  if (head_dim % 2 != 0)
    return invalid_argument(name + ": llama2.c header: head size " + std::to_string(head_dim) +
                            " is odd; RoPE needs pairs");
  const int64_t kv_dim = head_dim * kv_heads;

  // Expected size first, so that a truncated or padded file is rejected with one clear message.
  const int64_t floats = vocab * dim + layers * dim * 2 + layers * dim * dim * 2 + layers * dim * kv_dim * 2 +
                         layers * hidden * dim * 3 + dim + seq_len * head_dim + (shared ? 0 : vocab * dim);
  const int64_t expected = kHeaderBytes + floats * 4;
  if (expected != size) {
    return data_loss(name + ": llama2.c header (dim " + std::to_string(dim) + ", hidden " + std::to_string(hidden) +
                     ", layers " + std::to_string(layers) + ", vocab " + std::to_string(vocab_signed) +
                     ") implies " + std::to_string(expected) + " bytes but the file has " + std::to_string(size) +
                     "; the file is truncated or not a version-0 checkpoint");
  }

  auto w = std::make_shared<ModelWeights>();
  ModelConfig& c = w->config;
  c.name = std::filesystem::path(name).stem().string();
  c.dim = static_cast<int32_t>(dim);
  c.hidden_dim = static_cast<int32_t>(hidden);
  c.n_layers = static_cast<int32_t>(layers);
  c.n_heads = static_cast<int32_t>(heads);
  c.n_kv_heads = static_cast<int32_t>(kv_heads);
  c.vocab_size = static_cast<int32_t>(vocab);
  c.max_seq_len = static_cast<int32_t>(seq_len);
  c.rms_eps = 1e-5f;
  c.rope_theta = 10000.0f;
  c.tied_output = shared;
  c.bos_id = 1;
  c.eos_id = -1;
  if (keep_alive) w->storage.push_back(std::move(keep_alive));

  Cursor cur(data, size, kHeaderBytes, name);
  EFFITUNE_ASSIGN_OR_RETURN(w->token_embedding, cur.take("token_embedding_table", vocab, dim));
  EFFITUNE_ASSIGN_OR_RETURN(TensorView rms_att, cur.take("rms_att_weight", layers, dim));
  EFFITUNE_ASSIGN_OR_RETURN(TensorView wq, cur.take("wq", layers * dim, dim));
  EFFITUNE_ASSIGN_OR_RETURN(TensorView wk, cur.take("wk", layers * kv_dim, dim));
  EFFITUNE_ASSIGN_OR_RETURN(TensorView wv, cur.take("wv", layers * kv_dim, dim));
  EFFITUNE_ASSIGN_OR_RETURN(TensorView wo, cur.take("wo", layers * dim, dim));
  EFFITUNE_ASSIGN_OR_RETURN(TensorView rms_ffn, cur.take("rms_ffn_weight", layers, dim));
  EFFITUNE_ASSIGN_OR_RETURN(TensorView w1, cur.take("w1", layers * hidden, dim));
  EFFITUNE_ASSIGN_OR_RETURN(TensorView w2, cur.take("w2", layers * dim, hidden));
  EFFITUNE_ASSIGN_OR_RETURN(TensorView w3, cur.take("w3", layers * hidden, dim));
  EFFITUNE_ASSIGN_OR_RETURN(w->output_norm, cur.take("rms_final_weight", 1, dim));
  EFFITUNE_RETURN_IF_ERROR(cur.skip("freq_cis_real", seq_len * head_dim / 2));
  EFFITUNE_RETURN_IF_ERROR(cur.skip("freq_cis_imag", seq_len * head_dim / 2));
  if (shared) {
    w->output = w->token_embedding;
  } else {
    EFFITUNE_ASSIGN_OR_RETURN(w->output, cur.take("wcls", vocab, dim));
  }

  // Slices row block `l` (of `rows` rows) out of a stacked per-layer array.
  auto slice = [](const TensorView& all, int64_t l, int64_t rows) {
    TensorView v = all;
    v.rows = rows;
    v.data = static_cast<const float*>(all.data) + l * rows * all.cols;
    return v;
  };
  w->layers.resize(static_cast<size_t>(layers));
  for (int64_t l = 0; l < layers; ++l) {
    LayerWeights& lw = w->layers[static_cast<size_t>(l)];
    lw.attn_norm = slice(rms_att, l, 1);
    lw.wq = slice(wq, l, dim);
    lw.wk = slice(wk, l, kv_dim);
    lw.wv = slice(wv, l, kv_dim);
    lw.wo = slice(wo, l, dim);
    lw.ffn_norm = slice(rms_ffn, l, 1);
    lw.w_gate = slice(w1, l, hidden);
    lw.w_down = slice(w2, l, dim);
    lw.w_up = slice(w3, l, hidden);
  }

  if (options.weight_type && *options.weight_type != DType::kF32) {
    const DType t = *options.weight_type;
    w->token_embedding = convert(w->token_embedding, t, w->storage);
    w->output = shared ? w->token_embedding : convert(w->output, t, w->storage);
    for (LayerWeights& lw : w->layers) {
      for (TensorView* p : {&lw.wq, &lw.wk, &lw.wv, &lw.wo, &lw.w_gate, &lw.w_down, &lw.w_up})
        *p = convert(*p, t, w->storage);
    }
  }
  return std::shared_ptr<const ModelWeights>(std::move(w));
}

struct Mapping {
  void* addr = nullptr;
  size_t size = 0;
  ~Mapping() {
    if (addr != nullptr && addr != MAP_FAILED) munmap(addr, size);
  }
};

}  // namespace

Result<std::shared_ptr<const ModelWeights>> parse_llama2c(const void* data, size_t size, const std::string& name,
                                                          const LoadOptions& options) {
  // The result must not point into the caller's buffer, whose lifetime we do not control: copy it.
  std::shared_ptr<uint8_t[]> copy(new uint8_t[size == 0 ? 1 : size]);
  if (size > 0) std::memcpy(copy.get(), data, size);
  const uint8_t* base = copy.get();
  return parse_impl(base, static_cast<int64_t>(size), name, options, std::shared_ptr<const void>(copy, base));
}

Result<std::shared_ptr<const ModelWeights>> load_llama2c(const std::string& path, const LoadOptions& options) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    std::string msg = path + ": cannot open llama2.c checkpoint: " + std::strerror(err);
    return err == ENOENT ? not_found(msg) : invalid_argument(msg);
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return invalid_argument(path + ": not a regular file");
  }
  auto map = std::make_shared<Mapping>();
  map->size = static_cast<size_t>(st.st_size);
  if (map->size > 0) {
    map->addr = ::mmap(nullptr, map->size, PROT_READ, MAP_PRIVATE, fd, 0);
  }
  ::close(fd);
  if (map->size > 0 && map->addr == MAP_FAILED) {
    map->addr = nullptr;
    return internal_error(path + ": mmap failed: " + std::strerror(errno));
  }
  const auto* base = static_cast<const uint8_t*>(map->addr);
  static const uint8_t kEmpty = 0;
  return parse_impl(base ? base : &kEmpty, static_cast<int64_t>(map->size), path, options,
                    std::shared_ptr<const void>(map, map->addr));
}

}  // namespace effitune::engine
