// GGUF v2/v3 reader and writer. The reader memory-maps the file and validates every count, size and
// offset against the file size (with overflow checks) before it allocates anything.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "effitune/common/status.h"
#include "effitune/engine/dtype.h"

namespace effitune::engine {

// GGUF metadata value types (gguf_type).
enum class GgufType : uint32_t {
  kUint8 = 0, kInt8 = 1, kUint16 = 2, kInt16 = 3, kUint32 = 4, kInt32 = 5, kFloat32 = 6,
  kBool = 7, kString = 8, kArray = 9, kUint64 = 10, kInt64 = 11, kFloat64 = 12,
};

// One metadata value. Arrays hold elements of a single type; nested arrays are rejected.
struct GgufValue {
  GgufType type = GgufType::kUint32;
  GgufType array_type = GgufType::kUint32;  // element type when type == kArray
  // Scalars: integers widen to int64/uint64, floats to double, strings to std::string.
  std::variant<uint64_t, int64_t, double, bool, std::string> scalar;
  // Arrays: exactly one of these is filled, by element kind.
  std::vector<int64_t> ints;          // signed/unsigned integer and bool arrays (uint64 > INT64_MAX rejected)
  std::vector<double> floats;         // float32/float64 arrays
  std::vector<std::string> strings;   // string arrays

  std::optional<int64_t> as_int() const;    // any integer or bool scalar
  std::optional<double> as_float() const;   // any numeric scalar
  std::optional<std::string> as_string() const;
  std::optional<bool> as_bool() const;
};

struct GgufTensorInfo {
  std::string name;
  DType type = DType::kF32;
  std::vector<int64_t> ne;   // ggml order: ne[0] is the contiguous (column) dimension; 1..4 dims
  uint64_t offset = 0;       // relative to the start of the data section
  int64_t n_elements = 0;
  int64_t n_bytes = 0;
  const void* data = nullptr;  // into the mapping; valid while the GgufFile lives
};

class GgufFile {
 public:
  // Maps and parses `path`. Returns kNotFound if it cannot be opened, kDataLoss for a truncated file,
  // kInvalidArgument for anything malformed (bad magic/version, huge counts, bad types, n_dims > 4,
  // overflowing dims, misaligned or out-of-file offsets, duplicate keys or tensor names). Messages
  // name the file and the key or tensor at fault. Never throws.
  static Result<std::unique_ptr<GgufFile>> open(const std::string& path);
  // Parses an in-memory image (used by the fuzz target and tests). The bytes are copied.
  static Result<std::unique_ptr<GgufFile>> parse(const void* data, size_t size, const std::string& name);

  ~GgufFile();
  GgufFile(const GgufFile&) = delete;
  GgufFile& operator=(const GgufFile&) = delete;

  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  const std::string& path() const { return path_; }

  const std::map<std::string, GgufValue>& metadata() const { return kv_; }
  const GgufValue* find(std::string_view key) const;
  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
  const GgufTensorInfo* find_tensor(std::string_view name) const;
  // Keeps the mapping alive for weights that point into it.
  std::shared_ptr<const void> mapping() const { return mapping_; }

 private:
  GgufFile() = default;
  friend class GgufParser;
  std::string path_;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  std::map<std::string, GgufValue> kv_;
  std::vector<GgufTensorInfo> tensors_;
  std::shared_ptr<const void> mapping_;
};

// Writes GGUF v3 files: metadata then tensors, each tensor's data aligned to `alignment`.
class GgufWriter {
 public:
  explicit GgufWriter(uint64_t alignment = 32) : alignment_(alignment) {}
  void set_u32(const std::string& key, uint32_t v);
  void set_i32(const std::string& key, int32_t v);
  void set_f32(const std::string& key, float v);
  void set_bool(const std::string& key, bool v);
  void set_string(const std::string& key, const std::string& v);
  void set_string_array(const std::string& key, const std::vector<std::string>& v);
  void set_f32_array(const std::string& key, const std::vector<float>& v);
  void set_i32_array(const std::string& key, const std::vector<int32_t>& v);
  // Any value type, as the reader returns it (u8..f64, bool, string, arrays); setting a key again
  // replaces it.
  void set_value(const std::string& key, const GgufValue& v);
  // Adds a tensor of `type` with ggml dims `ne` (ne[0] contiguous); `data` must hold exactly
  // the tensor's bytes and is copied.
  void add_tensor(const std::string& name, DType type, const std::vector<int64_t>& ne, const void* data, size_t bytes);
  // Writes the file atomically (temp file + rename). Returns kUnavailable on I/O errors.
  Status write(const std::string& path) const;

 private:
  struct Kv { std::string key; GgufValue value; };
  struct Tensor { std::string name; DType type; std::vector<int64_t> ne; std::vector<uint8_t> data; };
  uint64_t alignment_;
  std::vector<Kv> kv_;
  std::vector<Tensor> tensors_;
};

}  // namespace effitune::engine
