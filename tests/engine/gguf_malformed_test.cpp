// Malformed GGUF images (after llama.cpp's tests/test-gguf.cpp and CVE-2024-23496, CVE-2025-53630):
// each must give a clear error, never a crash, an abort or a huge allocation.
#include <gtest/gtest.h>

#include <limits>

#include "effitune/engine/gguf.h"
#include "gguf_test_image.h"

namespace effitune::engine {
namespace {

namespace ti = test_image;
using ti::Bytes;

constexpr uint64_t kHuge = std::numeric_limits<uint64_t>::max();

Status parse_spec(const ti::ImageSpec& s) {
  auto bytes = ti::build(s);
  auto r = GgufFile::parse(bytes.data(), bytes.size(), "bad.gguf");
  return r.status();
}

// Expects an error of `code` whose message names the file and contains `needle`.
void expect_error(const ti::ImageSpec& s, StatusCode code, const std::string& needle) {
  Status st = parse_spec(s);
  ASSERT_FALSE(st.ok()) << "expected an error mentioning '" << needle << "'";
  EXPECT_EQ(st.code(), code) << st.to_string();
  EXPECT_NE(st.message().find("bad.gguf"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find(needle), std::string::npos) << st.message();
}

TEST(GgufMalformed, ValidBaselineParses) { EXPECT_TRUE(parse_spec(ti::small_valid_spec()).ok()); }

TEST(GgufMalformed, BadMagic) {
  auto s = ti::small_valid_spec();
  s.magic = 0x46554746;
  expect_error(s, StatusCode::kInvalidArgument, "not a GGUF file");
}

TEST(GgufMalformed, BadVersions) {
  auto s = ti::small_valid_spec();
  s.version = 1;
  expect_error(s, StatusCode::kInvalidArgument, "v1 is not supported");
  s.version = 4;
  expect_error(s, StatusCode::kInvalidArgument, "unsupported GGUF version 4");
  s.version = 0x03000000;  // a big-endian file
  expect_error(s, StatusCode::kInvalidArgument, "big-endian");
  s.version = 0;
  expect_error(s, StatusCode::kInvalidArgument, "unsupported GGUF version 0");
}

TEST(GgufMalformed, HugeCounts) {
  auto s = ti::small_valid_spec();
  s.n_kv = kHuge;
  expect_error(s, StatusCode::kDataLoss, "metadata entries");
  s = ti::small_valid_spec();
  s.n_tensors = kHuge / 2;
  expect_error(s, StatusCode::kDataLoss, "cannot fit");
  s = ti::small_valid_spec();
  s.n_kv = 1000;  // plausible-looking but more than the file can hold
  expect_error(s, StatusCode::kDataLoss, "cannot fit");
}

TEST(GgufMalformed, HugeStringAndArrayLengths) {
  auto s = ti::small_valid_spec();
  s.kvs[0] = Bytes().u64(kHuge).bytes();  // key length
  expect_error(s, StatusCode::kDataLoss, "metadata entry #0 key");
  s = ti::small_valid_spec();
  s.kvs[0] = ti::kv_raw("general.architecture", 8, Bytes().u64(1ull << 40).bytes());
  expect_error(s, StatusCode::kDataLoss, "general.architecture");
  s = ti::small_valid_spec();
  s.kvs[4] = ti::kv_raw("some.i32_array", 9, Bytes().u32(5).u64(kHuge).bytes());
  expect_error(s, StatusCode::kDataLoss, "some.i32_array");
  s = ti::small_valid_spec();
  s.kvs[5] = ti::kv_raw("some.str_array", 9, Bytes().u32(8).u64(kHuge / 8).bytes());
  expect_error(s, StatusCode::kDataLoss, "some.str_array");
  s = ti::small_valid_spec();
  s.kvs[5] = ti::kv_raw("some.str_array", 9, Bytes().u32(8).u64(2).str("a").u64(kHuge).bytes());
  expect_error(s, StatusCode::kDataLoss, "some.str_array' element 1");
  s = ti::small_valid_spec();
  s.tensors[0].name = std::string(300, 'x');
  expect_error(s, StatusCode::kInvalidArgument, "tensor #0 name is 300 bytes long");
}

TEST(GgufMalformed, InvalidValueTypes) {
  auto s = ti::small_valid_spec();
  s.kvs[1] = ti::kv_raw("llama.block_count", 13, Bytes().u32(1).bytes());
  expect_error(s, StatusCode::kInvalidArgument, "key 'llama.block_count': invalid value type 13");
  s.kvs[1] = ti::kv_raw("llama.block_count", 0xFFFFFFFF, Bytes().u32(1).bytes());
  expect_error(s, StatusCode::kInvalidArgument, "invalid value type");
  s = ti::small_valid_spec();
  s.kvs[4] = ti::kv_raw("some.i32_array", 9, Bytes().u32(9).u64(1).u32(5).u64(0).bytes());
  expect_error(s, StatusCode::kInvalidArgument, "nested arrays");
  s.kvs[4] = ti::kv_raw("some.i32_array", 9, Bytes().u32(77).u64(1).u32(5).bytes());
  expect_error(s, StatusCode::kInvalidArgument, "invalid array element type 77");
  s = ti::small_valid_spec();
  s.kvs[3] = ti::kv_raw("some.bool", 7, Bytes().put<uint8_t>(2).bytes());
  expect_error(s, StatusCode::kInvalidArgument, "neither 0 nor 1");
  s = ti::small_valid_spec();
  s.kvs[4] = ti::kv_raw("some.u64_array", 9, Bytes().u32(10).u64(1).u64(kHuge).bytes());
  expect_error(s, StatusCode::kInvalidArgument, "exceeds 2^63-1");
  s = ti::small_valid_spec();
  s.kvs[0] = ti::kv_str("", "x");
  expect_error(s, StatusCode::kInvalidArgument, "empty key");
}

TEST(GgufMalformed, DuplicateKeyAndTensorName) {
  auto s = ti::small_valid_spec();
  s.kvs.push_back(ti::kv_u32("llama.block_count", 2));
  expect_error(s, StatusCode::kInvalidArgument, "duplicate metadata key 'llama.block_count'");
  s = ti::small_valid_spec();
  s.tensors[1].name = "a";
  expect_error(s, StatusCode::kInvalidArgument, "duplicate tensor name 'a'");
}

TEST(GgufMalformed, BadAlignmentValues) {
  for (uint32_t a : {0u, 3u, 48u, 0x80000001u}) {
    auto s = ti::small_valid_spec();
    s.kvs.push_back(ti::kv_u32("general.alignment", a));
    expect_error(s, StatusCode::kInvalidArgument, "power of two");
  }
  auto s = ti::small_valid_spec();
  s.kvs.push_back(ti::kv_str("general.alignment", "32"));
  expect_error(s, StatusCode::kInvalidArgument, "must be a uint32");
}

TEST(GgufMalformed, BadTensorTypes) {
  auto s = ti::small_valid_spec();
  s.tensors[0].type = 14;  // q6_K: a real ggml type this engine does not run
  expect_error(s, StatusCode::kUnimplemented, "tensor 'a' has type q6_K");
  s.tensors[0].type = 1000;
  expect_error(s, StatusCode::kInvalidArgument, "tensor 'a': invalid tensor type 1000");
  s.tensors[0].type = 8;  // q8_0 with a row of 8 elements: not a whole block
  expect_error(s, StatusCode::kInvalidArgument, "not a multiple of the q8_0 block size 32");
}

TEST(GgufMalformed, BadDimensions) {
  auto s = ti::small_valid_spec();
  s.tensors[0].ne = {};
  expect_error(s, StatusCode::kInvalidArgument, "tensor 'a': n_dims is 0");
  s = ti::small_valid_spec();
  s.tensors[0].ne = {1, 1, 1, 1, 8};
  expect_error(s, StatusCode::kInvalidArgument, "n_dims is 5");
  s = ti::small_valid_spec();
  s.tensors[0].n_dims = 0xFFFFFFFF;
  expect_error(s, StatusCode::kInvalidArgument, "n_dims is 4294967295");
  s = ti::small_valid_spec();
  s.tensors[1].ne = {8, 0};
  expect_error(s, StatusCode::kInvalidArgument, "tensor 'b': dimension 1 is 0");
  s = ti::small_valid_spec();
  s.tensors[1].ne = {8, kHuge};
  expect_error(s, StatusCode::kInvalidArgument, "dimension 1 is");
  s = ti::small_valid_spec();
  s.tensors[1].ne = {1ull << 32, 1ull << 32};
  expect_error(s, StatusCode::kInvalidArgument, "element count overflows");
  s = ti::small_valid_spec();
  s.tensors[1].ne = {1ull << 31, 1ull << 31};  // 2^62 elements: count fits, bytes (x4) overflow
  expect_error(s, StatusCode::kInvalidArgument, "byte size overflows");
  s = ti::small_valid_spec();
  s.tensors[1].ne = {1ull << 20, 1ull << 20};  // fits 64 bits but not the file
  expect_error(s, StatusCode::kDataLoss, "tensor 'b': data at offset 32");
}

TEST(GgufMalformed, BadOffsets) {
  auto s = ti::small_valid_spec();
  s.tensors[1].offset = 33;
  expect_error(s, StatusCode::kInvalidArgument, "tensor 'b': offset 33 is not aligned to 32");
  s.tensors[1].offset = 1ull << 40;
  expect_error(s, StatusCode::kDataLoss, "extends past the end");
  s.tensors[1].offset = kHuge - 31;  // aligned, and offset + size overflows 64 bits
  expect_error(s, StatusCode::kDataLoss, "extends past the end");
  s.tensors[1].offset = 64;  // 64 + 64 > 96 bytes of data
  expect_error(s, StatusCode::kDataLoss, "extends past the end");
}

TEST(GgufMalformed, OverlappingTensors) {
  auto s = ti::small_valid_spec();
  s.tensors[1].offset = 0;
  expect_error(s, StatusCode::kInvalidArgument, "overlaps tensor");
  s = ti::small_valid_spec();
  s.tensors[0].ne = {16};  // 64 bytes from 0 runs into b at 32
  expect_error(s, StatusCode::kInvalidArgument, "overlaps");
}

TEST(GgufMalformed, TruncationAtEveryByteIsAnError) {
  const auto bytes = ti::build(ti::small_valid_spec());
  ASSERT_TRUE(GgufFile::parse(bytes.data(), bytes.size(), "full.gguf").ok());
  for (size_t n = 0; n < bytes.size(); ++n) {
    // A fresh heap copy of exactly n bytes so ASan flags any read past the end.
    std::vector<uint8_t> cut(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(n));
    auto r = GgufFile::parse(cut.data(), cut.size(), "cut.gguf");
    ASSERT_FALSE(r.ok()) << "truncated at " << n << " of " << bytes.size() << " bytes";
    EXPECT_EQ(r.status().code(), StatusCode::kDataLoss) << n << ": " << r.status().to_string();
  }
}

TEST(GgufMalformed, EmptyAndTinyInputs) {
  EXPECT_FALSE(GgufFile::parse(nullptr, 0, "empty.gguf").ok());
  const uint8_t magic[4] = {'G', 'G', 'U', 'F'};
  EXPECT_EQ(GgufFile::parse(magic, 4, "m.gguf").status().code(), StatusCode::kDataLoss);
}

}  // namespace
}  // namespace effitune::engine
