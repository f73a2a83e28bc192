// UTF-8 helpers shared by the text metrics and readers. Private to probes.
//
// The metrics mirror Python reference implementations (sacrebleu, rouge-score, SQuAD), which work on
// Unicode code points, so character n-grams, whitespace splitting and lowercasing decode first.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace effitune::probes::detail {

inline constexpr size_t kValidUtf8 = static_cast<size_t>(-1);

// Returns the byte offset of the first byte that does not start a well-formed UTF-8 sequence
// (overlong forms, surrogates and code points above U+10FFFF are ill-formed), or kValidUtf8.
size_t find_invalid_utf8(std::string_view s);

// Decodes `s` to code points. Ill-formed bytes decode to U+FFFD one byte at a time, so every metric is
// a total function of its input; the dataset and ICS readers reject ill-formed input before this.
std::u32string decode_utf8(std::string_view s);

void append_utf8(std::string& out, char32_t cp);
std::string encode_utf8(std::u32string_view s);

// Python's str.isspace(): the set str.split() splits on.
bool is_space(char32_t c);

// Python's str.lower() for ASCII, Latin-1, Latin Extended-A, Greek, Cyrillic and the few characters
// whose lowercase is ASCII (U+0130 -> "i\u0307", U+212A KELVIN -> 'k'). Other scripts pass unchanged.
std::u32string to_lower(std::u32string_view s);
std::string to_lower_utf8(std::string_view s);

// Python's str.rstrip() with no arguments: `s` without its trailing is_space() code points.
std::string_view rstrip(std::string_view s);

// Python's str.split() with no arguments: splits on runs of is_space(), drops empty pieces.
std::vector<std::string> split_whitespace(std::string_view s);

}  // namespace effitune::probes::detail
