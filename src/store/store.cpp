#include "store/store.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <nlohmann/json.hpp>
#include <vector>

#include "core/hash.hpp"
#include "core/paths.hpp"

namespace mb {

namespace {

constexpr std::string_view k_cachedir_tag =
    "Signature: 8a477f597d28d172789f06886806bc55\n"
    "# This file is a cache directory tag created by modelbake.\n"
    "# For information about cache directory tags, see https://bford.info/cachedir/\n";

std::string parent_rel(std::string_view path) {
  size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? std::string() : std::string(path.substr(0, slash));
}

}  // namespace

// A regular file below the root (never through a link); its size when `size` is given.
bool Store::is_regular(const std::string& path, uint64_t* size, struct stat* out) const {
  auto st = m_layout.door().lstat(path);
  if (!st.ok() || !*st || !S_ISREG((*st)->st_mode)) return false;
  if (size) *size = static_cast<uint64_t>((*st)->st_size);
  if (out) *out = **st;
  return true;
}

Status Store::real_dirs(const std::string& rel) const {
  MB_ASSIGN(UniqueFd fd, m_layout.door().open_dir(rel, MissingDir::create));
  return {};
}

Status Store::move_into_place(const std::string& temp, const std::string& dest) const {
  const CacheDoor& door = m_layout.door();
  if (Status st = door.rename(temp, dest); !st.ok()) {
    (void)door.unlink(temp);
    return st;
  }
  // rename(2) between two names of one inode succeeds and does nothing: drop the temp name.
  return door.unlink(temp);
}

Status Store::init() const {
  MB_TRY(make_dirs(m_layout.root()));
  MB_TRY(migrate_legacy_private_dir());
  MB_TRY(real_dirs(m_layout.objects_rel()));
  MB_TRY(real_dirs(m_layout.tmp_rel()));
  MB_TRY(real_dirs(m_layout.locks_rel()));
  if (!is_regular("CACHEDIR.TAG")) {
    MB_TRY(m_layout.door().write_file_atomic("CACHEDIR.TAG", k_cachedir_tag));
  }
  return {};
}

Result<FileLock> Store::lock_cache(LockMode mode) const {
  return m_layout.door().lock(m_layout.lock_path("cache"), mode);
}

Result<FileLock> Store::lock_content(std::string_view key) const {
  return m_layout.door().lock(m_layout.lock_path("content-" + std::string(key)),
                              LockMode::exclusive);
}

bool Store::has_object(std::string_view sha256) const {
  return is_lower_hex(sha256, 64) && is_regular(m_layout.object_path(sha256));
}

Status Store::adopt_object(const std::string& temp_path, std::string_view sha256) const {
  if (!is_lower_hex(sha256, 64)) return fail(ErrorCategory::integrity, "bad sha256 for object");
  const CacheDoor& door = m_layout.door();
  std::string dest = m_layout.object_path(sha256);
  if (is_regular(dest)) return door.unlink(temp_path);
  std::string fanout = m_layout.objects_rel() + "/" + std::string(sha256.substr(0, 2));
  MB_TRY(real_dirs(fanout));
  {
    // Objects are immutable: read-only so that a stray writer cannot corrupt every repo that
    // shares the content through a hard link. fchmod on the descriptor: a planted link at the
    // temp's name is refused, never followed.
    MB_ASSIGN(UniqueFd fd, door.open_file(temp_path, O_RDONLY));
    if (::fchmod(fd.get(), 0444) != 0) return errno_error("chmod " + temp_path, errno);
  }
  MB_TRY(door.rename(temp_path, dest));
  return door.fsync_dir(fanout);
}

Status Store::check_repo_dirs(RepoType type, std::string_view repo, std::string_view commit) const {
  const CacheDoor& door = m_layout.door();
  std::string folder = repo_folder_name(type, repo);
  for (const char* sub : {"", "/blobs", "/snapshots", "/refs"}) {
    MB_ASSIGN(UniqueFd fd, door.open_dir(folder + sub, MissingDir::ok));
    if (!fd.valid()) break;
  }
  if (!commit.empty()) {
    MB_ASSIGN(UniqueFd fd,
              door.open_dir(folder + "/snapshots/" + std::string(commit), MissingDir::ok));
  }
  return {};
}

Status Store::link_blob(const LockedModel& m, const LockedFile& f) const {
  const CacheDoor& door = m_layout.door();
  std::string blob = m_layout.blob_path(m.type, m.repo, f.etag);
  std::string object = m_layout.object_path(f.sha256);
  MB_TRY(real_dirs(repo_folder_name(m.type, m.repo) + "/blobs"));
  uint64_t size = 0;
  struct stat a {
  }, b{};
  if (is_regular(blob, &size, &a) && size == f.size && is_regular(object, nullptr, &b) &&
      a.st_ino == b.st_ino && a.st_dev == b.st_dev) {
    return {};
  }
  // The new name is made in tmp/ and renamed over blobs/<etag>: blobs/ never holds a temp.
  std::string temp = new_temp_path("blob-link");
  if (Status st = door.hard_link(object, temp); !st.ok()) {
    if (st.error().category == ErrorCategory::integrity) return st;  // a planted entry
    if (!is_regular(object)) return fail(ErrorCategory::io, "object missing for " + f.path);
    MB_TRY(door.copy_file(object, temp));  // filesystems without hard links: a copy
  }
  return move_into_place(temp, blob);
}

Status Store::link_snapshot_file(const LockedModel& m, const LockedFile& f) const {
  MB_TRY(validate_relative_path(f.path, "file path"));
  if (!is_commit_name(m.commit)) return fail(ErrorCategory::integrity, "bad commit " + m.commit);
  const CacheDoor& door = m_layout.door();
  std::string link = m_layout.snapshot_file(m.type, m.repo, m.commit, f.path);
  std::string target = CacheLayout::snapshot_link_target(f.path, f.etag);
  std::string dir = repo_folder_name(m.type, m.repo) + "/snapshots/" + m.commit;
  MB_TRY(real_dirs(dir + "/" + parent_rel(f.path)));
  auto st = door.lstat(link);
  if (st.ok() && *st && S_ISLNK((*st)->st_mode)) {
    auto current = door.read_link(link);
    if (current.ok() && *current && **current == target) return {};
  }
  return door.publish_symlink(target, link, new_temp_path("snapshot-link"));
}

Status Store::write_ref(const LockedModel& m) const {
  if (m.revision == m.commit) return {};
  const CacheDoor& door = m_layout.door();
  std::string path = m_layout.ref_path(m.type, m.repo, m.revision);
  std::string refs = repo_folder_name(m.type, m.repo) + "/refs/" + parent_rel(m.revision);
  MB_TRY(real_dirs(refs));
  if (is_regular(path)) {
    auto current = door.read_file(path, 1024);
    if (current.ok() && *current == m.commit) return {};
  }
  // Complete and fsynced in tmp/ first, then one rename into refs/.
  std::string temp = new_temp_path("ref");
  MB_TRY(door.write_file_atomic(temp, m.commit));
  MB_TRY(move_into_place(temp, path));
  return door.fsync_dir(refs);
}

Status Store::publish_file(const LockedModel& m, const LockedFile& f) const {
  MB_TRY(link_blob(m, f));
  return link_snapshot_file(m, f);
}

Result<size_t> Store::remove_snapshot_leftovers(const LockedModel& m) const {
  MB_TRY(check_repo_dirs(m.type, m.repo, m.commit));
  const CacheDoor& door = m_layout.door();
  std::string snap = repo_folder_name(m.type, m.repo) + "/snapshots/" + m.commit;
  size_t removed = 0;
  // Folders are entered through the door (never a link); temp-named links are removed.
  std::vector<std::string> todo{""};
  while (!todo.empty()) {
    std::string rel = todo.back();
    todo.pop_back();
    MB_ASSIGN(auto entries, door.list(rel.empty() ? snap : snap + "/" + rel));
    for (const auto& e : entries) {
      std::string sub = rel.empty() ? e.name : rel + "/" + e.name;
      if (S_ISDIR(e.st.st_mode)) {
        todo.push_back(sub);
      } else if (S_ISLNK(e.st.st_mode) && temp_kind(e.name) == TempKind::ours &&
                 !m.find_file(sub)) {
        MB_TRY(door.unlink(snap + "/" + sub));
        removed++;
      }
    }
  }
  return removed;
}

Status Store::record_snapshot_use(const LockedModel& m, int64_t unix_now, bool fetched) const {
  const CacheDoor& door = m_layout.door();
  std::string path = m_layout.snapshot_meta_path(m.type, m.repo, m.commit);
  MB_TRY(real_dirs(std::string(CacheLayout::k_private_rel) + "/meta/" +
                   repo_folder_name(m.type, m.repo)));
  nlohmann::json meta = nlohmann::json::object();
  if (auto text = door.read_file(path, 1 << 20); text.ok()) {
    meta = nlohmann::json::parse(*text, nullptr, false);
    if (meta.is_discarded() || !meta.is_object()) meta = nlohmann::json::object();
  }
  if (fetched || !meta.contains("fetched_at")) meta["fetched_at"] = unix_now;
  meta["last_used"] = unix_now;
  meta["repo"] = m.repo;
  meta["type"] = to_string(m.type);
  meta["commit"] = m.commit;
  return door.write_file_atomic(path, meta.dump() + "\n");
}

Status Store::record_snapshot_access(const LockedModel& m, const std::string& access) const {
  std::string path = m_layout.snapshot_meta_path(m.type, m.repo, m.commit);
  MB_TRY(real_dirs(std::string(CacheLayout::k_private_rel) + "/meta/" +
                   repo_folder_name(m.type, m.repo)));
  nlohmann::json meta = nlohmann::json::object();
  if (auto text = read_file(path, 1 << 20); text.ok()) {
    meta = nlohmann::json::parse(*text, nullptr, false);
    if (meta.is_discarded() || !meta.is_object()) meta = nlohmann::json::object();
  }
  meta["access"] = access;
  return write_file_atomic(path, meta.dump() + "\n");
}

std::string snapshot_access(const CacheLayout& layout, RepoType type, const std::string& repo,
                            const std::string& commit) {
  auto text = read_file(layout.snapshot_meta_path(type, repo, commit), 1 << 20);
  if (!text.ok()) return "";
  auto meta = nlohmann::json::parse(*text, nullptr, false);
  if (!meta.is_object() || !meta.contains("access") || !meta["access"].is_string()) return "";
  return meta["access"].get<std::string>();
}

Status Store::save_xet_index(std::string_view sha256, std::string_view text) const {
  if (!is_lower_hex(sha256, 64)) return fail(ErrorCategory::usage, "bad object name");
  std::string dir = std::string(CacheLayout::k_private_rel) + "/xet";
  MB_TRY(m_layout.door().make_dirs(dir));
  return m_layout.door().write_file_atomic(dir + "/" + std::string(sha256), text);
}

std::vector<std::string> Store::xet_indexed_objects() const {
  std::vector<std::string> out;
  auto entries = m_layout.door().list(std::string(CacheLayout::k_private_rel) + "/xet");
  if (!entries.ok()) return out;
  for (const auto& e : *entries) {
    if (S_ISREG(e.st.st_mode) && is_lower_hex(e.name, 64) && has_object(e.name))
      out.push_back(e.name);
  }
  return out;
}

Result<std::string> Store::read_xet_index(std::string_view sha256) const {
  if (!is_lower_hex(sha256, 64)) return fail(ErrorCategory::usage, "bad object name");
  return m_layout.door().read_file(
      std::string(CacheLayout::k_private_rel) + "/xet/" + std::string(sha256), 256ull << 20);
}

std::string Store::new_temp_path(std::string_view key) const {
  return temp_path_for(m_layout.tmp_dir() + "/" + std::string(key));
}

}  // namespace mb
