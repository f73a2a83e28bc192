// Bounded line reader for JSONL/CSV input. Private to probes.
//
// Reads one line at a time without ever buffering more than `max_line_bytes` of it, so a file with a
// multi-gigabyte line fails with a clear error instead of exhausting memory.
#pragma once

#include <cstddef>
#include <istream>
#include <string>

namespace effitune::probes::detail {

class LineReader {
 public:
  enum class Next { kLine, kEof, kTooLong };

  // `in` must outlive the reader. Not thread-safe.
  LineReader(std::istream& in, size_t max_line_bytes) : in_(in), max_line_bytes_(max_line_bytes) {}

  // kLine: `line` holds the next line without its "\n" or "\r\n". kTooLong: the line exceeds
  // max_line_bytes; `line` holds at most max_line_bytes + 1 of its bytes and the reader must not be used
  // again. kEof: nothing left. line_number() is the 1-based number of the line just returned.
  Next next(std::string& line);
  size_t line_number() const { return line_number_; }

 private:
  std::istream& in_;
  size_t max_line_bytes_;
  size_t line_number_ = 0;
};

}  // namespace effitune::probes::detail
