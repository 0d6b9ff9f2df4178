#include "core/process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

#include "core/file.hpp"

extern char** environ;

namespace mb {

namespace {

struct Pipe {
  UniqueFd read, write;
};

Result<Pipe> make_pipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return errno_error("creating a pipe", errno);
  return Pipe{UniqueFd(fds[0]), UniqueFd(fds[1])};
}

// Kills and reaps the child unless it was reaped already.
struct Child {
  pid_t pid = -1;
  ~Child() {
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      int st = 0;
      while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
      }
    }
  }
};

// Writing to a helper that already exited must fail with EPIPE, not kill us with SIGPIPE:
// the signal is blocked for this thread while the helper runs and a pending one is consumed.
class NoSigpipe {
 public:
  NoSigpipe() {
    sigemptyset(&m_pipe);
    sigaddset(&m_pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &m_pipe, &m_old);
  }
  ~NoSigpipe() {
    timespec zero{0, 0};
    while (sigtimedwait(&m_pipe, nullptr, &zero) > 0) {
    }
    pthread_sigmask(SIG_SETMASK, &m_old, nullptr);
  }
  NoSigpipe(const NoSigpipe&) = delete;
  NoSigpipe& operator=(const NoSigpipe&) = delete;

 private:
  sigset_t m_pipe{}, m_old{};
};

}  // namespace

std::string find_in_path(const std::string& name, const std::string& path_list) {
  size_t start = 0;
  while (start <= path_list.size()) {
    size_t colon = path_list.find(':', start);
    std::string dir =
        path_list.substr(start, colon == std::string::npos ? std::string::npos : colon - start);
    if (!dir.empty()) {
      std::string p = dir + "/" + name;
      struct stat st {};
      if (::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(p.c_str(), X_OK) == 0)
        return p;
    }
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  return {};
}

Result<ProcessOutput> PosixProcessRunner::run(const std::vector<std::string>& argv,
                                              std::string_view input,
                                              std::chrono::milliseconds timeout,
                                              size_t max_output) {
  if (argv.empty()) return fail(ErrorCategory::usage, "no program to run");
  MB_ASSIGN(Pipe in, make_pipe());
  MB_ASSIGN(Pipe out, make_pipe());
  MB_ASSIGN(Pipe err, make_pipe());
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in.read.get(), 0);
  posix_spawn_file_actions_adddup2(&fa, out.write.get(), 1);
  posix_spawn_file_actions_adddup2(&fa, err.write.get(), 2);
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  NoSigpipe no_sigpipe;
  Child child;
  int rc = ::posix_spawn(&child.pid, argv[0].c_str(), &fa, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) {
    child.pid = -1;
    return errno_error("starting " + argv[0], rc);
  }
  in.read.reset();
  out.write.reset();
  err.write.reset();
  ::fcntl(in.write.get(), F_SETFL, O_NONBLOCK);
  ProcessOutput result;
  size_t sent = 0;
  if (input.empty()) in.write.reset();
  auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[4096];
  while (out.read.valid() || err.read.valid()) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0)
      return fail(ErrorCategory::io, argv[0] + " did not finish within " +
                                         std::to_string(timeout.count() / 1000) + " s");
    pollfd fds[3] = {
        {out.read.get(), POLLIN, 0}, {err.read.get(), POLLIN, 0}, {in.write.get(), POLLOUT, 0}};
    int n = ::poll(fds, 3, static_cast<int>(left.count()));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno_error("waiting for " + argv[0], errno);
    if (fds[2].revents) {
      ssize_t w = ::write(in.write.get(), input.data() + sent, input.size() - sent);
      if (w > 0) sent += static_cast<size_t>(w);
      if (w < 0 && errno != EAGAIN && errno != EINTR)
        sent = input.size();  // the helper closed stdin
      if (sent == input.size()) in.write.reset();
    }
    UniqueFd* streams[2] = {&out.read, &err.read};
    std::string* sinks[2] = {&result.out, &result.err};
    for (int i = 0; i < 2; ++i) {
      if (!fds[i].revents) continue;
      ssize_t r = ::read(streams[i]->get(), buf, sizeof buf);
      if (r < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (r <= 0) {
        streams[i]->reset();
        continue;
      }
      if (sinks[i]->size() + static_cast<size_t>(r) > max_output) {
        return fail(ErrorCategory::io,
                    argv[0] + " printed more than " + std::to_string(max_output) + " bytes");
      }
      sinks[i]->append(buf, static_cast<size_t>(r));
    }
  }
  // Its output is closed; it may still linger (the deadline holds for that too).
  int status = 0;
  for (;;) {
    pid_t w = ::waitpid(child.pid, &status, WNOHANG);
    if (w == child.pid) break;
    if (w < 0 && errno != EINTR) return errno_error("waiting for " + argv[0], errno);
    if (std::chrono::steady_clock::now() >= deadline) {
      return fail(ErrorCategory::io, argv[0] + " did not finish within " +
                                         std::to_string(timeout.count() / 1000) + " s");
    }
    ::poll(nullptr, 0, 5);
  }
  child.pid = -1;
  if (!WIFEXITED(status))
    return fail(ErrorCategory::io,
                argv[0] + " was killed by signal " + std::to_string(WTERMSIG(status)));
  result.exit_code = WEXITSTATUS(status);
  return result;
}

}  // namespace mb
