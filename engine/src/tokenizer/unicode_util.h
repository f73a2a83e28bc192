// UTF-8 helpers shared by the tokenizers. Internal to the engine.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace effitune::engine::tokenizer {

inline constexpr uint32_t kReplacementChar = 0xFFFD;

// Length of the UTF-8 sequence that starts with `lead`, judged by its high bits only (1 for a stray
// continuation byte or an invalid lead). This is how llama.cpp splits text into symbols; callers clamp
// it to the bytes that are left.
inline size_t utf8_seq_len(uint8_t lead) {
  static constexpr std::array<uint8_t, 16> kLen = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  return kLen[lead >> 4];
}

// Appends the UTF-8 encoding of `cp` (which must be a Unicode scalar value).
void append_utf8(uint32_t cp, std::string& out);

// Returns `text` as strictly valid UTF-8: each byte that does not start a well-formed sequence
// (stray continuation bytes, truncated sequences, overlong forms, surrogates, > U+10FFFF) becomes
// U+FFFD and decoding resumes at the next byte, as llama.cpp's unicode_cpts_from_utf8 does for the
// malformed inputs it detects. Valid input comes back unchanged.
std::string sanitize_utf8(std::string_view text);

// True when `text` is strictly valid UTF-8.
bool is_valid_utf8(std::string_view text);

// GPT-2's byte-level alphabet: every byte maps to one printable code point (the printable Latin-1
// bytes map to themselves, the other 68 to U+0100.. in byte order), so any byte string becomes a
// string of "visible" characters that a BPE vocabulary can hold.
class ByteLevelMap {
 public:
  static const ByteLevelMap& instance();
  // The UTF-8 text of byte `b`'s code point.
  const std::string& encode(uint8_t b) const { return byte_to_utf8_[b]; }
  // Appends the byte-level encoding of every byte of `bytes`.
  void encode_append(std::string_view bytes, std::string& out) const;
  // The byte whose code point is `cp`, or -1 if `cp` is not in the alphabet.
  int decode(uint32_t cp) const { return cp < cp_to_byte_.size() ? cp_to_byte_[cp] : -1; }

 private:
  ByteLevelMap();
  std::array<std::string, 256> byte_to_utf8_;
  std::array<int16_t, 324> cp_to_byte_;  // the alphabet's largest code point is U+0143
};

}  // namespace effitune::engine::tokenizer
