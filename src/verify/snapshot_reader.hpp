// verify's view of one snapshot of a cache, through the cache door (store/cache_door.hpp):
// folders are opened once each with the door (no link below the root is followed), leaves are
// looked at with fstatat/readlinkat on those descriptors, and the only link followed is a
// snapshot link of the exact shape `../../blobs/<etag>`. `verify --fast` must stay cheap, so
// the snapshot folders and `blobs/` are opened once per model, not once per file.
#pragma once

#include <sys/stat.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/file.hpp"
#include "store/cache_door.hpp"

namespace mb::verify {

enum class EntryState {
  regular,      // a regular file: the snapshot entry itself or the blob its link names
  missing,      // no entry
  dangling,     // a link of the right shape to a blob that is absent
  other_link,   // a link of another shape: never followed
  not_regular,  // the entry, or the blob its link names, is a FIFO, folder, link...
  planted,      // a folder on the way is a link, FIFO or file (the door's message names it)
  unreadable,   // another error (permissions, EIO)
};

struct ResolvedEntry {
  EntryState state = EntryState::missing;
  std::string file;     // door path of the regular file holding the bytes
  struct stat st {};    // of that file (lstat: never through a link)
  std::string link;     // the snapshot link's target, when the entry is a link
  std::string message;  // why, for planted / not_regular / unreadable
};

class SnapshotReader {
 public:
  // `repo_dir` and `snapshot_dir` as CacheLayout spells them (below the door's root).
  SnapshotReader(const CacheDoor& door, std::string repo_dir, std::string snapshot_dir)
      : m_door(door), m_repo(std::move(repo_dir)), m_snap(std::move(snapshot_dir)) {}

  // The entry for `file` (a repo-relative path, already validated) and what it leads to.
  ResolvedEntry resolve(const std::string& file);

  struct Entry {
    std::string rel;  // below the snapshot folder
    struct stat st {};
  };
  // Every entry below the snapshot folder that is not a folder, listed through descriptors.
  Result<std::vector<Entry>> entries() const;

 private:
  // The snapshot's sub-folder `sub` ("" for the snapshot itself), memoised; an invalid fd
  // when absent.
  Result<int> folder(const std::string& sub);
  Result<int> blobs();
  ResolvedEntry follow(const std::string& file, const std::string& link);

  const CacheDoor& m_door;
  std::string m_repo;
  std::string m_snap;
  std::map<std::string, UniqueFd> m_dirs;
  std::optional<UniqueFd> m_blobs;
};

}  // namespace mb::verify
