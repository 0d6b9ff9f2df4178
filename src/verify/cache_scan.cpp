// Read-only inventory of a cache: repo folders, refs, snapshots, disk use.
#include <sys/stat.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>

#include "core/file.hpp"
#include "core/hash.hpp"
#include "store/cache_door.hpp"
#include "verify/cache_admin.hpp"
#include "verify/cache_model.hpp"

namespace mb::verify {

std::optional<std::pair<RepoType, std::string>> parse_repo_folder(const std::string& name) {
  size_t sep = name.find("--");
  if (sep == std::string::npos) return std::nullopt;
  auto type = name.substr(0, sep) == "models"     ? std::optional(RepoType::model)
              : name.substr(0, sep) == "datasets" ? std::optional(RepoType::dataset)
                                                  : std::nullopt;
  if (!type) return std::nullopt;
  std::string repo = name.substr(sep + 2);
  for (size_t p; (p = repo.find("--")) != std::string::npos;) repo.replace(p, 2, "/");
  if (repo.empty()) return std::nullopt;
  return std::make_pair(*type, repo);
}

namespace {

// Calls `fn(rel, entry)` for everything below the folder `dir` (relative to the root), entering
// folders only through the door: a link is reported as a link, never entered.
template <typename Fn>
Status walk_tree(const CacheDoor& door, const std::string& dir, const Fn& fn, int depth = 0) {
  if (depth > 64) return {};
  MB_ASSIGN(auto entries, door.list(dir));
  for (const auto& e : entries) {
    std::string rel = dir.empty() ? e.name : dir + "/" + e.name;
    fn(rel, e);
    if (S_ISDIR(e.st.st_mode)) MB_TRY(walk_tree(door, rel, fn, depth + 1));
  }
  return {};
}

Inode inode_of(const struct stat& st) {
  return Inode{static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino)};
}

}  // namespace

std::vector<std::pair<std::string, std::string>> read_refs(const CacheDoor& door,
                                                           const std::string& folder) {
  std::vector<std::pair<std::string, std::string>> out;
  std::string base = folder + "/refs";
  (void)walk_tree(door, base, [&](const std::string& rel, const DoorEntry& e) {
    if (!S_ISREG(e.st.st_mode)) return;
    auto text = door.read_file(rel, 4096);
    out.emplace_back(rel.substr(base.size() + 1), text.ok() ? *text : std::string());
  });
  std::sort(out.begin(), out.end());
  return out;
}

std::pair<int64_t, int64_t> read_meta_times(const CacheLayout& cache, RepoType type,
                                            const std::string& repo, const std::string& commit) {
  auto text = cache.door().read_file(cache.snapshot_meta_path(type, repo, commit), 1 << 20);
  if (!text.ok()) return {0, 0};
  auto j = nlohmann::json::parse(*text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return {0, 0};
  auto num = [&](const char* k) -> int64_t {
    auto it = j.find(k);
    return it != j.end() && it->is_number_integer() ? it->get<int64_t>() : 0;
  };
  return {num("fetched_at"), num("last_used")};
}

// A repo folder whose blobs/, snapshots/, refs/, trees/ or a snapshots/<commit> is a symlink (or
// not a folder) is never walked for deletion: what it points to is not the cache's.
Status check_repo_tree(const CacheDoor& door, const std::string& folder) {
  for (const char* sub : {"/blobs", "/snapshots", "/refs", "/trees"}) {
    MB_ASSIGN(UniqueFd fd, door.open_dir(folder + sub, MissingDir::ok));
  }
  MB_ASSIGN(auto snaps, door.list(folder + "/snapshots"));
  for (const auto& s : snaps) {
    std::string rel = folder + "/snapshots/" + s.name;
    if (S_ISLNK(s.st.st_mode)) return planted_link_error(door.display(rel));
    if (!S_ISDIR(s.st.st_mode)) {
      return fail(ErrorCategory::integrity, door.display(rel) + " is not a snapshot folder");
    }
  }
  return {};
}

namespace {

struct Scan {
  const CacheLayout& cache;
  CacheModel& model;

  Inode record(const struct stat& st) {
    Inode key = inode_of(st);
    model.inodes.emplace(key, InodeInfo{static_cast<uint64_t>(st.st_blocks) * 512,
                                        static_cast<uint64_t>(st.st_size)});
    return key;
  }

  // The files of one snapshot: snapshot links of the exact shape resolve to their blob (in the
  // same repo); regular files count as themselves; anything else is left alone.
  void revision(ModelRepo& repo, ModelRevision& rev) {
    const CacheDoor& door = cache.door();
    std::string base = repo.info.folder + "/snapshots/" + rev.info.commit;
    (void)walk_tree(door, base, [&](const std::string& rel, const DoorEntry& e) {
      std::string target;
      struct stat st = e.st;
      if (S_ISLNK(e.st.st_mode)) {
        auto etag = door.snapshot_blob(rel);
        if (!etag.ok() || !*etag) return;
        std::string blob = repo.info.folder + "/blobs/" + **etag;
        auto bst = door.lstat(blob);
        if (!bst.ok() || !*bst || !S_ISREG((*bst)->st_mode)) return;  // dangling
        st = **bst;
        target = door.display(blob);
      } else if (S_ISREG(e.st.st_mode)) {
        target = door.display(rel);
      } else {
        return;
      }
      rev.targets.insert(target);
      rev.inodes.insert(record(st));
      rev.info.files++;
      rev.info.bytes += static_cast<uint64_t>(st.st_size);
    });
  }

  void repo_folder(const std::string& name, RepoType type, const std::string& repo_id) {
    const CacheDoor& door = cache.door();
    ModelRepo repo;
    repo.info.type = type;
    repo.info.repo = repo_id;
    repo.info.folder = name;
    repo.dir = door.display(name);
    if (auto blobs = door.list(name + "/blobs"); blobs.ok()) {
      for (const auto& b : *blobs) {
        if (!S_ISREG(b.st.st_mode)) continue;
        repo.blobs.push_back(
            ModelBlob{repo.dir + "/blobs/" + b.name, b.name, record(b.st), b.st.st_mtime});
        repo.info.blob_bytes += static_cast<uint64_t>(b.st.st_size);
      }
    }
    repo.refs = read_refs(door, name);
    auto snaps = door.list(name + "/snapshots");
    for (const auto& s : snaps.ok() ? *snaps : std::vector<DoorEntry>{}) {
      if (!is_commit_name(s.name)) {
        model.warnings.push_back("skipped " + door.display(name + "/snapshots/" + s.name) +
                                 ": a snapshot folder is named by its 40-hex commit");
        continue;
      }
      ModelRevision rev;
      rev.info.commit = s.name;
      rev.dir = repo.dir + "/snapshots/" + s.name;
      for (const auto& [ref, commit] : repo.refs) {
        if (commit == rev.info.commit) rev.info.refs.push_back(ref);
      }
      revision(repo, rev);
      auto [fetched, used] = read_meta_times(cache, type, repo_id, rev.info.commit);
      rev.info.fetched_at = fetched;
      rev.info.last_used = used == 0 ? s.st.st_mtime : used;
      repo.revisions.push_back(std::move(rev));
    }
    std::sort(repo.revisions.begin(), repo.revisions.end(),
              [](const ModelRevision& a, const ModelRevision& b) {
                return a.info.commit < b.info.commit;
              });
    model.repos.push_back(std::move(repo));
  }

  void objects() {
    const CacheDoor& door = cache.door();
    std::string base = cache.objects_rel();
    auto dir = door.open_dir(base, MissingDir::ok);
    if (!dir.ok()) {
      model.warnings.push_back("skipped the object store: " + dir.error().message);
      return;
    }
    Status st = walk_tree(door, base, [&](const std::string& rel, const DoorEntry& e) {
      if (S_ISREG(e.st.st_mode))
        model.objects.push_back(ModelObject{door.display(rel), record(e.st)});
    });
    if (!st.ok()) model.warnings.push_back("skipped the object store: " + st.error().message);
  }
};

Status require_cache_dir(const CacheLayout& cache) {
  auto root = cache.door().lstat("");
  if (!root.ok() || !*root || !S_ISDIR((*root)->st_mode)) {
    return fail(ErrorCategory::usage, "cache directory " + cache.root() + " does not exist",
                "pass --cache DIR or set HF_HUB_CACHE");
  }
  return {};
}

}  // namespace

Result<CacheModel> load_cache_model(const CacheLayout& cache) {
  MB_TRY(require_cache_dir(cache));
  CacheModel model;
  const CacheDoor& door = cache.door();
  Scan scan{cache, model};
  MB_ASSIGN(auto entries, door.list(""));
  for (const auto& entry : entries) {
    auto parsed = parse_repo_folder(entry.name);
    if (!parsed) continue;
    if (S_ISLNK(entry.st.st_mode)) {
      model.unsafe.emplace(entry.name, planted_link_error(door.display(entry.name)));
    } else if (!S_ISDIR(entry.st.st_mode)) {
      continue;
    } else if (Status safe = check_repo_tree(door, entry.name); !safe.ok()) {
      model.unsafe.emplace(entry.name, safe.error());
    }
    if (auto it = model.unsafe.find(entry.name); it != model.unsafe.end()) {
      model.warnings.push_back("skipped " + entry.name + ": " + it->second.message);
      continue;
    }
    scan.repo_folder(entry.name, parsed->first, parsed->second);
  }
  std::sort(model.repos.begin(), model.repos.end(),
            [](const ModelRepo& a, const ModelRepo& b) { return a.info.folder < b.info.folder; });
  scan.objects();
  model.root_real = cache.root();
  return model;
}

Result<std::vector<RepoInfo>> scan_cache(const CacheLayout& cache) {
  MB_ASSIGN(CacheModel model, load_cache_model(cache));
  std::vector<RepoInfo> out;
  for (auto& r : model.repos) {
    RepoInfo info = r.info;
    for (auto& rev : r.revisions) info.revisions.push_back(rev.info);
    out.push_back(std::move(info));
  }
  return out;
}

Result<DiskUsage> disk_usage(const CacheLayout& cache) {
  MB_TRY(require_cache_dir(cache));
  DiskUsage du;
  std::set<Inode> seen;
  std::string tmp = cache.tmp_rel() + "/";
  MB_TRY(walk_tree(cache.door(), "", [&](const std::string& rel, const DoorEntry& e) {
    const struct stat& st = e.st;
    if (S_ISDIR(st.st_mode) || S_ISLNK(st.st_mode)) return;
    du.linked_bytes += static_cast<uint64_t>(st.st_size);
    bool temp = rel.starts_with(tmp) || is_temp_name(e.name);
    if (temp) du.temp_bytes += static_cast<uint64_t>(st.st_size);
    if (!seen.insert(inode_of(st)).second) return;
    du.files++;
    du.disk_bytes += static_cast<uint64_t>(st.st_blocks) * 512;
    du.apparent_bytes += static_cast<uint64_t>(st.st_size);
  }));
  return du;
}

PinSet pins_of(const Lockfile& lock) {
  PinSet pins;
  for (const auto& m : lock.models) pins.emplace(m.type, m.repo, m.commit);
  return pins;
}

}  // namespace mb::verify
