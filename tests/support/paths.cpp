#include "support/paths.h"

#include <atomic>
#include <filesystem>
#include <random>

namespace effitune::testing {

std::string source_dir() { return EFFITUNE_SOURCE_DIR; }
std::string shared_dir() { return EFFITUNE_SHARED_DIR; }
std::string binary_dir() { return EFFITUNE_BINARY_DIR; }
std::string stories260k_path() { return shared_dir() + "/data/stories260K.bin"; }
std::string tokenizer_dir() { return shared_dir() + "/data/tokenizers"; }

std::string make_temp_dir(const std::string& prefix) {
  static std::atomic<int> counter{0};
  std::random_device rd;
  auto dir = std::filesystem::temp_directory_path() /
             (prefix + "-" + std::to_string(rd()) + "-" + std::to_string(counter++));
  std::filesystem::create_directories(dir);
  return dir.string();
}

}  // namespace effitune::testing
