// load_model: picks the loader by the file's magic bytes.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "effitune/engine/gguf.h"
#include "effitune/engine/model_loader.h"

namespace effitune::engine {

Result<std::shared_ptr<const ModelWeights>> load_model(const std::string& path, const LoadOptions& options) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return not_found(path + ": cannot open model file (" + std::strerror(errno) + ")");
  char magic[4] = {};
  const ssize_t n = ::read(fd, magic, sizeof(magic));
  ::close(fd);
  // llama2.c checkpoints have no magic (they start with `dim`), so anything but "GGUF" goes there.
  if (n == 4 && std::memcmp(magic, "GGUF", 4) == 0) {
    EFFITUNE_ASSIGN_OR_RETURN(std::unique_ptr<GgufFile> file, GgufFile::open(path));
    return load_gguf_model(std::shared_ptr<const GgufFile>(std::move(file)), options);
  }
  return load_llama2c(path, options);
}

}  // namespace effitune::engine
