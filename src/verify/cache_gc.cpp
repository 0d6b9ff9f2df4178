// gc and rm. Plan first on the in-memory model (so --dry-run reports exactly what a real run
// would do), then apply under the exclusive cache lock.
#include <sys/stat.h>

#include <algorithm>

#include "core/file.hpp"
#include "core/hash.hpp"
#include "core/log.hpp"
#include "core/paths.hpp"
#include "verify/cache_admin.hpp"
#include "verify/cache_model.hpp"

namespace mb::verify {

const char* to_string(GcActionKind k) {
  switch (k) {
    case GcActionKind::stale_temp: return "stale_temp";
    case GcActionKind::evict_revision: return "evict_revision";
    case GcActionKind::dangling_ref: return "dangling_ref";
    case GcActionKind::unreferenced_blob: return "unreferenced_blob";
    case GcActionKind::orphan_object: return "orphan_object";
    case GcActionKind::xet_index: return "xet_index";
  }
  return "unknown";
}

namespace {

// Inodes still in use when the revisions marked `evict` are gone.
std::set<Inode> live_inodes(const CacheModel& m) {
  std::set<Inode> live;
  for (const auto& r : m.repos) {
    for (const auto& rev : r.revisions) {
      if (!rev.evict) live.insert(rev.inodes.begin(), rev.inodes.end());
    }
  }
  return live;
}

uint64_t disk_of(const CacheModel& m, const std::set<Inode>& live) {
  uint64_t total = 0;
  for (const auto& i : live) {
    auto it = m.inodes.find(i);
    if (it != m.inodes.end()) total += it->second.disk_bytes;
  }
  return total;
}

uint64_t disk_all(const CacheModel& m) {
  uint64_t total = 0;
  for (const auto& [_, info] : m.inodes) total += info.disk_bytes;
  return total;
}

void plan_temp_sweep(const CacheLayout& cache, const CacheModel& m, const GcOptions& o,
                     GcReport& rep) {
  const CacheDoor& door = cache.door();
  auto consider = [&](const std::string& dir, const DoorEntry& e) {
    if (S_ISDIR(e.st.st_mode)) return;
    if (o.now - e.st.st_mtime < o.temp_max_age) return;  // may belong to a live writer
    rep.actions.push_back({GcActionKind::stale_temp, door.display(dir + "/" + e.name), "", "",
                           static_cast<uint64_t>(e.st.st_blocks) * 512});
  };
  if (auto tmp = door.list(cache.tmp_rel()); tmp.ok()) {
    for (const auto& e : *tmp) consider(cache.tmp_rel(), e);
  }
  for (const auto& r : m.repos) {
    auto blobs = door.list(r.info.folder + "/blobs");
    if (!blobs.ok()) continue;
    for (const auto& e : *blobs) {
      if (is_temp_name(e.name)) consider(r.info.folder + "/blobs", e);
    }
  }
}

void plan_evictions(CacheModel& m, const GcOptions& o, GcReport& rep) {
  std::vector<std::pair<ModelRepo*, ModelRevision*>> candidates;
  for (auto& r : m.repos) {
    for (auto& rev : r.revisions) {
      if (!o.pins.count({r.info.type, r.info.repo, rev.info.commit}))
        candidates.emplace_back(&r, &rev);
    }
  }
  std::stable_sort(candidates.begin(), candidates.end(), [](const auto& a, const auto& b) {
    return a.second->info.last_used < b.second->info.last_used;
  });
  size_t next = 0;
  while (disk_of(m, live_inodes(m)) > *o.max_size) {
    if (next == candidates.size()) {
      rep.limit_reached = false;
      return;
    }
    auto [repo, rev] = candidates[next++];
    rev->evict = true;
    rep.actions.push_back(
        {GcActionKind::evict_revision, rev->dir, repo->info.repo, rev->info.commit, 0});
  }
}

// Blobs no surviving snapshot references, refs to absent snapshots, objects no blob links.
void plan_unreferenced(const CacheModel& m, const std::set<Inode>& live, GcReport& rep) {
  std::set<Inode> kept_blob_inodes;
  for (const auto& r : m.repos) {
    std::set<std::string> targets;
    std::set<std::string> commits;
    for (const auto& rev : r.revisions) {
      if (rev.evict) continue;
      targets.insert(rev.targets.begin(), rev.targets.end());
      commits.insert(rev.info.commit);
    }
    for (const auto& b : r.blobs) {
      if (is_temp_name(b.name)) continue;  // swept by age only
      if (targets.count(b.path)) {
        kept_blob_inodes.insert(b.inode);
      } else {
        rep.actions.push_back({GcActionKind::unreferenced_blob, b.path, r.info.repo, "", 0});
      }
    }
    for (const auto& [name, content] : r.refs) {
      if (!commits.count(content)) {
        rep.actions.push_back(
            {GcActionKind::dangling_ref, r.dir + "/refs/" + name, r.info.repo, content, 0});
      }
    }
  }
  // A skipped repo's blobs may still link objects: keep every object until it is sorted out.
  if (!m.unsafe.empty()) return;
  for (const auto& o : m.objects) {
    if (!kept_blob_inodes.count(o.inode) && !live.count(o.inode)) {
      rep.actions.push_back({GcActionKind::orphan_object, o.path, "", "", 0});
    }
  }
}

// The Xet chunk index of each object this run removes, and of each object already absent
// (fetch/xet_index.hpp: a hint for later downloads, useless without its object). Planned
// after plan_unreferenced; nothing when that kept every object (a skipped repo).
void plan_xet_indexes(const CacheLayout& cache, const CacheModel& m, GcReport& rep) {
  if (!m.unsafe.empty()) return;
  std::set<std::string> removed;
  for (const auto& a : rep.actions) {
    if (a.kind == GcActionKind::orphan_object) removed.insert(a.path);
  }
  const CacheDoor& door = cache.door();
  std::string dir = std::string(CacheLayout::k_private_rel) + "/xet";
  auto entries = door.list(dir);
  if (!entries.ok()) return;  // no index yet
  for (const auto& e : *entries) {
    if (!S_ISREG(e.st.st_mode) || !is_lower_hex(e.name, 64)) continue;
    std::string object = cache.objects_rel() + "/" + e.name.substr(0, 2) + "/" + e.name.substr(2);
    if (!removed.count(door.display(object))) {
      auto there = door.lstat(object);
      if (!there.ok() || *there) continue;  // present (or unknown): kept
    }
    rep.actions.push_back({GcActionKind::xet_index, door.display(dir + "/" + e.name), "", "",
                           static_cast<uint64_t>(e.st.st_blocks) * 512});
  }
}

// Disk bytes are credited to the action that drops the last name of a dead inode.
void attribute_bytes(const CacheModel& m, const std::set<Inode>& live, GcReport& rep) {
  std::map<std::string, Inode> inode_of;
  for (const auto& r : m.repos) {
    for (const auto& b : r.blobs) inode_of[b.path] = b.inode;
  }
  for (const auto& o : m.objects) inode_of[o.path] = o.inode;
  std::set<Inode> credited;
  for (auto& a : rep.actions) {
    auto it = inode_of.find(a.path);
    if (it == inode_of.end() || live.count(it->second) || !credited.insert(it->second).second)
      continue;
    a.bytes = m.inodes.at(it->second).disk_bytes;
  }
}

// Ref first, then the snapshot folder is renamed out of the hub view in one step: an
// interrupted eviction leaves no ref pointing at a partial snapshot. Everything goes through
// the door: a folder on the way that is a link stops the eviction with an error naming it.
Status evict_revision(const CacheLayout& cache, const ModelRepo& r, const ModelRevision& rev) {
  const CacheDoor& door = cache.door();
  for (const auto& [name, content] : r.refs) {
    if (content == rev.info.commit) MB_TRY(door.unlink(r.dir + "/refs/" + name));
  }
  // Best effort: the refs folder may not exist (commit-pinned revisions have no ref).
  (void)door.fsync_dir(r.dir + "/refs");
  MB_TRY(door.make_dirs(cache.tmp_rel()));
  std::string trash = temp_path_for(cache.tmp_rel() + "/evict");
  if (auto there = door.lstat(rev.dir); there.ok() && *there) MB_TRY(door.rename(rev.dir, trash));
  MB_TRY(door.remove_tree(trash));
  MB_TRY(door.unlink(cache.trees_file(r.info.type, r.info.repo, rev.info.commit)));
  MB_TRY(door.unlink(cache.snapshot_meta_path(r.info.type, r.info.repo, rev.info.commit)));
  return {};
}

Status apply(const CacheLayout& cache, const CacheModel& m, const GcReport& rep) {
  const CacheDoor& door = cache.door();
  for (const auto& a : rep.actions) {
    if (a.kind != GcActionKind::evict_revision) continue;
    for (const auto& r : m.repos) {
      for (const auto& rev : r.revisions) {
        if (rev.dir == a.path) MB_TRY(evict_revision(cache, r, rev));
      }
    }
  }
  for (const auto& a : rep.actions) {
    if (a.kind == GcActionKind::evict_revision) continue;
    // Temps (files and links, never folders: see plan_temp_sweep), blobs and objects are
    // unlinked, never followed; read-only files in writable folders unlink fine.
    MB_TRY(door.unlink(a.path));
  }
  // Repo folders left without any snapshot are removed whole (refs first).
  for (const auto& r : m.repos) {
    bool any =
        std::any_of(r.revisions.begin(), r.revisions.end(), [](const auto& v) { return !v.evict; });
    if (any || r.revisions.empty()) continue;
    MB_TRY(door.remove_tree(r.dir + "/refs"));
    MB_TRY(door.remove_tree(r.dir));
    MB_TRY(door.remove_tree(std::string(CacheLayout::k_private_rel) + "/meta/" + r.info.folder));
  }
  return {};
}

Result<GcReport> run(const Store& store, CacheModel& m, const GcOptions& o, bool sweep_temp) {
  GcReport rep;
  rep.warnings = m.warnings;
  rep.disk_before = disk_all(m);
  if (sweep_temp) plan_temp_sweep(store.layout(), m, o, rep);
  for (const auto& r : m.repos) {  // revisions the caller chose (rm)
    for (const auto& rev : r.revisions) {
      if (rev.evict)
        rep.actions.push_back(
            {GcActionKind::evict_revision, rev.dir, r.info.repo, rev.info.commit, 0});
    }
  }
  if (o.max_size) plan_evictions(m, o, rep);
  std::set<Inode> live = live_inodes(m);
  plan_unreferenced(m, live, rep);
  plan_xet_indexes(store.layout(), m, rep);
  attribute_bytes(m, live, rep);
  rep.disk_after = disk_of(m, live);
  if (!o.dry_run) MB_TRY(apply(store.layout(), m, rep));
  return rep;
}

}  // namespace

Result<GcReport> gc_cache(const Store& store, const GcOptions& options) {
  MB_TRY(store.init());
  MB_ASSIGN(FileLock lock,
            store.lock_cache(options.dry_run ? LockMode::shared : LockMode::exclusive));
  MB_ASSIGN(CacheModel model, load_cache_model(store.layout()));
  return run(store, model, options, true);
}

Result<GcReport> remove_repo(const Store& store, RepoType type, const std::string& repo,
                             const std::string& revision, int64_t now) {
  MB_TRY(validate_repo_id(repo));
  if (!revision.empty()) MB_TRY(validate_revision(revision));
  MB_TRY(store.init());
  MB_ASSIGN(FileLock lock, store.lock_cache(LockMode::exclusive));
  MB_ASSIGN(CacheModel model, load_cache_model(store.layout()));
  std::string folder = repo_folder_name(type, repo);
  if (auto bad = model.unsafe.find(folder); bad != model.unsafe.end()) return fail(bad->second);
  auto it = std::find_if(model.repos.begin(), model.repos.end(),
                         [&](const ModelRepo& r) { return r.info.folder == folder; });
  if (it == model.repos.end()) {
    return fail(ErrorCategory::usage, repo + " is not in the cache " + store.layout().root(),
                "run `modelbake ls` to see what the cache holds");
  }
  std::string commit = revision;
  if (!revision.empty() && !is_lower_hex(revision, 40)) {
    auto ref = std::find_if(it->refs.begin(), it->refs.end(),
                            [&](const auto& r) { return r.first == revision; });
    if (ref == it->refs.end()) {
      return fail(ErrorCategory::usage, repo + " has no revision '" + revision + "' in the cache",
                  "run `modelbake ls` to see its revisions");
    }
    commit = ref->second;
  }
  bool found = false;
  for (auto& rev : it->revisions) {
    if (revision.empty() || rev.info.commit == commit) rev.evict = found = true;
  }
  if (!found && !revision.empty()) {
    return fail(ErrorCategory::usage, repo + "@" + revision + " has no snapshot in the cache",
                "run `modelbake ls` to see its revisions");
  }
  GcOptions o;
  o.now = now;
  std::string dir = it->dir;
  MB_ASSIGN(GcReport rep, run(store, model, o, false));
  if (revision.empty()) {
    // A repo without snapshots (only refs or blobs) is removed too.
    MB_TRY(store.layout().door().remove_tree(dir));
  }
  return rep;
}

Result<RepoTarget> parse_repo_target(const std::string& text) {
  RepoTarget t{text, ""};
  if (auto at = text.find('@'); at != std::string::npos) {
    t.repo = text.substr(0, at);
    t.revision = text.substr(at + 1);
    if (t.revision.empty()) {
      return fail(ErrorCategory::usage, "empty revision in '" + text + "'",
                  "use REPO or REPO@REVISION");
    }
  }
  return t;
}

}  // namespace mb::verify
