#include "store/safe_dirs.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>

#include "core/file.hpp"
#include "core/hash.hpp"

namespace mb {

Error planted_link_error(const std::string& path) {
  char buf[PATH_MAX];
  ssize_t n = ::readlink(path.c_str(), buf, sizeof buf - 1);
  std::string target = n < 0 ? std::string("?") : std::string(buf, static_cast<size_t>(n));
  return make_error(
      ErrorCategory::integrity,
      path + " is a symbolic link (to " + target +
          "): modelbake never writes or deletes through a link inside the cache",
      "it was planted or the cache is damaged: check where it points, remove the link "
      "itself (rm " +
          path + ") and run again");
}

Status check_real_dirs(const std::string& base, std::string_view rel, MissingDir missing) {
  std::string path = base;
  size_t i = 0;
  while (i < rel.size()) {
    size_t j = rel.find('/', i);
    if (j == std::string_view::npos) j = rel.size();
    std::string_view part = rel.substr(i, j - i);
    i = j + 1;
    if (part.empty() || part == ".") continue;
    if (part == "..")
      return fail(ErrorCategory::usage, "'..' in a cache path: " + std::string(rel));
    path += "/";
    path += part;
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) {
      if (errno != ENOENT) return errno_error("checking " + path, errno);
      if (missing == MissingDir::ok) return {};
      if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST)
        return errno_error("creating " + path, errno);
      if (::lstat(path.c_str(), &st) != 0) return errno_error("checking " + path, errno);
    }
    if (S_ISLNK(st.st_mode)) return planted_link_error(path);
    if (!S_ISDIR(st.st_mode)) {
      return fail(ErrorCategory::integrity, path + " is not a folder",
                  "the cache is damaged: move it away and run again");
    }
  }
  return {};
}

}  // namespace mb
