#include "verify/repair.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include "core/file.hpp"
#include "core/hash.hpp"
#include "lock/entry_match.hpp"

namespace mb::verify {

namespace {

bool inside(const std::string& path, const std::string& root) {
  return path.size() > root.size() && path.compare(0, root.size(), root) == 0 &&
         path[root.size()] == '/';
}

class Repairer {
 public:
  Repairer(const Store& store, RepairResult& out) : m_store(store), m_out(out) {
    m_root = store.layout().door().real_root();
  }

  // Everything is removed through the cache door: a link is removed itself (never followed),
  // a folder is walked by descriptors, a linked folder on the way is refused.
  Status remove(const std::string& path) {
    const CacheDoor& door = m_store.layout().door();
    MB_ASSIGN(auto st, door.lstat(path));
    if (!st) return {};
    MB_TRY(S_ISDIR(st->st_mode) ? door.remove_tree(path) : door.unlink(path));
    m_out.removed.push_back(path);
    return {};
  }

  bool same_inode(const std::string& a, const std::string& b) const {
    const CacheDoor& door = m_store.layout().door();
    auto sa = door.lstat(a);
    auto sb = door.lstat(b);
    return sa.ok() && sb.ok() && *sa && *sb && S_ISREG((*sa)->st_mode) &&
           (*sa)->st_dev == (*sb)->st_dev && (*sa)->st_ino == (*sb)->st_ino;
  }

  // verify reports resolved paths below the canonical root; the door takes them below the
  // root as the layout spells it (which may be a link to the canonical one).
  std::string in_cache(const std::string& resolved) const {
    return m_store.layout().root() + resolved.substr(m_root.size());
  }

  // Corrupt content: the resolved file, and every cache name sharing its inode for this
  // file's blob and object, so nothing can link the bad bytes again.
  Status drop_content(const LockedModel& m, const LockedFile& f, const std::string& resolved) {
    const auto& layout = m_store.layout();
    std::string blob = layout.blob_path(m.type, m.repo, f.etag);
    std::string object = layout.object_path(f.sha256);
    if (!inside(resolved, m_root)) return {};  // not the cache's: never touched
    std::string own = in_cache(resolved);
    if (same_inode(blob, own)) MB_TRY(remove(blob));
    if (same_inode(object, own)) MB_TRY(remove(object));
    MB_TRY(remove(own));
    return {};
  }

  // Relinks from a present object after checking its bytes; otherwise asks for a fetch.
  Status restore(const LockedModel& m, const LockedFile& f) {
    std::string object = m_store.layout().object_path(f.sha256);
    if (m_store.has_object(f.sha256)) {
      EntryExpectation want = EntryExpectation::of(f);
      auto fd = m_store.layout().door().open_file(object, O_RDONLY);
      auto d = fd.ok() ? hash_fd(fd->get(), object, digests_needed(want))
                       : Result<FileDigests>(fd.take_error());
      bool good = d.ok() && match_entry(want, *d).ok();
      if (good) {
        std::string blob = m_store.layout().blob_path(m.type, m.repo, f.etag);
        if (!same_inode(blob, object)) MB_TRY(remove(blob));
        MB_TRY(m_store.publish_file(m, f));
        m_out.restored.push_back(m_store.layout().snapshot_file(m.type, m.repo, m.commit, f.path));
        return {};
      }
      MB_TRY(remove(object));
    }
    m_out.needs_fetch.insert(m.name);
    return {};
  }

  Status fix(const LockedModel& m, const Finding& x) {
    const auto& layout = m_store.layout();
    const LockedFile* f = x.path.empty() ? nullptr : m.find_file(x.path);
    switch (x.kind) {
      case FindingKind::missing_ref:
      case FindingKind::wrong_ref:
      case FindingKind::ref_newline:
        MB_TRY(m_store.write_ref(m));
        m_out.restored.push_back(layout.ref_path(m.type, m.repo, m.revision));
        return {};
      case FindingKind::stale_trees_file:
        return remove(layout.trees_file(m.type, m.repo, m.commit));
      case FindingKind::unexpected_entry: return remove(x.location);
      case FindingKind::planted_entry:  // refused before any fix (check_repo_dirs)
        return {};
      case FindingKind::missing_snapshot:
        for (const auto& file : m.files) MB_TRY(restore(m, file));
        return {};
      case FindingKind::missing_file:
      case FindingKind::dangling_link:
      case FindingKind::escaping_link:
      case FindingKind::not_regular_file:
        if (f == nullptr) return {};
        MB_TRY(remove(layout.snapshot_file(m.type, m.repo, m.commit, f->path)));
        return restore(m, *f);
      case FindingKind::size_mismatch:
      case FindingKind::digest_mismatch:
      case FindingKind::git_sha1_mismatch:
      case FindingKind::unreadable:
        if (f == nullptr) return {};
        MB_TRY(drop_content(m, *f, x.location));
        MB_TRY(remove(layout.snapshot_file(m.type, m.repo, m.commit, f->path)));
        return restore(m, *f);
    }
    return {};
  }

 private:
  const Store& m_store;
  RepairResult& m_out;
  std::string m_root;
};

}  // namespace

Result<RepairResult> repair_locally(const Store& store, const Lockfile& lock,
                                    const VerifyReport& report) {
  RepairResult out;
  Repairer r(store, out);
  for (const auto& x : report.findings) {
    const LockedModel* m = lock.find_model(x.model);
    if (m == nullptr) continue;
    // Nothing is removed through a planted folder link.
    MB_TRY(store.check_repo_dirs(m->type, m->repo, m->commit));
    auto st = r.fix(*m, x);
    if (!st.ok()) return st.take_error().with_context("repairing " + x.model);
  }
  return out;
}

}  // namespace mb::verify
