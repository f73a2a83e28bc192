// Builds GGUF images byte by byte, independently of GgufWriter, so reader tests can craft valid and
// malformed files field by field.
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

namespace effitune::engine::test_image {

class Bytes {
 public:
  template <typename T>
  Bytes& put(T v) {
    const auto* p = reinterpret_cast<const uint8_t*>(&v);
    b_.insert(b_.end(), p, p + sizeof(T));
    return *this;
  }
  Bytes& u32(uint32_t v) { return put(v); }
  Bytes& u64(uint64_t v) { return put(v); }
  Bytes& str(const std::string& s) {
    u64(s.size());
    b_.insert(b_.end(), s.begin(), s.end());
    return *this;
  }
  Bytes& raw(const std::vector<uint8_t>& r) {
    b_.insert(b_.end(), r.begin(), r.end());
    return *this;
  }
  Bytes& pad(uint64_t alignment) {
    while (b_.size() % alignment) b_.push_back(0);
    return *this;
  }
  const std::vector<uint8_t>& bytes() const { return b_; }
  size_t size() const { return b_.size(); }

 private:
  std::vector<uint8_t> b_;
};

// One encoded metadata pair: key, type and value bytes.
inline std::vector<uint8_t> kv_raw(const std::string& key, uint32_t type, const std::vector<uint8_t>& value) {
  Bytes b;
  b.str(key).u32(type).raw(value);
  return b.bytes();
}
inline std::vector<uint8_t> kv_u32(const std::string& key, uint32_t v) { return kv_raw(key, 4, Bytes().u32(v).bytes()); }
inline std::vector<uint8_t> kv_str(const std::string& key, const std::string& v) { return kv_raw(key, 8, Bytes().str(v).bytes()); }

struct TensorSpec {
  std::string name;
  std::vector<uint64_t> ne;
  uint32_t type = 0;  // f32
  uint64_t offset = 0;
  std::optional<uint32_t> n_dims;  // defaults to ne.size()
};

struct ImageSpec {
  uint32_t magic = 0x46554747;
  uint32_t version = 3;
  std::optional<uint64_t> n_tensors;  // defaults to tensors.size()
  std::optional<uint64_t> n_kv;       // defaults to kvs.size()
  std::vector<std::vector<uint8_t>> kvs;
  std::vector<TensorSpec> tensors;
  uint64_t alignment = 32;  // where the data section starts (the file declares it separately)
  uint64_t data_bytes = 0;  // bytes of data section written (a counting pattern)
};

inline std::vector<uint8_t> build(const ImageSpec& s) {
  Bytes b;
  b.u32(s.magic).u32(s.version).u64(s.n_tensors.value_or(s.tensors.size())).u64(s.n_kv.value_or(s.kvs.size()));
  for (const auto& kv : s.kvs) b.raw(kv);
  for (const auto& t : s.tensors) {
    b.str(t.name).u32(t.n_dims.value_or(static_cast<uint32_t>(t.ne.size())));
    for (uint64_t d : t.ne) b.u64(d);
    b.u32(t.type).u64(t.offset);
  }
  if (s.data_bytes > 0) {
    b.pad(s.alignment);
    for (uint64_t i = 0; i < s.data_bytes; ++i) b.put(static_cast<uint8_t>(i));
  }
  return b.bytes();
}

// A small valid file: several value types and two f32 tensors ([8] and [8, 2]) whose data ends the
// file exactly (the second tensor's 64 bytes are a multiple of the alignment, so no trailing pad).
inline ImageSpec small_valid_spec() {
  ImageSpec s;
  s.kvs.push_back(kv_str("general.architecture", "llama"));
  s.kvs.push_back(kv_u32("llama.block_count", 1));
  s.kvs.push_back(kv_raw("some.float", 6, Bytes().put(1.5f).bytes()));
  s.kvs.push_back(kv_raw("some.bool", 7, Bytes().put<uint8_t>(1).bytes()));
  s.kvs.push_back(kv_raw("some.i32_array", 9, Bytes().u32(5).u64(3).put<int32_t>(-1).put<int32_t>(0).put<int32_t>(7).bytes()));
  s.kvs.push_back(kv_raw("some.str_array", 9, Bytes().u32(8).u64(2).str("a").str("bc").bytes()));
  s.tensors.push_back({"a", {8}, 0, 0, std::nullopt});
  s.tensors.push_back({"b", {8, 2}, 0, 32, std::nullopt});
  s.data_bytes = 32 + 64;
  return s;
}

}  // namespace effitune::engine::test_image
