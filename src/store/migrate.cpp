// Moving a cache made by an older modelbake (private state in <root>/.modelbake, which hub
// cache scanners report as a broken repo) to <root>/.locks/modelbake. One rename: objects keep
// their inodes (every blobs/<etag> hard link stays valid), resume state and meta keep their
// bytes, nothing is downloaded again.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "core/file.hpp"
#include "core/log.hpp"
#include "store/safe_dirs.hpp"
#include "store/store.hpp"

namespace mb {

namespace {

enum class Kind { absent, dir, other };

Kind kind_of(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return Kind::absent;
  return S_ISDIR(st.st_mode) ? Kind::dir : Kind::other;
}

// The old layout's cache lock, taken exclusive: older modelbake versions hold it shared while
// they write, so the folder is not renamed under them. Opened without O_CREAT (a concurrent
// migration may have moved the folder already: then there is nothing left to do).
Result<UniqueFd> lock_legacy(const std::string& legacy) {
  std::string path = legacy + "/locks/cache.lock";
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ENOENT) return UniqueFd();
    return errno_error("opening " + path, errno);
  }
  while (::flock(fd.get(), LOCK_EX) != 0) {
    if (errno != EINTR) return errno_error("locking " + path, errno);
  }
  return fd;
}

}  // namespace

Status Store::migrate_legacy_private_dir() const {
  const std::string legacy = m_layout.legacy_private_dir();
  const std::string current = m_layout.private_dir();
  if (kind_of(legacy) != Kind::dir) return {};  // nothing to move (a link there is not ours)
  if (kind_of(current) != Kind::absent) {
    log::warn(legacy + " and " + current + " both exist: modelbake uses " + current + "; remove " +
              legacy + " once no older modelbake uses this cache");
    return {};
  }
  MB_TRY(check_real_dirs(m_layout.root(), ".locks", MissingDir::create));
  MB_ASSIGN(UniqueFd lock, lock_legacy(legacy));
  // Re-check under the lock: another process may have migrated while we waited.
  if (kind_of(legacy) != Kind::dir || kind_of(current) != Kind::absent) return {};
  if (::rename(legacy.c_str(), current.c_str()) != 0) {
    Error e = errno_error("moving " + legacy + " to " + current, errno);
    e.hint = "move it there by hand (same filesystem), or remove it: modelbake rebuilds it";
    return fail(std::move(e));
  }
  MB_TRY(fsync_dir(m_layout.root() + "/.locks"));
  MB_TRY(fsync_dir(m_layout.root()));
  log::info("moved " + legacy + " to " + current + " (hub cache scanners skip .locks/)");
  return {};
}

}  // namespace mb
