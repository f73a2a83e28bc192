// Where tests find the repository, ../shared and the build tree.
#pragma once

#include <string>

namespace effitune::testing {
std::string source_dir();   // the repository root
std::string shared_dir();   // ../shared beside the repository
std::string binary_dir();   // the CMake build tree
std::string stories260k_path();
std::string tokenizer_dir();  // ../shared/data/tokenizers
// A fresh empty directory under the system temp dir, unique per call.
std::string make_temp_dir(const std::string& prefix);
}  // namespace effitune::testing
