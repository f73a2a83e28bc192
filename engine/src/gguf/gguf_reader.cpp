// GGUF v2/v3 reader. Every count, length, dimension and offset is checked against the bytes that
// remain (with overflow checks) before anything is allocated: a corrupt or hostile file costs at most
// a few times its own size in memory and ends in a Status, never a crash (cf. CVE-2024-23496,
// CVE-2025-53630 and llama.cpp's tests/test-gguf.cpp).
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <limits>
#include <new>
#include <numeric>
#include <unordered_set>

#include "effitune/engine/gguf.h"
#include "gguf/gguf_format.h"

namespace effitune::engine {

static_assert(std::endian::native == std::endian::little, "the GGUF reader assumes a little-endian host");

namespace {

namespace fmt = gguf_format;

// Smallest possible encodings, used to cap counts by the bytes left: a KV pair is a key length (8),
// a 1-byte key, a type (4) and a 1-byte value; a tensor info is a name length (8), a 1-byte name,
// n_dims (4), one dim (8), a type (4) and an offset (8).
constexpr uint64_t kMinKvBytes = 8 + 1 + 4 + 1;
constexpr uint64_t kMinTensorInfoBytes = 8 + 1 + 4 + 8 + 4 + 8;
constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();

}  // namespace

// Parses one GGUF image held in memory; GgufFile's friend, so it fills the file in place.
class GgufParser {
 public:
  GgufParser(const uint8_t* data, size_t size, const std::string& name) : p_(data), size_(size), name_(name) {}

  Status parse(GgufFile& out) {
    EFFITUNE_RETURN_IF_ERROR(parse_header(out));
    EFFITUNE_RETURN_IF_ERROR(parse_metadata(out));
    EFFITUNE_RETURN_IF_ERROR(parse_alignment(out));
    EFFITUNE_RETURN_IF_ERROR(parse_tensor_infos(out));
    return place_tensor_data(out);
  }

 private:
  uint64_t remaining() const { return size_ - pos_; }

  Status invalid(const std::string& msg) const { return invalid_argument(name_ + ": " + msg); }
  Status truncated(const std::string& what, uint64_t need) const {
    return data_loss(name_ + ": " + what + " needs " + std::to_string(need) + " bytes at offset " +
                     std::to_string(pos_) + " but only " + std::to_string(remaining()) +
                     " remain (the file is truncated or corrupt)");
  }

  Status read_bytes(void* dst, uint64_t n, const std::string& what) {
    if (n > remaining()) return truncated(what, n);
    std::memcpy(dst, p_ + pos_, n);
    pos_ += n;
    return {};
  }

  template <typename T>
  Status read(T* v, const std::string& what) {
    return read_bytes(v, sizeof(T), what);
  }

  // A gguf_string: u64 length then bytes (not NUL-terminated). The length is checked against the
  // bytes left before the string is allocated.
  Status read_string(std::string* s, const std::string& what, uint64_t max_len) {
    uint64_t len = 0;
    EFFITUNE_RETURN_IF_ERROR(read(&len, what + " length"));
    if (len > remaining()) return truncated(what + " of length " + std::to_string(len), len);
    if (len > max_len) return invalid(what + " is " + std::to_string(len) + " bytes long (limit " + std::to_string(max_len) + ")");
    s->assign(reinterpret_cast<const char*>(p_ + pos_), len);
    pos_ += len;
    return {};
  }

  Status parse_header(GgufFile& out) {
    uint32_t magic = 0;
    EFFITUNE_RETURN_IF_ERROR(read(&magic, "the GGUF magic"));
    if (magic != fmt::kMagic) return invalid("not a GGUF file (the first 4 bytes are not \"GGUF\")");
    uint32_t version = 0;
    EFFITUNE_RETURN_IF_ERROR(read(&version, "the GGUF version"));
    if (version == 1) return invalid("GGUF v1 is not supported; re-convert the model with a current llama.cpp (v3)");
    if ((version & 0xFFFF) == 0 && version != 0) return invalid("big-endian GGUF files are not supported");
    if (version != 2 && version != 3) return invalid("unsupported GGUF version " + std::to_string(version) + " (expected 2 or 3)");
    out.version_ = version;
    EFFITUNE_RETURN_IF_ERROR(read(&n_tensors_, "the tensor count"));
    EFFITUNE_RETURN_IF_ERROR(read(&n_kv_, "the metadata count"));
    // Cap both counts by what the rest of the file could hold, before any loop or allocation.
    const uint64_t left = remaining();
    if (n_kv_ > left / kMinKvBytes || n_tensors_ > left / kMinTensorInfoBytes ||
        n_kv_ * kMinKvBytes + n_tensors_ * kMinTensorInfoBytes > left) {
      return data_loss(name_ + ": header declares " + std::to_string(n_kv_) + " metadata entries and " +
                       std::to_string(n_tensors_) + " tensors, which cannot fit in the " + std::to_string(left) +
                       " bytes that follow (the file is truncated or corrupt)");
    }
    return {};
  }

  Status parse_metadata(GgufFile& out) {
    for (uint64_t i = 0; i < n_kv_; ++i) {
      const std::string where = "metadata entry #" + std::to_string(i);
      std::string key;
      EFFITUNE_RETURN_IF_ERROR(read_string(&key, where + " key", remaining()));
      if (key.empty()) return invalid(where + " has an empty key");
      if (out.kv_.count(key)) return invalid("duplicate metadata key '" + key + "'");
      const std::string ctx = "key '" + key + "'";
      uint32_t type = 0;
      EFFITUNE_RETURN_IF_ERROR(read(&type, ctx + " value type"));
      if (!fmt::is_valid_type(type)) return invalid(ctx + ": invalid value type " + std::to_string(type));
      GgufValue v;
      v.type = static_cast<GgufType>(type);
      if (v.type == GgufType::kArray) {
        EFFITUNE_RETURN_IF_ERROR(read_array(&v, ctx));
      } else {
        EFFITUNE_RETURN_IF_ERROR(read_scalar(v.type, &v.scalar, ctx));
      }
      out.kv_.emplace(std::move(key), std::move(v));
    }
    return {};
  }

  template <typename T>
  Status read_as(std::variant<uint64_t, int64_t, double, bool, std::string>* out, const std::string& ctx) {
    T x{};
    EFFITUNE_RETURN_IF_ERROR(read(&x, ctx));
    if constexpr (std::is_floating_point_v<T>) {
      *out = static_cast<double>(x);
    } else if constexpr (std::is_signed_v<T>) {
      *out = static_cast<int64_t>(x);
    } else {
      *out = static_cast<uint64_t>(x);
    }
    return {};
  }

  Status read_scalar(GgufType t, std::variant<uint64_t, int64_t, double, bool, std::string>* out, const std::string& ctx) {
    switch (t) {
      case GgufType::kUint8: return read_as<uint8_t>(out, ctx);
      case GgufType::kInt8: return read_as<int8_t>(out, ctx);
      case GgufType::kUint16: return read_as<uint16_t>(out, ctx);
      case GgufType::kInt16: return read_as<int16_t>(out, ctx);
      case GgufType::kUint32: return read_as<uint32_t>(out, ctx);
      case GgufType::kInt32: return read_as<int32_t>(out, ctx);
      case GgufType::kUint64: return read_as<uint64_t>(out, ctx);
      case GgufType::kInt64: return read_as<int64_t>(out, ctx);
      case GgufType::kFloat32: return read_as<float>(out, ctx);
      case GgufType::kFloat64: return read_as<double>(out, ctx);
      case GgufType::kBool: {
        uint8_t b = 0;
        EFFITUNE_RETURN_IF_ERROR(read(&b, ctx));
        if (b > 1) return invalid(ctx + ": bool value " + std::to_string(b) + " is neither 0 nor 1");
        *out = b == 1;
        return {};
      }
      case GgufType::kString: {
        std::string s;
        EFFITUNE_RETURN_IF_ERROR(read_string(&s, ctx + " string", remaining()));
        *out = std::move(s);
        return {};
      }
      case GgufType::kArray: break;
    }
    return invalid(ctx + ": nested arrays are not supported");
  }

  Status read_array(GgufValue* v, const std::string& ctx) {
    uint32_t et = 0;
    EFFITUNE_RETURN_IF_ERROR(read(&et, ctx + " array element type"));
    if (!fmt::is_valid_type(et)) return invalid(ctx + ": invalid array element type " + std::to_string(et));
    v->array_type = static_cast<GgufType>(et);
    if (v->array_type == GgufType::kArray) return invalid(ctx + ": nested arrays are not supported");
    uint64_t n = 0;
    EFFITUNE_RETURN_IF_ERROR(read(&n, ctx + " array length"));
    const bool is_string = v->array_type == GgufType::kString;
    const uint64_t elem = is_string ? 8 : fmt::scalar_size(v->array_type);  // a string is at least its length
    if (n > remaining() / elem) {
      return data_loss(name_ + ": " + ctx + ": array of " + std::to_string(n) + " " + fmt::type_name(v->array_type) +
                       " needs at least " + (n > kInt64Max / elem ? std::string("2^63") : std::to_string(n * elem)) +
                       " bytes but only " + std::to_string(remaining()) + " remain (the file is truncated or corrupt)");
    }
    std::variant<uint64_t, int64_t, double, bool, std::string> x;
    if (is_string) {
      v->strings.reserve(n);
      for (uint64_t i = 0; i < n; ++i) {
        // Inlined read_string: context strings are built only on failure (vocabularies have 10^5 entries).
        uint64_t len = 0;
        if (remaining() < 8) return truncated(ctx + " element " + std::to_string(i) + " length", 8);
        std::memcpy(&len, p_ + pos_, 8);
        pos_ += 8;
        if (len > remaining()) return truncated(ctx + " element " + std::to_string(i) + " string of length " + std::to_string(len), len);
        v->strings.emplace_back(reinterpret_cast<const char*>(p_ + pos_), len);
        pos_ += len;
      }
    } else if (v->array_type == GgufType::kFloat32 || v->array_type == GgufType::kFloat64) {
      v->floats.reserve(n);
      for (uint64_t i = 0; i < n; ++i) {
        EFFITUNE_RETURN_IF_ERROR(read_scalar(v->array_type, &x, ctx));
        v->floats.push_back(std::get<double>(x));
      }
    } else {
      v->ints.reserve(n);
      for (uint64_t i = 0; i < n; ++i) {
        EFFITUNE_RETURN_IF_ERROR(read_scalar(v->array_type, &x, ctx));
        if (auto* u = std::get_if<uint64_t>(&x)) {
          if (*u > static_cast<uint64_t>(kInt64Max)) return invalid(ctx + " element " + std::to_string(i) + ": uint64 value exceeds 2^63-1");
          v->ints.push_back(static_cast<int64_t>(*u));
        } else if (auto* s = std::get_if<int64_t>(&x)) {
          v->ints.push_back(*s);
        } else {
          v->ints.push_back(std::get<bool>(x) ? 1 : 0);
        }
      }
    }
    return {};
  }

  Status parse_alignment(GgufFile& out) {
    out.alignment_ = fmt::kDefaultAlignment;
    auto it = out.kv_.find(fmt::kAlignmentKey);
    if (it == out.kv_.end()) return {};
    if (it->second.type != GgufType::kUint32) {
      return invalid(std::string("key '") + fmt::kAlignmentKey + "' must be a uint32, not " + fmt::type_name(it->second.type));
    }
    const uint64_t a = std::get<uint64_t>(it->second.scalar);
    if (a == 0 || !std::has_single_bit(a)) {
      return invalid(std::string("key '") + fmt::kAlignmentKey + "' is " + std::to_string(a) + "; it must be a power of two > 0");
    }
    out.alignment_ = a;
    return {};
  }

  Status parse_tensor_infos(GgufFile& out) {
    std::unordered_set<std::string> names;
    out.tensors_.reserve(n_tensors_);
    for (uint64_t i = 0; i < n_tensors_; ++i) {
      GgufTensorInfo ti;
      EFFITUNE_RETURN_IF_ERROR(read_string(&ti.name, "tensor #" + std::to_string(i) + " name", fmt::kMaxTensorNameBytes));
      if (ti.name.empty()) return invalid("tensor #" + std::to_string(i) + " has an empty name");
      if (!names.insert(ti.name).second) return invalid("duplicate tensor name '" + ti.name + "'");
      const std::string ctx = "tensor '" + ti.name + "'";
      uint32_t n_dims = 0;
      EFFITUNE_RETURN_IF_ERROR(read(&n_dims, ctx + " n_dims"));
      if (n_dims < 1 || n_dims > fmt::kMaxDims) {
        return invalid(ctx + ": n_dims is " + std::to_string(n_dims) + " (expected 1.." + std::to_string(fmt::kMaxDims) + ")");
      }
      int64_t n_elements = 1;
      for (uint32_t d = 0; d < n_dims; ++d) {
        uint64_t ne = 0;
        EFFITUNE_RETURN_IF_ERROR(read(&ne, ctx + " dimension " + std::to_string(d)));
        if (ne == 0 || ne > static_cast<uint64_t>(kInt64Max)) {
          return invalid(ctx + ": dimension " + std::to_string(d) + " is " + std::to_string(ne) + " (expected 1..2^63-1)");
        }
        if (static_cast<int64_t>(ne) > kInt64Max / n_elements) return invalid(ctx + ": the element count overflows 64 bits");
        n_elements *= static_cast<int64_t>(ne);
        ti.ne.push_back(static_cast<int64_t>(ne));
      }
      uint32_t type = 0;
      EFFITUNE_RETURN_IF_ERROR(read(&type, ctx + " type"));
      if (!dtype_supported(type)) {
        if (type < fmt::kGgmlTypeCount) {
          return unimplemented(name_ + ": " + ctx + " has type " + fmt::ggml_type_name(type) + " (" + std::to_string(type) +
                               "), which this engine does not support; requantize to f32, f16, bf16, q8_0, q4_0 or q4_K");
        }
        return invalid(ctx + ": invalid tensor type " + std::to_string(type));
      }
      ti.type = static_cast<DType>(type);
      const int64_t block = dtype_block_elems(ti.type);
      if (ti.ne[0] % block != 0) {
        return invalid(ctx + ": row length " + std::to_string(ti.ne[0]) + " is not a multiple of the " +
                       std::string(dtype_name(ti.type)) + " block size " + std::to_string(block));
      }
      const int64_t n_blocks = n_elements / block;
      if (n_blocks > kInt64Max / dtype_block_bytes(ti.type)) return invalid(ctx + ": the byte size overflows 64 bits");
      ti.n_elements = n_elements;
      ti.n_bytes = n_blocks * dtype_block_bytes(ti.type);
      EFFITUNE_RETURN_IF_ERROR(read(&ti.offset, ctx + " offset"));
      if (ti.offset % out.alignment_ != 0) {
        return invalid(ctx + ": offset " + std::to_string(ti.offset) + " is not aligned to " + std::to_string(out.alignment_));
      }
      out.tensors_.push_back(std::move(ti));
    }
    return {};
  }

  Status place_tensor_data(GgufFile& out) {
    // pos_ <= size_ < 2^63 and alignment <= 2^31, so this cannot overflow.
    const uint64_t data_start = (pos_ + out.alignment_ - 1) / out.alignment_ * out.alignment_;
    const uint64_t data_size = data_start <= size_ ? size_ - data_start : 0;
    for (auto& ti : out.tensors_) {
      const uint64_t nb = static_cast<uint64_t>(ti.n_bytes);
      if (ti.offset > data_size || nb > data_size - ti.offset) {
        return data_loss(name_ + ": tensor '" + ti.name + "': data at offset " + std::to_string(ti.offset) + " of " +
                         std::to_string(nb) + " bytes extends past the end of the " + std::to_string(data_size) +
                         "-byte data section (the file is truncated or the offset is corrupt)");
      }
      ti.data = p_ + data_start + ti.offset;
    }
    std::vector<size_t> order(out.tensors_.size());
    std::iota(order.begin(), order.end(), size_t{0});
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return out.tensors_[a].offset < out.tensors_[b].offset; });
    for (size_t k = 1; k < order.size(); ++k) {
      const auto& prev = out.tensors_[order[k - 1]];
      const auto& cur = out.tensors_[order[k]];
      if (prev.offset + static_cast<uint64_t>(prev.n_bytes) > cur.offset) {
        return invalid("tensor '" + cur.name + "' at offset " + std::to_string(cur.offset) + " overlaps tensor '" +
                       prev.name + "' (offset " + std::to_string(prev.offset) + ", " + std::to_string(prev.n_bytes) + " bytes)");
      }
    }
    return {};
  }

  const uint8_t* p_;
  uint64_t size_;
  const std::string& name_;
  uint64_t pos_ = 0;
  uint64_t n_tensors_ = 0;
  uint64_t n_kv_ = 0;
};

namespace {

Result<std::unique_ptr<GgufFile>> parse_mapping(std::unique_ptr<GgufFile> file, const uint8_t* data, size_t size) {
  try {
    GgufParser parser(data, size, file->path());
    EFFITUNE_RETURN_IF_ERROR(parser.parse(*file));
    return file;
  } catch (const std::bad_alloc&) {
    return resource_exhausted(file->path() + ": out of memory while reading the GGUF metadata");
  }
}

}  // namespace

GgufFile::~GgufFile() = default;

Result<std::unique_ptr<GgufFile>> GgufFile::parse(const void* data, size_t size, const std::string& name) {
  std::unique_ptr<GgufFile> file(new GgufFile());
  file->path_ = name;
  // A 64-byte aligned copy so that f32 tensor data is as aligned as it would be in a mapping.
  constexpr std::align_val_t kAlign{64};
  void* buf = ::operator new(size > 0 ? size : 1, kAlign, std::nothrow);
  if (buf == nullptr) return resource_exhausted(name + ": cannot allocate " + std::to_string(size) + " bytes");
  if (size > 0) std::memcpy(buf, data, size);
  file->mapping_ = std::shared_ptr<const void>(buf, [kAlign](const void* p) { ::operator delete(const_cast<void*>(p), kAlign); });
  const auto* bytes = static_cast<const uint8_t*>(buf);
  return parse_mapping(std::move(file), bytes, size);
}

Result<std::unique_ptr<GgufFile>> GgufFile::open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return not_found(path + ": cannot open (" + std::strerror(errno) + ")");
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return invalid_argument(path + ": not a regular file");
  }
  const size_t size = static_cast<size_t>(st.st_size);
  if (size == 0) {
    ::close(fd);
    return data_loss(path + ": the file is empty");
  }
  void* addr = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  const int map_errno = errno;
  ::close(fd);  // the mapping stays valid without the descriptor
  if (addr == MAP_FAILED) return resource_exhausted(path + ": mmap failed (" + std::strerror(map_errno) + ")");
  std::unique_ptr<GgufFile> file(new GgufFile());
  file->path_ = path;
  file->mapping_ = std::shared_ptr<const void>(addr, [size](const void* p) { ::munmap(const_cast<void*>(p), size); });
  return parse_mapping(std::move(file), static_cast<const uint8_t*>(addr), size);
}

const GgufValue* GgufFile::find(std::string_view key) const {
  auto it = kv_.find(std::string(key));
  return it == kv_.end() ? nullptr : &it->second;
}

const GgufTensorInfo* GgufFile::find_tensor(std::string_view name) const {
  for (const auto& t : tensors_) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

std::optional<int64_t> GgufValue::as_int() const {
  if (type == GgufType::kArray) return std::nullopt;
  if (auto* u = std::get_if<uint64_t>(&scalar)) {
    if (*u > static_cast<uint64_t>(kInt64Max)) return std::nullopt;
    return static_cast<int64_t>(*u);
  }
  if (auto* s = std::get_if<int64_t>(&scalar)) return *s;
  if (auto* b = std::get_if<bool>(&scalar)) return *b ? 1 : 0;
  return std::nullopt;
}

std::optional<double> GgufValue::as_float() const {
  if (type == GgufType::kArray) return std::nullopt;
  if (auto* d = std::get_if<double>(&scalar)) return *d;
  if (auto* u = std::get_if<uint64_t>(&scalar)) return static_cast<double>(*u);
  if (auto* s = std::get_if<int64_t>(&scalar)) return static_cast<double>(*s);
  return std::nullopt;
}

std::optional<std::string> GgufValue::as_string() const {
  if (type != GgufType::kString) return std::nullopt;
  return std::get<std::string>(scalar);
}

std::optional<bool> GgufValue::as_bool() const {
  if (type != GgufType::kBool) return std::nullopt;
  return std::get<bool>(scalar);
}

}  // namespace effitune::engine
