// GGUF on-disk constants shared by the reader and the writer (see ggml/docs/gguf.md).
#pragma once

#include <cstdint>
#include <string>

#include "effitune/engine/gguf.h"

namespace effitune::engine::gguf_format {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read as a little-endian u32
constexpr uint32_t kDefaultAlignment = 32;
constexpr const char* kAlignmentKey = "general.alignment";
constexpr uint32_t kMaxDims = 4;
// Longer names are certainly corrupt; ggml's own limit for tensor names is 63 bytes.
constexpr uint64_t kMaxTensorNameBytes = 256;
// Number of ggml tensor types (GGML_TYPE_COUNT); ids below it are real ggml types we may not support.
constexpr uint32_t kGgmlTypeCount = 40;

inline bool is_valid_type(uint32_t t) { return t <= static_cast<uint32_t>(GgufType::kFloat64); }

// Bytes of one scalar of type `t`; 0 for string and array (variable size).
inline uint64_t scalar_size(GgufType t) {
  switch (t) {
    case GgufType::kUint8:
    case GgufType::kInt8:
    case GgufType::kBool: return 1;
    case GgufType::kUint16:
    case GgufType::kInt16: return 2;
    case GgufType::kUint32:
    case GgufType::kInt32:
    case GgufType::kFloat32: return 4;
    case GgufType::kUint64:
    case GgufType::kInt64:
    case GgufType::kFloat64: return 8;
    case GgufType::kString:
    case GgufType::kArray: return 0;
  }
  return 0;
}

inline const char* type_name(GgufType t) {
  switch (t) {
    case GgufType::kUint8: return "uint8";
    case GgufType::kInt8: return "int8";
    case GgufType::kUint16: return "uint16";
    case GgufType::kInt16: return "int16";
    case GgufType::kUint32: return "uint32";
    case GgufType::kInt32: return "int32";
    case GgufType::kFloat32: return "float32";
    case GgufType::kBool: return "bool";
    case GgufType::kString: return "string";
    case GgufType::kArray: return "array";
    case GgufType::kUint64: return "uint64";
    case GgufType::kInt64: return "int64";
    case GgufType::kFloat64: return "float64";
  }
  return "unknown";
}

// ggml's name for a tensor type id, for error messages about types this engine does not support.
inline std::string ggml_type_name(uint32_t t) {
  static const char* const kNames[kGgmlTypeCount] = {
      "f32",     "f16",     "q4_0",    "q4_1",   "(removed q4_2)", "(removed q4_3)", "q5_0",   "q5_1",
      "q8_0",    "q8_1",    "q2_K",    "q3_K",   "q4_K",           "q5_K",           "q6_K",   "q8_K",
      "iq2_xxs", "iq2_xs",  "iq3_xxs", "iq1_s",  "iq4_nl",         "iq3_s",          "iq2_s",  "iq4_xs",
      "i8",      "i16",     "i32",     "i64",    "f64",            "iq1_m",          "bf16",   "(removed)",
      "(removed)", "(removed)", "tq1_0", "tq2_0", "(removed)",     "(removed)",      "(removed)", "mxfp4"};
  return t < kGgmlTypeCount ? kNames[t] : "unknown";
}

}  // namespace effitune::engine::gguf_format
