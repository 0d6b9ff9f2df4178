#include "serve/catalog.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <filesystem>

#include "core/hash.hpp"
#include "core/log.hpp"
#include "core/paths.hpp"

namespace fs = std::filesystem;

namespace mb::serve {

namespace {

constexpr size_t k_max_verified = 200000;  // memo bound; cleared when reached

std::optional<std::string> real_path(const std::string& p) {
  char buf[PATH_MAX];
  if (::realpath(p.c_str(), buf) == nullptr) return std::nullopt;
  return std::string(buf);
}

bool is_dir(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

HubError not_found(const char* code, std::string message) {
  return HubError{404, code, std::move(message)};
}

}  // namespace

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
    auto text = read_file(m_layout.ref_path(type, repo, revision), 128);
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
  std::error_code ec;
  for (const auto& d : fs::directory_iterator(m_layout.repo_dir(type, repo) + "/snapshots", ec)) {
    std::string name = d.path().filename().string();
    if (!is_lower_hex(name, 40) || name.compare(0, prefix.size(), prefix) != 0) continue;
    if (!found.empty()) return "";  // ambiguous
    found = name;
  }
  return found;
}

std::optional<Entry> Catalog::servable(const std::string& repo_dir_real, const std::string& link,
                                       const std::string& rel) const {
  struct stat lst {};
  if (::lstat(link.c_str(), &lst) != 0 || !S_ISLNK(lst.st_mode)) return std::nullopt;
  auto target = real_path(link);
  if (!target) return std::nullopt;
  std::string blobs = repo_dir_real + "/blobs/";
  if (target->compare(0, blobs.size(), blobs) != 0) return std::nullopt;
  std::string etag = target->substr(blobs.size());
  if (!is_lower_hex(etag, 40) && !is_lower_hex(etag, 64)) return std::nullopt;
  struct stat st {};
  if (::stat(target->c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
  return Entry{rel, etag, static_cast<uint64_t>(st.st_size)};
}

std::vector<Entry> Catalog::list(RepoType type, const std::string& repo,
                                 const std::string& commit) const {
  std::vector<Entry> out;
  auto repo_real = real_path(m_layout.repo_dir(type, repo));
  std::string root = m_layout.snapshot_dir(type, repo, commit);
  if (!repo_real) return out;
  std::error_code ec;
  // Does not follow directory symlinks: a snapshot folder holds real folders only.
  fs::recursive_directory_iterator it(root, ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    if (!it->is_symlink(ec)) continue;
    std::string rel = it->path().lexically_relative(root).string();
    if (!validate_relative_path(rel, "snapshot entry").ok()) continue;
    if (auto e = servable(*repo_real, it->path().string(), rel)) out.push_back(std::move(*e));
  }
  std::sort(out.begin(), out.end(), [](const Entry& a, const Entry& b) { return a.path < b.path; });
  return out;
}

std::optional<HubError> Catalog::find(RepoType type, const std::string& repo,
                                      const std::string& commit, const std::string& path,
                                      Entry& out) const {
  auto repo_real = real_path(m_layout.repo_dir(type, repo));
  std::optional<Entry> e;
  if (repo_real) e = servable(*repo_real, m_layout.snapshot_file(type, repo, commit, path), path);
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
  struct stat obj {};
  if (e.is_lfs() && ::stat(m_layout.object_path(e.etag).c_str(), &obj) == 0 &&
      obj.st_dev == st.st_dev && obj.st_ino == st.st_ino) {
    ok = true;  // the store's object: adopted only after its sha256 was checked
  } else {
    // A blob that is a copy (filesystems without hard links, hand-made caches) or a regular
    // file (git sha1 etag): hash it once through the open descriptor.
    auto d = hash_file("/proc/self/fd/" + std::to_string(fd),
                       e.is_lfs() ? WithGitSha1::no : WithGitSha1::yes);
    ok = d.ok() && (e.is_lfs() ? d->sha256 == e.etag : d->git_sha1 == e.etag);
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
  int fd = ::open(blob.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return not_found("EntryNotFound", path + " does not exist at " + commit);
  UniqueFd guard(fd);
  if (!verified(fd, e)) {
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
  std::error_code ec;
  for (const auto& d : fs::directory_iterator(m_layout.root(), ec)) {
    std::string name = d.path().filename().string();
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
