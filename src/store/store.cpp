#include "store/store.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <vector>

#include "core/hash.hpp"
#include "core/paths.hpp"
#include "store/safe_dirs.hpp"

namespace fs = std::filesystem;

namespace mb {

namespace {

constexpr std::string_view k_cachedir_tag =
    "Signature: 8a477f597d28d172789f06886806bc55\n"
    "# This file is a cache directory tag created by modelbake.\n"
    "# For information about cache directory tags, see https://bford.info/cachedir/\n";

bool is_regular_file(const std::string& path, uint64_t* size = nullptr) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return false;
  if (size) *size = static_cast<uint64_t>(st.st_size);
  return true;
}

std::string parent_rel(std::string_view path) {
  size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? std::string() : std::string(path.substr(0, slash));
}

}  // namespace

Status Store::real_dirs(const std::string& rel) const {
  return check_real_dirs(m_layout.root(), rel, MissingDir::create);
}

Status Store::move_into_place(const std::string& temp, const std::string& dest) const {
  if (::rename(temp.c_str(), dest.c_str()) != 0) {
    int err = errno;
    ::unlink(temp.c_str());
    return errno_error("renaming into " + dest, err);
  }
  // rename(2) between two names of one inode succeeds and does nothing: drop the temp name.
  ::unlink(temp.c_str());
  return {};
}

Status Store::init() const {
  MB_TRY(make_dirs(m_layout.root()));
  MB_TRY(migrate_legacy_private_dir());
  MB_TRY(real_dirs(m_layout.objects_rel()));
  MB_TRY(real_dirs(m_layout.tmp_rel()));
  MB_TRY(real_dirs(m_layout.locks_rel()));
  std::string tag = m_layout.root() + "/CACHEDIR.TAG";
  if (!is_regular_file(tag)) MB_TRY(write_file_atomic(tag, k_cachedir_tag));
  return {};
}

Result<FileLock> Store::lock_cache(LockMode mode) const {
  return FileLock::acquire(m_layout.lock_path("cache"), mode);
}

Result<FileLock> Store::lock_content(std::string_view key) const {
  return FileLock::acquire(m_layout.lock_path("content-" + std::string(key)), LockMode::exclusive);
}

bool Store::has_object(std::string_view sha256) const {
  return is_lower_hex(sha256, 64) && is_regular_file(m_layout.object_path(sha256));
}

Status Store::adopt_object(const std::string& temp_path, std::string_view sha256) const {
  if (!is_lower_hex(sha256, 64)) return fail(ErrorCategory::integrity, "bad sha256 for object");
  std::string dest = m_layout.object_path(sha256);
  if (is_regular_file(dest)) {
    ::unlink(temp_path.c_str());
    return {};
  }
  std::string dir = fs::path(dest).parent_path().string();
  MB_TRY(real_dirs(m_layout.objects_rel() + "/" + std::string(sha256.substr(0, 2))));
  // Objects are immutable: read-only so that a stray writer cannot corrupt every repo
  // that shares the content through a hard link.
  ::chmod(temp_path.c_str(), 0444);
  if (::rename(temp_path.c_str(), dest.c_str()) != 0)
    return errno_error("publishing object", errno);
  return fsync_dir(dir);
}

Status Store::check_repo_dirs(RepoType type, std::string_view repo, std::string_view commit) const {
  std::string folder = repo_folder_name(type, repo);
  MB_TRY(check_real_dirs(m_layout.root(), folder, MissingDir::ok));
  for (const char* sub : {"/blobs", "/snapshots", "/refs"}) {
    MB_TRY(check_real_dirs(m_layout.root(), folder + sub, MissingDir::ok));
  }
  if (!commit.empty()) {
    MB_TRY(check_real_dirs(m_layout.root(), folder + "/snapshots/" + std::string(commit),
                           MissingDir::ok));
  }
  return {};
}

Status Store::link_blob(const LockedModel& m, const LockedFile& f) const {
  std::string blob = m_layout.blob_path(m.type, m.repo, f.etag);
  std::string object = m_layout.object_path(f.sha256);
  MB_TRY(real_dirs(repo_folder_name(m.type, m.repo) + "/blobs"));
  uint64_t size = 0;
  if (is_regular_file(blob, &size) && size == f.size) {
    struct stat a {
    }, b{};
    if (::stat(blob.c_str(), &a) == 0 && ::stat(object.c_str(), &b) == 0 && a.st_ino == b.st_ino) {
      return {};
    }
  }
  // The new name is made in tmp/ and renamed over blobs/<etag>: blobs/ never holds a temp.
  std::string temp = new_temp_path("blob-link");
  if (::link(object.c_str(), temp.c_str()) != 0) {
    if (errno == ENOENT) return fail(ErrorCategory::io, "object missing for " + f.path);
    MB_TRY(copy_file_synced(object, temp));  // filesystems without hard links: a copy
  }
  return move_into_place(temp, blob);
}

Status Store::link_snapshot_file(const LockedModel& m, const LockedFile& f) const {
  MB_TRY(validate_relative_path(f.path, "file path"));
  std::string link = m_layout.snapshot_file(m.type, m.repo, m.commit, f.path);
  std::string target = CacheLayout::snapshot_link_target(f.path, f.etag);
  std::string dir = repo_folder_name(m.type, m.repo) + "/snapshots/" + m.commit;
  MB_TRY(real_dirs(dir + "/" + parent_rel(f.path)));
  std::error_code ec;
  if (fs::is_symlink(link, ec) && fs::read_symlink(link, ec).string() == target) return {};
  std::string temp = new_temp_path("snapshot-link");
  if (::symlink(target.c_str(), temp.c_str()) != 0) {
    return errno_error("creating a link in " + m_layout.tmp_dir(), errno);
  }
  if (::rename(temp.c_str(), link.c_str()) == 0) return {};
  int err = errno;
  ::unlink(temp.c_str());
  // A repo folder on another filesystem than the cache root (a mount): only a temp next to
  // the link can be renamed over it.
  if (err == EXDEV) return replace_symlink(target, link);
  return errno_error("linking " + link, err);
}

Status Store::write_ref(const LockedModel& m) const {
  if (m.revision == m.commit) return {};
  std::string path = m_layout.ref_path(m.type, m.repo, m.revision);
  MB_TRY(real_dirs(repo_folder_name(m.type, m.repo) + "/refs/" + parent_rel(m.revision)));
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
    auto current = read_file(path, 1024);
    if (current.ok() && *current == m.commit) return {};
  }
  // Complete and fsynced in tmp/ first, then one rename into refs/.
  std::string temp = new_temp_path("ref");
  MB_TRY(write_file_atomic(temp, m.commit));
  MB_TRY(move_into_place(temp, path));
  return fsync_dir(fs::path(path).parent_path().string());
}

Status Store::publish_file(const LockedModel& m, const LockedFile& f) const {
  MB_TRY(link_blob(m, f));
  return link_snapshot_file(m, f);
}

Result<size_t> Store::remove_snapshot_leftovers(const LockedModel& m) const {
  MB_TRY(check_repo_dirs(m.type, m.repo, m.commit));
  std::string snap = m_layout.snapshot_dir(m.type, m.repo, m.commit);
  std::vector<std::string> doomed;
  std::error_code ec;
  // The iterator does not enter linked folders; the snapshot folder itself was checked above.
  for (auto it = fs::recursive_directory_iterator(snap, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    std::string rel = it->path().lexically_relative(snap).string();
    bool temp = is_sibling_temp_name(it->path().filename().string());
    if (temp && it->is_symlink(ec) && !m.find_file(rel)) doomed.push_back(it->path().string());
  }
  for (const auto& p : doomed) {
    if (::unlink(p.c_str()) != 0 && errno != ENOENT) return errno_error("removing " + p, errno);
  }
  return doomed.size();
}

Status Store::record_snapshot_use(const LockedModel& m, int64_t unix_now, bool fetched) const {
  std::string path = m_layout.snapshot_meta_path(m.type, m.repo, m.commit);
  MB_TRY(real_dirs(std::string(CacheLayout::k_private_rel) + "/meta/" +
                   repo_folder_name(m.type, m.repo)));
  nlohmann::json meta = nlohmann::json::object();
  if (auto text = read_file(path, 1 << 20); text.ok()) {
    meta = nlohmann::json::parse(*text, nullptr, false);
    if (meta.is_discarded() || !meta.is_object()) meta = nlohmann::json::object();
  }
  if (fetched || !meta.contains("fetched_at")) meta["fetched_at"] = unix_now;
  meta["last_used"] = unix_now;
  meta["repo"] = m.repo;
  meta["type"] = to_string(m.type);
  meta["commit"] = m.commit;
  return write_file_atomic(path, meta.dump() + "\n");
}

Status Store::save_xet_index(std::string_view sha256, std::string_view text) const {
  if (!is_lower_hex(sha256, 64)) return fail(ErrorCategory::usage, "bad object name");
  MB_TRY(real_dirs(std::string(CacheLayout::k_private_rel) + "/xet"));
  return write_file_atomic(m_layout.private_dir() + "/xet/" + std::string(sha256), text);
}

std::vector<std::string> Store::xet_indexed_objects() const {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(m_layout.private_dir() + "/xet", ec)) {
    std::string name = e.path().filename().string();
    if (is_lower_hex(name, 64) && has_object(name)) out.push_back(name);
  }
  return out;
}

Result<std::string> Store::read_xet_index(std::string_view sha256) const {
  return read_file(m_layout.private_dir() + "/xet/" + std::string(sha256), 256ull << 20);
}

std::string Store::new_temp_path(std::string_view key) const {
  return temp_path_for(m_layout.tmp_dir() + "/" + std::string(key));
}

}  // namespace mb
