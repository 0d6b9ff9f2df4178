#include "serve/catalog.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "core/hash.hpp"
#include "core/log.hpp"
#include "core/paths.hpp"
#include "lock/entry_match.hpp"

namespace mb::serve {

namespace {

constexpr size_t k_max_verified = 200000;  // memo bound; cleared when reached

HubError not_found(const char* code, std::string message) {
  return HubError{404, code, std::move(message)};
}

}  // namespace

// A real folder below the cache root; a link on the way (a linked repo folder publishing
// another cache) makes it absent.
bool Catalog::is_dir(const std::string& path) const {
  auto fd = m_layout.door().open_dir(path, MissingDir::ok);
  return fd.ok() && fd->valid();
}

bool Catalog::has_repo(RepoType type, const std::string& repo) const {
  return is_dir(m_layout.repo_dir(type, repo) + "/snapshots");
}

std::optional<HubError> Catalog::resolve(RepoType type, const std::string& repo,
                                         const std::string& revision, std::string& commit) const {
  if (!has_repo(type, repo)) return not_found("RepoNotFound", "Repository Not Found: " + repo);
  std::string candidate;
  if (is_lower_hex(revision, 40)) {
    candidate = revision;
  } else {
    auto text = m_layout.door().read_file(m_layout.ref_path(type, repo, revision), 128);
    if (text.ok()) {
      candidate = *text;
    } else if (revision.size() >= 7 && revision.size() < 40 &&
               is_lower_hex(revision, revision.size())) {
      candidate = unique_commit_prefix(type, repo, revision);
    }
  }
  if (!is_lower_hex(candidate, 40) || !is_dir(m_layout.snapshot_dir(type, repo, candidate))) {
    return not_found("RevisionNotFound", "Invalid rev id: " + revision);
  }
  commit = candidate;
  return std::nullopt;
}

std::string Catalog::unique_commit_prefix(RepoType type, const std::string& repo,
                                          const std::string& prefix) const {
  // A short commit, as the hub resolves it: the one snapshot it starts, if only one does.
  std::string found;
  auto entries = m_layout.door().list(repo_folder_name(type, repo) + "/snapshots");
  if (!entries.ok()) return "";
  for (const auto& e : *entries) {
    const std::string& name = e.name;
    if (!S_ISDIR(e.st.st_mode) || !is_lower_hex(name, 40) ||
        name.compare(0, prefix.size(), prefix) != 0)
      continue;
    if (!found.empty()) return "";  // ambiguous
    found = name;
  }
  return found;
}

std::optional<Entry> Catalog::servable(const std::string& snapshot_rel,
                                       const std::string& rel) const {
  const CacheDoor& door = m_layout.door();
  auto etag = door.snapshot_blob(snapshot_rel + "/" + rel);
  if (!etag.ok() || !*etag) return std::nullopt;
  // snapshot_rel is "<repo folder>/snapshots/<commit>": the blob is in the same repo folder.
  std::string repo_folder = snapshot_rel.substr(0, snapshot_rel.find('/'));
  auto st = door.lstat(repo_folder + "/blobs/" + **etag);
  if (!st.ok() || !*st || !S_ISREG((*st)->st_mode)) return std::nullopt;
  return Entry{rel, **etag, static_cast<uint64_t>((*st)->st_size)};
}

std::vector<Entry> Catalog::list(RepoType type, const std::string& repo,
                                 const std::string& commit) const {
  std::vector<Entry> out;
  if (!is_lower_hex(commit, 40)) return out;
  const CacheDoor& door = m_layout.door();
  std::string snap = repo_folder_name(type, repo) + "/snapshots/" + commit;
  // Folders are entered through the door only: a snapshot folder holds real folders only.
  std::vector<std::string> todo{""};
  while (!todo.empty()) {
    std::string dir = todo.back();
    todo.pop_back();
    auto entries = door.list(dir.empty() ? snap : snap + "/" + dir);
    if (!entries.ok()) continue;
    for (const auto& d : *entries) {
      std::string rel = dir.empty() ? d.name : dir + "/" + d.name;
      if (S_ISDIR(d.st.st_mode)) {
        if (todo.size() < 100000) todo.push_back(rel);
        continue;
      }
      if (!S_ISLNK(d.st.st_mode)) continue;
      if (!validate_relative_path(rel, "snapshot entry").ok()) continue;
      if (auto e = servable(snap, rel)) out.push_back(std::move(*e));
    }
  }
  std::sort(out.begin(), out.end(), [](const Entry& a, const Entry& b) { return a.path < b.path; });
  return out;
}

std::optional<HubError> Catalog::find(RepoType type, const std::string& repo,
                                      const std::string& commit, const std::string& path,
                                      Entry& out) const {
  std::optional<Entry> e;
  if (is_lower_hex(commit, 40) && validate_relative_path(path, "path").ok()) {
    e = servable(repo_folder_name(type, repo) + "/snapshots/" + commit, path);
  }
  if (!e) return not_found("EntryNotFound", path + " does not exist at " + commit);
  out = std::move(*e);
  return std::nullopt;
}

bool Catalog::verified(int fd, const Entry& e) {
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
      static_cast<uint64_t>(st.st_size) != e.size) {
    return false;
  }
  InodeKey key{st.st_dev, st.st_ino, st.st_size,
               st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec,
               st.st_ctim.tv_sec * 1000000000LL + st.st_ctim.tv_nsec};
  {
    std::lock_guard<std::mutex> g(m_mutex);
    auto it = m_verified.find(key);
    if (it != m_verified.end()) return it->second == e.etag;
  }
  bool ok = false;
  auto obj = e.is_lfs() ? m_layout.door().lstat(m_layout.object_path(e.etag))
                        : Result<std::optional<struct stat>>(std::optional<struct stat>());
  if (obj.ok() && *obj && S_ISREG((*obj)->st_mode) && (*obj)->st_dev == st.st_dev &&
      (*obj)->st_ino == st.st_ino) {
    ok = true;  // the store's object: adopted only after its sha256 was checked
  } else {
    // A blob that is a copy (filesystems without hard links, hand-made caches) or a regular
    // file (git sha1 etag): hash it once through the open descriptor.
    EntryExpectation want{e.size, "", e.etag};
    auto d = hash_file("/proc/self/fd/" + std::to_string(fd), digests_needed(want));
    ok = d.ok() && match_entry(want, *d).ok();
    std::lock_guard<std::mutex> g(m_mutex);
    ++m_hashes;
    // A read error proves nothing either way: try again next time.
    if (!d.ok()) return false;
  }
  // The verdict either way: a blob that failed is not hashed again on every request (a
  // repair replaces the inode, or changes its mtime, and so the key).
  std::lock_guard<std::mutex> g(m_mutex);
  if (m_verified.size() >= k_max_verified) m_verified.clear();
  m_verified[key] = ok ? e.etag : std::string();
  return ok;
}

std::optional<HubError> Catalog::open_verified(RepoType type, const std::string& repo,
                                               const std::string& commit, const std::string& path,
                                               OpenedFile& out) {
  Entry e;
  if (auto err = find(type, repo, commit, path, e)) return err;
  std::string blob = m_layout.blob_path(type, repo, e.etag);
  // Through the door: no link on the way (repo folder, blobs/) nor at the blob itself.
  auto opened = m_layout.door().open_file(blob, O_RDONLY);
  if (!opened.ok()) return not_found("EntryNotFound", path + " does not exist at " + commit);
  UniqueFd guard = std::move(opened).value();
  if (!verified(guard.get(), e)) {
    log::warn("serve: " + repo + "/" + path + ": blob " + e.etag +
              " does not hold its content; not served (run modelbake verify --repair)");
    return HubError{500, "", "content of " + path + " failed verification on the mirror"};
  }
  out.entry = std::move(e);
  out.fd = std::move(guard);
  return std::nullopt;
}

std::vector<RepoId> Catalog::repos() const {
  std::vector<RepoId> out;
  auto entries = m_layout.door().list("");
  for (const auto& d : entries.ok() ? *entries : std::vector<DoorEntry>{}) {
    if (!S_ISDIR(d.st.st_mode)) continue;  // a linked repo folder is not published
    const std::string& name = d.name;
    for (RepoType t : {RepoType::model, RepoType::dataset}) {
      std::string prefix = std::string(to_string(t)) + "s--";
      if (name.rfind(prefix, 0) != 0) continue;
      std::string id = name.substr(prefix.size());
      size_t sep = id.find("--");
      if (sep != std::string::npos) id = id.substr(0, sep) + "/" + id.substr(sep + 2);
      if (validate_repo_id(id).ok() && has_repo(t, id)) out.push_back({t, id});
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

uint64_t Catalog::hashes_done() const {
  std::lock_guard<std::mutex> g(m_mutex);
  return m_hashes;
}

}  // namespace mb::serve
