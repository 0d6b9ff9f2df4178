// Moving a cache made by an older modelbake (private state in <root>/.modelbake, which hub
// cache scanners report as a broken repo) to <root>/.locks/modelbake. One rename: objects keep
// their inodes (every blobs/<etag> hard link stays valid), resume state and meta keep their
// bytes, nothing is downloaded again.
#include <sys/stat.h>

#include <optional>

#include "core/file.hpp"
#include "core/log.hpp"
#include "store/store.hpp"

namespace mb {

namespace {

enum class Kind { absent, dir, other };

Kind kind_of(const CacheDoor& door, std::string_view rel) {
  auto st = door.lstat(rel);
  if (!st.ok() || !*st) return st.ok() ? Kind::absent : Kind::other;
  return S_ISDIR((*st)->st_mode) ? Kind::dir : Kind::other;
}

// The old layout's cache lock, taken exclusive: older modelbake versions hold it shared while
// they write, so the folder is not renamed under them. Never created (a concurrent migration
// may have moved the folder already: then there is nothing left to do).
Result<std::optional<FileLock>> lock_legacy(const CacheDoor& door, const std::string& legacy) {
  MB_ASSIGN(auto fd, door.open_existing(legacy + "/locks/cache.lock"));
  if (!fd) return std::optional<FileLock>();
  MB_ASSIGN(FileLock lock, FileLock::from_fd(std::move(*fd), LockMode::exclusive, true,
                                             door.display(legacy + "/locks/cache.lock")));
  return std::optional<FileLock>(std::move(lock));
}

}  // namespace

Status Store::migrate_legacy_private_dir() const {
  const CacheDoor& door = m_layout.door();
  const std::string legacy(CacheLayout::k_legacy_private_rel);
  const std::string current(CacheLayout::k_private_rel);
  if (kind_of(door, legacy) != Kind::dir) return {};  // nothing to move (a link there is not ours)
  if (kind_of(door, current) != Kind::absent) {
    log::warn(door.display(legacy) + " and " + door.display(current) +
              " both exist: modelbake uses " + door.display(current) + "; remove " +
              door.display(legacy) + " once no older modelbake uses this cache");
    return {};
  }
  MB_TRY(real_dirs(".locks"));
  MB_ASSIGN(auto lock, lock_legacy(door, legacy));
  // Re-check under the lock: another process may have migrated while we waited.
  if (kind_of(door, legacy) != Kind::dir || kind_of(door, current) != Kind::absent) return {};
  if (Status st = door.rename(legacy, current); !st.ok()) {
    Error e = st.error();
    e.hint = "move it there by hand (same filesystem), or remove it: modelbake rebuilds it";
    return fail(std::move(e));
  }
  MB_TRY(door.fsync_dir(".locks"));
  MB_TRY(door.fsync_dir(""));
  log::info("moved " + door.display(legacy) + " to " + door.display(current) +
            " (hub cache scanners skip .locks/)");
  return {};
}

}  // namespace mb
