#include "runtime/confined.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>

namespace mb::runtime {

namespace {

Failure not_regular(const std::string& path, mode_t mode) {
  return fail(ErrorCategory::integrity,
              path + " is not a regular file (" + file_kind_name(mode) + ")",
              "replace it with the real file; modelbake-verify opens regular files only");
}

}  // namespace

Result<UniqueFd> open_regular(const std::string& path, const std::string& shown) {
  const std::string& name = shown.empty() ? path : shown;
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return errno_error("opening " + name, errno);
  if (!S_ISREG(st.st_mode)) return not_regular(name, st.st_mode);
  int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) return errno_error("opening " + name, errno);
  UniqueFd out(fd);
  if (::fstat(fd, &st) != 0) return errno_error("stat " + name, errno);
  if (!S_ISREG(st.st_mode)) return not_regular(name, st.st_mode);
  return out;
}

Status regular_or_absent(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || S_ISREG(st.st_mode)) return {};
  return not_regular(path, st.st_mode);
}

Result<std::string> read_regular(const std::string& path, uint64_t max_bytes,
                                 const std::string& shown) {
  MB_ASSIGN(UniqueFd fd, open_regular(path, shown));
  return read_fd(fd.get(), max_bytes, shown.empty() ? path : shown, ErrorCategory::integrity);
}

Result<Confinement> Confinement::of(const std::string& root) {
  char buf[PATH_MAX];
  if (::realpath(root.c_str(), buf) == nullptr) return errno_error("resolving " + root, errno);
  Confinement c;
  c.m_real = buf;
  return c;
}

bool Confinement::contains(const std::string& real_path) const {
  if (m_real == "/") return true;
  return real_path == m_real ||
         (real_path.size() > m_real.size() && real_path.compare(0, m_real.size(), m_real) == 0 &&
          real_path[m_real.size()] == '/');
}

Result<std::string> Confinement::resolve(const std::string& path) const {
  char buf[PATH_MAX];
  if (::realpath(path.c_str(), buf) == nullptr) {
    int err = errno;
    struct stat st {};
    if (::lstat(path.c_str(), &st) == 0 && S_ISLNK(st.st_mode)) {
      return fail(ErrorCategory::integrity,
                  path + (err == ELOOP ? " is a symlink loop" : " is a dangling symlink"),
                  "remove the link or replace it with the real file");
    }
    return errno_error("resolving " + path, err);
  }
  std::string real = buf;
  if (!contains(real)) {
    return fail(ErrorCategory::integrity,
                path + " resolves outside " + m_real + " (to " + real + ")",
                "every file modelbake-verify reads must be inside ROOT; rebuild the bundle or "
                "remove the planted link");
  }
  return real;
}

Result<UniqueFd> Confinement::open(const std::string& path) const {
  MB_ASSIGN(std::string real, resolve(path));
  return open_regular(real, path);
}

Result<std::string> Confinement::read(const std::string& path, uint64_t max_bytes) const {
  MB_ASSIGN(std::string real, resolve(path));
  return read_regular(real, max_bytes, path);
}

}  // namespace mb::runtime
