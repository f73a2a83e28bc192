// The device machine has no usable debugger (cuda-gdb runs these tests too slowly to reach a crash),
// so a crash of the CUDA tests prints its host stack before dying: frames as binary(+offset), which
// `addr2line -e build-cuda/tests/effitune_cuda_tests -f -C OFFSET` resolves here against the
// unstripped binary (strip keeps the addresses).
#include <execinfo.h>
#include <signal.h>
#include <unistd.h>

namespace {

void on_crash(int sig) {
  void* frames[64];
  const int n = backtrace(frames, 64);
  static const char kHead[] = "\n*** effitune_cuda_tests crashed; host stack:\n";
  (void)!write(STDERR_FILENO, kHead, sizeof kHead - 1);
  backtrace_symbols_fd(frames, n, STDERR_FILENO);
  signal(sig, SIG_DFL);
  raise(sig);
}

const bool installed = [] {
  signal(SIGSEGV, on_crash);
  signal(SIGBUS, on_crash);
  signal(SIGFPE, on_crash);
  signal(SIGABRT, on_crash);
  return true;
}();

}  // namespace
