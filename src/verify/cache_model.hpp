// Internal: an in-memory picture of a cache used by ls, gc and rm to decide what is referenced
// and how much disk an eviction would free (inodes shared by blobs and objects count once).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "verify/cache_admin.hpp"

namespace mb::verify {

using Inode = std::pair<uint64_t, uint64_t>;  // (st_dev, st_ino)

struct InodeInfo {
  uint64_t disk_bytes = 0;
  uint64_t size = 0;
};

struct ModelBlob {
  std::string path;
  std::string name;
  Inode inode;
  int64_t mtime = 0;
};

struct ModelRevision {
  RevisionInfo info;
  std::string dir;
  std::set<std::string> targets;  // realpaths the snapshot entries resolve to
  std::set<Inode> inodes;
  bool evict = false;
};

struct ModelRepo {
  RepoInfo info;  // revisions are kept in ModelRepo::revisions
  std::string dir;
  std::vector<ModelBlob> blobs;
  std::vector<std::pair<std::string, std::string>> refs;  // (name, content)
  std::vector<ModelRevision> revisions;
};

struct ModelObject {
  std::string path;
  Inode inode;
};

struct CacheModel {
  std::string root_real;
  // Repo folders left out because they (or their blobs/, snapshots/, refs/, a snapshot) are
  // symlinks: folder name -> the error that names the link. gc skips them, rm refuses them.
  std::map<std::string, Error> unsafe;
  std::vector<std::string> warnings;  // one line each, for the user
  std::vector<ModelRepo> repos;
  std::vector<ModelObject> objects;
  std::map<Inode, InodeInfo> inodes;
};

std::optional<std::pair<RepoType, std::string>> parse_repo_folder(const std::string& name);
Result<CacheModel> load_cache_model(const CacheLayout& cache);

}  // namespace mb::verify
