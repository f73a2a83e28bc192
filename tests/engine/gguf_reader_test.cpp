// GGUF reader on real files (llama.cpp's vocabulary GGUFs), hand-built images, and writer round trips.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "effitune/engine/gguf.h"
#include "gguf_test_image.h"
#include "support/paths.h"

namespace effitune::engine {
namespace {

namespace ti = test_image;

std::unique_ptr<GgufFile> open_or_die(const std::string& path) {
  auto r = GgufFile::open(path);
  EXPECT_TRUE(r.ok()) << r.status().to_string();
  return r.ok() ? std::move(r).value() : nullptr;
}

TEST(GgufReader, ReadsLlamaSpmVocabulary) {
  auto f = open_or_die(testing::tokenizer_dir() + "/ggml-vocab-llama-spm.gguf");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->version(), 3u);
  EXPECT_EQ(f->alignment(), 32u);
  EXPECT_EQ(f->metadata().size(), 22u);
  EXPECT_TRUE(f->tensors().empty());
  EXPECT_EQ(f->find("general.architecture")->as_string(), "llama");
  EXPECT_EQ(f->find("tokenizer.ggml.model")->as_string(), "llama");
  EXPECT_EQ(f->find("llama.vocab_size")->as_int(), 32000);
  EXPECT_EQ(f->find("llama.embedding_length")->type, GgufType::kUint32);
  EXPECT_FLOAT_EQ(static_cast<float>(*f->find("llama.attention.layer_norm_rms_epsilon")->as_float()), 1e-5f);
  EXPECT_EQ(f->find("tokenizer.ggml.add_bos_token")->as_bool(), true);
  EXPECT_EQ(f->find("tokenizer.ggml.add_eos_token")->as_bool(), false);
  const GgufValue* tokens = f->find("tokenizer.ggml.tokens");
  ASSERT_NE(tokens, nullptr);
  EXPECT_EQ(tokens->type, GgufType::kArray);
  EXPECT_EQ(tokens->array_type, GgufType::kString);
  ASSERT_EQ(tokens->strings.size(), 32000u);
  EXPECT_EQ(tokens->strings[0], "<unk>");
  EXPECT_EQ(tokens->strings[1], "<s>");
  EXPECT_EQ(tokens->strings[2], "</s>");
  EXPECT_EQ(f->find("tokenizer.ggml.scores")->floats.size(), 32000u);
  const GgufValue* types = f->find("tokenizer.ggml.token_type");
  EXPECT_EQ(types->array_type, GgufType::kInt32);
  ASSERT_EQ(types->ints.size(), 32000u);
  EXPECT_EQ(types->ints[0], 2);  // unknown
  EXPECT_EQ(types->ints[1], 3);  // control
  EXPECT_EQ(f->find("no.such.key"), nullptr);
  EXPECT_FALSE(tokens->as_int().has_value());
}

TEST(GgufReader, ReadsGpt2Vocabulary) {
  auto f = open_or_die(testing::tokenizer_dir() + "/ggml-vocab-gpt-2.gguf");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->metadata().size(), 16u);
  EXPECT_EQ(f->find("general.architecture")->as_string(), "gpt2");
  EXPECT_EQ(f->find("tokenizer.ggml.model")->as_string(), "gpt2");
  EXPECT_EQ(f->find("tokenizer.ggml.pre")->as_string(), "gpt-2");
  EXPECT_EQ(f->find("tokenizer.ggml.tokens")->strings.size(), 50257u);
  EXPECT_EQ(f->find("tokenizer.ggml.tokens")->strings[0], "!");
  EXPECT_EQ(f->find("tokenizer.ggml.merges")->strings.size(), 50000u);
  EXPECT_EQ(f->find("tokenizer.ggml.merges")->strings[0], "\xC4\xA0 t");  // "Ġ t"
  EXPECT_EQ(f->find("tokenizer.ggml.bos_token_id")->as_int(), 50256);
}

TEST(GgufReader, OpenAndParseAgreeOnTheSameBytes) {
  const std::string path = testing::tokenizer_dir() + "/ggml-vocab-llama-spm.gguf";
  std::ifstream in(path, std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto parsed = GgufFile::parse(bytes.data(), bytes.size(), "copy.gguf");
  ASSERT_TRUE(parsed.ok()) << parsed.status().to_string();
  auto opened = open_or_die(path);
  ASSERT_NE(opened, nullptr);
  EXPECT_EQ((*parsed)->path(), "copy.gguf");
  ASSERT_EQ((*parsed)->metadata().size(), opened->metadata().size());
  for (const auto& [k, v] : opened->metadata()) {
    const GgufValue* p = (*parsed)->find(k);
    ASSERT_NE(p, nullptr) << k;
    EXPECT_EQ(p->type, v.type);
    EXPECT_EQ(p->scalar, v.scalar);
    EXPECT_EQ(p->strings, v.strings);
  }
}

TEST(GgufReader, MissingFileIsNotFound) {
  auto r = GgufFile::open("/nonexistent/dir/model.gguf");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find("/nonexistent/dir/model.gguf"), std::string::npos);
}

TEST(GgufReader, HandBuiltImageGivesTensorsAndData) {
  auto bytes = ti::build(ti::small_valid_spec());
  auto r = GgufFile::parse(bytes.data(), bytes.size(), "small.gguf");
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  const GgufFile& f = **r;
  ASSERT_EQ(f.tensors().size(), 2u);
  const GgufTensorInfo* b = f.find_tensor("b");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->ne, (std::vector<int64_t>{8, 2}));
  EXPECT_EQ(b->n_elements, 16);
  EXPECT_EQ(b->n_bytes, 64);
  // The data section starts at the first 32-aligned offset after the infos; b starts 32 bytes in.
  const size_t data_start = bytes.size() - 96;
  EXPECT_EQ(data_start % 32, 0u);
  EXPECT_EQ(std::memcmp(b->data, bytes.data() + data_start + 32, 64), 0);
  EXPECT_EQ(f.find("some.i32_array")->ints, (std::vector<int64_t>{-1, 0, 7}));
  EXPECT_EQ(f.find("some.str_array")->strings, (std::vector<std::string>{"a", "bc"}));
  EXPECT_EQ(f.find("some.float")->as_float(), 1.5);
  EXPECT_EQ(f.find_tensor("zzz"), nullptr);
}

TEST(GgufReader, AcceptsVersion2AndCustomAlignment) {
  auto s = ti::small_valid_spec();
  s.version = 2;
  s.kvs.push_back(ti::kv_u32("general.alignment", 64));
  s.alignment = 64;
  s.tensors[1].offset = 64;
  s.data_bytes = 128;
  auto bytes = ti::build(s);
  auto r = GgufFile::parse(bytes.data(), bytes.size(), "v2.gguf");
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ((*r)->version(), 2u);
  EXPECT_EQ((*r)->alignment(), 64u);
  EXPECT_EQ(static_cast<const uint8_t*>((*r)->find_tensor("b")->data)[0], 64);  // counting pattern
}

GgufValue scalar(GgufType t, std::variant<uint64_t, int64_t, double, bool, std::string> v) {
  GgufValue g;
  g.type = t;
  g.scalar = std::move(v);
  return g;
}

GgufValue array(GgufType et) {
  GgufValue g;
  g.type = GgufType::kArray;
  g.array_type = et;
  return g;
}

TEST(GgufWriter, RoundTripsEveryValueTypeAndTensorType) {
  GgufWriter w;
  w.set_value("u8", scalar(GgufType::kUint8, uint64_t{255}));
  w.set_value("i8", scalar(GgufType::kInt8, int64_t{-128}));
  w.set_value("u16", scalar(GgufType::kUint16, uint64_t{65535}));
  w.set_value("i16", scalar(GgufType::kInt16, int64_t{-32768}));
  w.set_u32("u32", 4000000000u);
  w.set_i32("i32", -2000000000);
  w.set_f32("f32", 0.25f);
  w.set_bool("bool", true);
  w.set_string("str", std::string("h\0llo", 5));
  w.set_value("u64", scalar(GgufType::kUint64, uint64_t{18446744073709551615ull}));
  w.set_value("i64", scalar(GgufType::kInt64, int64_t{-9000000000000000000}));
  w.set_value("f64", scalar(GgufType::kFloat64, 1e300));
  w.set_string_array("arr.str", {"", "x", "yz"});
  w.set_f32_array("arr.f32", {1.0f, -2.5f});
  w.set_i32_array("arr.i32", {3, -4});
  GgufValue au8 = array(GgufType::kUint8), ab = array(GgufType::kBool), af64 = array(GgufType::kFloat64);
  GgufValue ai64 = array(GgufType::kInt64), au64 = array(GgufType::kUint64), ai16 = array(GgufType::kInt16);
  au8.ints = {0, 200};
  ab.ints = {1, 0, 1};
  af64.floats = {0.1, -1e-300};
  ai64.ints = {-5, 1LL << 60};
  au64.ints = {7};
  ai16.ints = {-300};
  w.set_value("arr.u8", au8);
  w.set_value("arr.bool", ab);
  w.set_value("arr.f64", af64);
  w.set_value("arr.i64", ai64);
  w.set_value("arr.u64", au64);
  w.set_value("arr.i16", ai16);
  w.set_value("arr.empty", array(GgufType::kInt32));
  w.set_u32("replaced", 1);
  w.set_u32("replaced", 2);

  // One tensor of every type, with distinct byte patterns, of sizes that are not alignment multiples.
  struct T { const char* name; DType type; std::vector<int64_t> ne; };
  const std::vector<T> ts = {{"t.f32", DType::kF32, {3}},        {"t.f16", DType::kF16, {5, 3}},
                             {"t.bf16", DType::kBF16, {7, 1, 2}}, {"t.q8_0", DType::kQ8_0, {64, 3}},
                             {"t.q4_0", DType::kQ4_0, {32, 1, 1, 5}}, {"t.q4_k", DType::kQ4_K, {256, 2}}};
  std::vector<std::vector<uint8_t>> datas;
  for (size_t i = 0; i < ts.size(); ++i) {
    int64_t n = 1;
    for (auto d : ts[i].ne) n *= d;
    std::vector<uint8_t> data(static_cast<size_t>(dtype_row_bytes(ts[i].type, n)));
    for (size_t k = 0; k < data.size(); ++k) data[k] = static_cast<uint8_t>(k * 7 + i);
    w.add_tensor(ts[i].name, ts[i].type, ts[i].ne, data.data(), data.size());
    datas.push_back(std::move(data));
  }
  const std::string dir = testing::make_temp_dir("gguf-writer");
  const std::string path = dir + "/all.gguf";
  ASSERT_TRUE(w.write(path).ok());
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp." + std::to_string(::getpid())));

  auto f = open_or_die(path);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->version(), 3u);
  EXPECT_EQ(f->metadata().size(), 23u);  // 12 scalars, 10 arrays, "replaced" once
  EXPECT_EQ(f->find("u8")->type, GgufType::kUint8);
  EXPECT_EQ(f->find("u8")->as_int(), 255);
  EXPECT_EQ(f->find("i8")->as_int(), -128);
  EXPECT_EQ(f->find("u16")->as_int(), 65535);
  EXPECT_EQ(f->find("i16")->as_int(), -32768);
  EXPECT_EQ(f->find("u32")->as_int(), 4000000000LL);
  EXPECT_EQ(f->find("i32")->as_int(), -2000000000);
  EXPECT_EQ(f->find("f32")->as_float(), 0.25);
  EXPECT_EQ(f->find("bool")->as_bool(), true);
  EXPECT_EQ(f->find("str")->as_string(), std::string("h\0llo", 5));
  EXPECT_EQ(std::get<uint64_t>(f->find("u64")->scalar), 18446744073709551615ull);
  EXPECT_FALSE(f->find("u64")->as_int().has_value());  // does not fit int64
  EXPECT_EQ(f->find("i64")->as_int(), -9000000000000000000LL);
  EXPECT_EQ(f->find("f64")->as_float(), 1e300);
  EXPECT_EQ(f->find("f64")->type, GgufType::kFloat64);
  EXPECT_EQ(f->find("arr.str")->strings, (std::vector<std::string>{"", "x", "yz"}));
  EXPECT_EQ(f->find("arr.f32")->floats, (std::vector<double>{1.0, -2.5}));
  EXPECT_EQ(f->find("arr.i32")->ints, (std::vector<int64_t>{3, -4}));
  EXPECT_EQ(f->find("arr.u8")->ints, (std::vector<int64_t>{0, 200}));
  EXPECT_EQ(f->find("arr.bool")->ints, (std::vector<int64_t>{1, 0, 1}));
  EXPECT_EQ(f->find("arr.bool")->array_type, GgufType::kBool);
  EXPECT_EQ(f->find("arr.f64")->floats, (std::vector<double>{0.1, -1e-300}));
  EXPECT_EQ(f->find("arr.i64")->ints, (std::vector<int64_t>{-5, 1LL << 60}));
  EXPECT_EQ(f->find("arr.u64")->ints, (std::vector<int64_t>{7}));
  EXPECT_EQ(f->find("arr.i16")->ints, (std::vector<int64_t>{-300}));
  EXPECT_TRUE(f->find("arr.empty")->ints.empty());
  EXPECT_EQ(f->find("replaced")->as_int(), 2);

  ASSERT_EQ(f->tensors().size(), ts.size());
  for (size_t i = 0; i < ts.size(); ++i) {
    const GgufTensorInfo* t = f->find_tensor(ts[i].name);
    ASSERT_NE(t, nullptr) << ts[i].name;
    EXPECT_EQ(t->type, ts[i].type);
    EXPECT_EQ(t->ne, ts[i].ne);
    EXPECT_EQ(t->offset % 32, 0u);
    EXPECT_EQ(t->n_bytes, static_cast<int64_t>(datas[i].size()));
    EXPECT_EQ(std::memcmp(t->data, datas[i].data(), datas[i].size()), 0) << ts[i].name;
  }
  std::filesystem::remove_all(dir);
}

TEST(GgufWriter, NonDefaultAlignmentIsRecordedAndHonoured) {
  GgufWriter w(256);
  const float a[3] = {1, 2, 3}, b[2] = {4, 5};
  w.add_tensor("a", DType::kF32, {3}, a, sizeof(a));
  w.add_tensor("b", DType::kF32, {2}, b, sizeof(b));
  const std::string dir = testing::make_temp_dir("gguf-align");
  ASSERT_TRUE(w.write(dir + "/x.gguf").ok());
  auto f = open_or_die(dir + "/x.gguf");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->alignment(), 256u);
  EXPECT_EQ(f->find("general.alignment")->as_int(), 256);
  EXPECT_EQ(f->find_tensor("b")->offset, 256u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(f->find_tensor("b")->data) % 256, 0u);
  EXPECT_EQ(static_cast<const float*>(f->find_tensor("b")->data)[1], 5.0f);
  std::filesystem::remove_all(dir);
}

TEST(GgufWriter, UnwritablePathIsUnavailable) {
  GgufWriter w;
  w.set_u32("x", 1);
  Status s = w.write("/nonexistent/dir/x.gguf");
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
}

}  // namespace
}  // namespace effitune::engine
