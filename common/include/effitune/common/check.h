// EFFITUNE_CHECK: broken invariants abort with a message. Expected failures use Status instead.
#pragma once

#include <string>

namespace effitune::detail {
[[noreturn]] void check_failed(const char* file, int line, const char* expr, const std::string& message);
}  // namespace effitune::detail

#define EFFITUNE_CHECK(cond, msg)                                              \
  do {                                                                         \
    if (!(cond)) ::effitune::detail::check_failed(__FILE__, __LINE__, #cond, (msg)); \
  } while (0)
