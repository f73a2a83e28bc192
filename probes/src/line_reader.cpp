#include "line_reader.h"

namespace effitune::probes::detail {

LineReader::Next LineReader::next(std::string& line) {
  line.clear();
  std::streambuf* buf = in_.rdbuf();
  if (buf == nullptr) return Next::kEof;
  using Traits = std::char_traits<char>;
  int c = buf->sbumpc();
  if (Traits::eq_int_type(c, Traits::eof())) return Next::kEof;
  ++line_number_;
  // One byte of slack for a trailing '\r' that is not part of the line's content.
  while (!Traits::eq_int_type(c, Traits::eof()) && c != '\n') {
    if (line.size() > max_line_bytes_) return Next::kTooLong;
    line.push_back(static_cast<char>(c));
    c = buf->sbumpc();
  }
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (line.size() > max_line_bytes_) return Next::kTooLong;
  return Next::kLine;
}

}  // namespace effitune::probes::detail
