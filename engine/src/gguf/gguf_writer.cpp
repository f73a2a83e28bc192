// GGUF v3 writer. Layout as ggml's gguf_write_to_file and gguf-py: header, metadata, tensor infos,
// padding to the alignment, then each tensor's data padded to the alignment (the last one too).
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "effitune/engine/gguf.h"
#include "gguf/gguf_format.h"

namespace effitune::engine {
namespace {

namespace fmt = gguf_format;

uint64_t pad_to(uint64_t n, uint64_t alignment) { return (n + alignment - 1) / alignment * alignment; }

class Buffer {
 public:
  template <typename T>
  void put(T v) {
    const auto* p = reinterpret_cast<const uint8_t*>(&v);
    bytes_.insert(bytes_.end(), p, p + sizeof(T));
  }
  void put_string(const std::string& s) {
    put<uint64_t>(s.size());
    bytes_.insert(bytes_.end(), s.begin(), s.end());
  }
  void put_scalar(GgufType t, const std::variant<uint64_t, int64_t, double, bool, std::string>& v) {
    auto as_u = [&] { return std::holds_alternative<uint64_t>(v) ? std::get<uint64_t>(v) : static_cast<uint64_t>(as_i_of(v)); };
    switch (t) {
      case GgufType::kUint8: put<uint8_t>(static_cast<uint8_t>(as_u())); return;
      case GgufType::kInt8: put<int8_t>(static_cast<int8_t>(as_i_of(v))); return;
      case GgufType::kUint16: put<uint16_t>(static_cast<uint16_t>(as_u())); return;
      case GgufType::kInt16: put<int16_t>(static_cast<int16_t>(as_i_of(v))); return;
      case GgufType::kUint32: put<uint32_t>(static_cast<uint32_t>(as_u())); return;
      case GgufType::kInt32: put<int32_t>(static_cast<int32_t>(as_i_of(v))); return;
      case GgufType::kUint64: put<uint64_t>(as_u()); return;
      case GgufType::kInt64: put<int64_t>(as_i_of(v)); return;
      case GgufType::kFloat32: put<float>(static_cast<float>(as_f_of(v))); return;
      case GgufType::kFloat64: put<double>(as_f_of(v)); return;
      case GgufType::kBool: put<uint8_t>(std::holds_alternative<bool>(v) ? std::get<bool>(v) : as_i_of(v) != 0); return;
      case GgufType::kString: put_string(std::holds_alternative<std::string>(v) ? std::get<std::string>(v) : std::string()); return;
      case GgufType::kArray: break;
    }
    EFFITUNE_CHECK(false, "GgufWriter: a scalar cannot be an array");
  }
  void put_value(const GgufValue& v) {
    put<uint32_t>(static_cast<uint32_t>(v.type));
    if (v.type != GgufType::kArray) {
      put_scalar(v.type, v.scalar);
      return;
    }
    EFFITUNE_CHECK(v.array_type != GgufType::kArray, "GgufWriter: nested arrays are not part of GGUF");
    put<uint32_t>(static_cast<uint32_t>(v.array_type));
    if (v.array_type == GgufType::kString) {
      put<uint64_t>(v.strings.size());
      for (const auto& s : v.strings) put_string(s);
    } else if (v.array_type == GgufType::kFloat32 || v.array_type == GgufType::kFloat64) {
      put<uint64_t>(v.floats.size());
      for (double f : v.floats) put_scalar(v.array_type, f);
    } else {
      put<uint64_t>(v.ints.size());
      for (int64_t i : v.ints) {
        if (v.array_type == GgufType::kBool) {
          put_scalar(v.array_type, i != 0);
        } else {
          put_scalar(v.array_type, i);
        }
      }
    }
  }
  void pad(uint64_t alignment) { bytes_.resize(pad_to(bytes_.size(), alignment), 0); }
  const std::vector<uint8_t>& bytes() const { return bytes_; }

 private:
  static int64_t as_i_of(const std::variant<uint64_t, int64_t, double, bool, std::string>& v) {
    if (auto* s = std::get_if<int64_t>(&v)) return *s;
    if (auto* u = std::get_if<uint64_t>(&v)) return static_cast<int64_t>(*u);
    if (auto* b = std::get_if<bool>(&v)) return *b;
    if (auto* d = std::get_if<double>(&v)) return static_cast<int64_t>(*d);
    return 0;
  }
  static double as_f_of(const std::variant<uint64_t, int64_t, double, bool, std::string>& v) {
    if (auto* d = std::get_if<double>(&v)) return *d;
    return static_cast<double>(as_i_of(v));
  }
  std::vector<uint8_t> bytes_;
};

GgufValue scalar_value(GgufType t, std::variant<uint64_t, int64_t, double, bool, std::string> s) {
  GgufValue v;
  v.type = t;
  v.scalar = std::move(s);
  return v;
}

GgufValue array_value(GgufType et) {
  GgufValue v;
  v.type = GgufType::kArray;
  v.array_type = et;
  return v;
}

}  // namespace

void GgufWriter::set_value(const std::string& key, const GgufValue& v) {
  for (auto& kv : kv_) {
    if (kv.key == key) {
      kv.value = v;
      return;
    }
  }
  kv_.push_back({key, v});
}

void GgufWriter::set_u32(const std::string& key, uint32_t v) { set_value(key, scalar_value(GgufType::kUint32, uint64_t{v})); }
void GgufWriter::set_i32(const std::string& key, int32_t v) { set_value(key, scalar_value(GgufType::kInt32, int64_t{v})); }
void GgufWriter::set_f32(const std::string& key, float v) { set_value(key, scalar_value(GgufType::kFloat32, double{v})); }
void GgufWriter::set_bool(const std::string& key, bool v) { set_value(key, scalar_value(GgufType::kBool, v)); }
void GgufWriter::set_string(const std::string& key, const std::string& v) { set_value(key, scalar_value(GgufType::kString, v)); }

void GgufWriter::set_string_array(const std::string& key, const std::vector<std::string>& v) {
  GgufValue a = array_value(GgufType::kString);
  a.strings = v;
  set_value(key, a);
}

void GgufWriter::set_f32_array(const std::string& key, const std::vector<float>& v) {
  GgufValue a = array_value(GgufType::kFloat32);
  a.floats.assign(v.begin(), v.end());
  set_value(key, a);
}

void GgufWriter::set_i32_array(const std::string& key, const std::vector<int32_t>& v) {
  GgufValue a = array_value(GgufType::kInt32);
  a.ints.assign(v.begin(), v.end());
  set_value(key, a);
}

void GgufWriter::add_tensor(const std::string& name, DType type, const std::vector<int64_t>& ne, const void* data,
                            size_t bytes) {
  EFFITUNE_CHECK(!ne.empty() && ne.size() <= fmt::kMaxDims, "GgufWriter: tensor '" + name + "' needs 1..4 dims");
  int64_t n = 1;
  for (int64_t d : ne) n *= d;
  EFFITUNE_CHECK(n % dtype_block_elems(type) == 0 && static_cast<size_t>(dtype_row_bytes(type, n)) == bytes,
                 "GgufWriter: tensor '" + name + "' has " + std::to_string(bytes) + " bytes, which does not match its shape");
  const auto* p = static_cast<const uint8_t*>(data);
  tensors_.push_back({name, type, ne, std::vector<uint8_t>(p, p + bytes)});
}

Status GgufWriter::write(const std::string& path) const {
  EFFITUNE_CHECK(alignment_ > 0 && (alignment_ & (alignment_ - 1)) == 0, "GgufWriter: alignment must be a power of two");
  std::vector<Kv> kvs = kv_;
  bool has_alignment = false;
  for (const auto& kv : kvs) has_alignment |= kv.key == fmt::kAlignmentKey;
  if (!has_alignment && alignment_ != fmt::kDefaultAlignment) {
    kvs.push_back({fmt::kAlignmentKey, scalar_value(GgufType::kUint32, alignment_)});
  }
  Buffer head;
  head.put<uint32_t>(fmt::kMagic);
  head.put<uint32_t>(3);
  head.put<uint64_t>(tensors_.size());
  head.put<uint64_t>(kvs.size());
  for (const auto& kv : kvs) {
    head.put_string(kv.key);
    head.put_value(kv.value);
  }
  uint64_t offset = 0;
  for (const auto& t : tensors_) {
    head.put_string(t.name);
    head.put<uint32_t>(static_cast<uint32_t>(t.ne.size()));
    for (int64_t d : t.ne) head.put<uint64_t>(static_cast<uint64_t>(d));
    head.put<uint32_t>(static_cast<uint32_t>(t.type));
    head.put<uint64_t>(offset);
    offset += pad_to(t.data.size(), alignment_);
  }
  head.pad(alignment_);

  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (f == nullptr) return unavailable(tmp + ": cannot create (" + std::strerror(errno) + ")");
  bool ok = std::fwrite(head.bytes().data(), 1, head.bytes().size(), f) == head.bytes().size();
  static const uint8_t kZeros[256] = {};
  for (const auto& t : tensors_) {
    if (!ok) break;
    ok = std::fwrite(t.data.data(), 1, t.data.size(), f) == t.data.size();
    for (uint64_t left = pad_to(t.data.size(), alignment_) - t.data.size(); ok && left > 0;) {
      const size_t n = left < sizeof(kZeros) ? left : sizeof(kZeros);
      ok = std::fwrite(kZeros, 1, n, f) == n;
      left -= n;
    }
  }
  const int err = errno;
  ok = (std::fclose(f) == 0) && ok;
  if (!ok) {
    std::remove(tmp.c_str());
    return unavailable(tmp + ": write failed (" + std::strerror(err) + ")");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int rerr = errno;
    std::remove(tmp.c_str());
    return unavailable(path + ": cannot rename the temporary file into place (" + std::strerror(rerr) + ")");
  }
  return {};
}

}  // namespace effitune::engine
