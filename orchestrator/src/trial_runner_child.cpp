// run_child: fork/exec with a timeout, stderr capture and heartbeats.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <sstream>

#include "effitune/orchestrator/trial_runner.h"

namespace effitune::orchestrator {
namespace {

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

std::string signal_name(int sig) {
  switch (sig) {
    case SIGABRT: return "SIGABRT";
    case SIGSEGV: return "SIGSEGV";
    case SIGKILL: return "SIGKILL";
    case SIGTERM: return "SIGTERM";
    case SIGBUS: return "SIGBUS";
    case SIGFPE: return "SIGFPE";
    case SIGILL: return "SIGILL";
    case SIGINT: return "SIGINT";
    case SIGPIPE: return "SIGPIPE";
    case SIGXCPU: return "SIGXCPU";
    default: return "signal " + std::to_string(sig);
  }
}

std::string describe_child_failure(const ChildResult& r) {
  std::ostringstream s;
  s.precision(3);
  if (r.timed_out) {
    s << "timed out after " << r.wall_s << " s (killed with SIGKILL)";
  } else if (!r.exited) {
    s << "crashed: killed by " << signal_name(r.signal);
    if (r.signal == SIGKILL) s << " (often the out-of-memory killer)";
    s << " after " << r.wall_s << " s";
  } else if (r.exit_code == 127) {
    s << "could not start the trial process (exit code 127)";
  } else {
    s << "exited with code " << r.exit_code << " after " << r.wall_s << " s";
  }
  std::string tail = r.stderr_tail;
  while (!tail.empty() && (tail.back() == '\n' || tail.back() == '\r' || tail.back() == ' ')) tail.pop_back();
  if (!tail.empty()) {
    // The last three lines carry the reason (an error message, an abort's check) without flooding.
    size_t pos = tail.size();
    for (int lines = 0; lines < 3 && pos != std::string::npos && pos > 0; ++lines) pos = tail.rfind('\n', pos - 1);
    std::string last = pos == std::string::npos ? tail : tail.substr(pos + 1);
    std::replace(last.begin(), last.end(), '\n', ' ');
    s << "; stderr: " << last;
  }
  return s.str();
}

Result<ChildResult> run_child(const std::vector<std::string>& argv, const ChildOptions& options,
                              const Heartbeat& heartbeat) {
  if (argv.empty()) return invalid_argument("run_child: empty argv");
  if (!(options.timeout_s > 0)) return invalid_argument("run_child: timeout_s must be > 0");
  // Everything the child needs is built before fork: after it only async-signal-safe calls are allowed.
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  int err_pipe[2];
  if (pipe2(err_pipe, O_CLOEXEC) != 0) return internal_error(std::string("pipe: ") + std::strerror(errno));
  const pid_t parent = getpid();
  const double start = now_s();
  const pid_t pid = fork();
  if (pid < 0) {
    close(err_pipe[0]);
    close(err_pipe[1]);
    return internal_error(std::string("fork: ") + std::strerror(errno));
  }
  if (pid == 0) {
    setpgid(0, 0);  // its own group, so a timeout kills helpers it started too
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(126);  // the parent died between fork and prctl
    int devnull = open("/dev/null", O_RDWR);
    if (devnull >= 0) {
      dup2(devnull, STDIN_FILENO);
      dup2(devnull, STDOUT_FILENO);
    }
    dup2(err_pipe[1], STDERR_FILENO);
    execv(args[0], args.data());
    _exit(127);
  }
  setpgid(pid, pid);  // also from the parent, so the group exists before any kill
  close(err_pipe[1]);
  fcntl(err_pipe[0], F_SETFL, O_NONBLOCK);

  ChildResult result;
  std::string tail;
  bool pipe_open = true;
  bool reaped = false;
  int status = 0;
  double last_beat = start;
  auto drain = [&] {
    char buf[4096];
    while (true) {
      ssize_t n = read(err_pipe[0], buf, sizeof buf);
      if (n > 0) {
        tail.append(buf, static_cast<size_t>(n));
        if (tail.size() > 2 * options.stderr_tail_bytes) tail.erase(0, tail.size() - options.stderr_tail_bytes);
        continue;
      }
      if (n == 0) pipe_open = false;
      return;  // EAGAIN or EOF
    }
  };
  while (!reaped) {
    const double now = now_s();
    if (now - start >= options.timeout_s) {
      kill(-pid, SIGKILL);
      kill(pid, SIGKILL);
      while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      result.timed_out = true;
      reaped = true;
      break;
    }
    if (heartbeat && now - last_beat >= options.heartbeat_interval_s) {
      heartbeat();
      last_beat = now;
    }
    const double wait_s = std::min({options.timeout_s - (now - start), options.heartbeat_interval_s, 0.1});
    if (pipe_open) {
      pollfd pfd{err_pipe[0], POLLIN, 0};
      poll(&pfd, 1, std::max(1, static_cast<int>(wait_s * 1000)));
      drain();
    } else {
      usleep(static_cast<useconds_t>(std::max(1000.0, wait_s * 1e6)));
    }
    pid_t w = waitpid(pid, &status, WNOHANG);
    if (w == pid) reaped = true;
  }
  drain();
  close(err_pipe[0]);
  result.wall_s = now_s() - start;
  if (!result.timed_out) {
    if (WIFEXITED(status)) {
      result.exited = true;
      result.exit_code = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
      result.signal = WTERMSIG(status);
    }
  } else {
    result.signal = SIGKILL;
  }
  if (tail.size() > options.stderr_tail_bytes) tail.erase(0, tail.size() - options.stderr_tail_bytes);
  result.stderr_tail = std::move(tail);
  return result;
}

}  // namespace effitune::orchestrator
