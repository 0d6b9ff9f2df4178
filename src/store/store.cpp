#include "store/store.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/hash.hpp"
#include "core/paths.hpp"

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

Status copy_file_atomic(const std::string& from, const std::string& to) {
  std::error_code ec;
  std::string temp = to + ".tmp." + random_suffix();
  fs::copy_file(from, temp, fs::copy_options::overwrite_existing, ec);
  if (ec) return errno_error("copying " + from, ec.value());
  if (::rename(temp.c_str(), to.c_str()) != 0) {
    int err = errno;
    ::unlink(temp.c_str());
    return errno_error("renaming to " + to, err);
  }
  return {};
}

}  // namespace

Status Store::init() const {
  MB_TRY(make_dirs(m_layout.objects_dir()));
  MB_TRY(make_dirs(m_layout.tmp_dir()));
  MB_TRY(make_dirs(m_layout.locks_dir()));
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
  MB_TRY(make_dirs(dir));
  // Objects are immutable: read-only so that a stray writer cannot corrupt every repo
  // that shares the content through a hard link.
  ::chmod(temp_path.c_str(), 0444);
  if (::rename(temp_path.c_str(), dest.c_str()) != 0) return errno_error("publishing object", errno);
  return fsync_dir(dir);
}

Status Store::link_blob(const LockedModel& m, const LockedFile& f) const {
  std::string blob = m_layout.blob_path(m.type, m.repo, f.etag);
  std::string object = m_layout.object_path(f.sha256);
  uint64_t size = 0;
  if (is_regular_file(blob, &size) && size == f.size) {
    struct stat a {}, b {};
    if (::stat(blob.c_str(), &a) == 0 && ::stat(object.c_str(), &b) == 0 && a.st_ino == b.st_ino) {
      return {};
    }
  }
  MB_TRY(make_dirs(fs::path(blob).parent_path().string()));
  std::string temp = blob + ".tmp." + random_suffix();
  if (::link(object.c_str(), temp.c_str()) != 0) {
    if (errno == ENOENT) return fail(ErrorCategory::io, "object missing for " + f.path);
    MB_TRY(copy_file_atomic(object, blob));  // filesystems without hard links
    return {};
  }
  if (::rename(temp.c_str(), blob.c_str()) != 0) {
    int err = errno;
    ::unlink(temp.c_str());
    return errno_error("linking blob " + blob, err);
  }
  return {};
}

Status Store::link_snapshot_file(const LockedModel& m, const LockedFile& f) const {
  MB_TRY(validate_relative_path(f.path, "file path"));
  std::string link = m_layout.snapshot_file(m.type, m.repo, m.commit, f.path);
  std::string target = CacheLayout::snapshot_link_target(f.path, f.etag);
  std::error_code ec;
  if (fs::is_symlink(link, ec) && fs::read_symlink(link, ec).string() == target) return {};
  return replace_symlink(target, link);
}

Status Store::write_ref(const LockedModel& m) const {
  if (m.revision == m.commit) return {};
  std::string path = m_layout.ref_path(m.type, m.repo, m.revision);
  auto current = read_file(path, 1024);
  if (current.ok() && *current == m.commit) return {};
  return write_file_atomic(path, m.commit);
}

Status Store::publish_file(const LockedModel& m, const LockedFile& f) const {
  MB_TRY(link_blob(m, f));
  return link_snapshot_file(m, f);
}

bool Store::file_looks_complete(const LockedModel& m, const LockedFile& f) const {
  if (!validate_relative_path(f.path, "file path").ok()) return false;
  std::string link = m_layout.snapshot_file(m.type, m.repo, m.commit, f.path);
  std::error_code ec;
  auto resolved = fs::canonical(link, ec);
  if (ec) return false;
  auto root = fs::canonical(m_layout.root(), ec);
  if (ec) return false;
  std::string r = resolved.string(), base = root.string() + "/";
  if (r.compare(0, base.size(), base) != 0) return false;  // escapes the cache
  uint64_t size = 0;
  return is_regular_file(r, &size) && size == f.size;
}

Status Store::record_snapshot_use(const LockedModel& m, int64_t unix_now, bool fetched) const {
  std::string path = m_layout.snapshot_meta_path(m.type, m.repo, m.commit);
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

std::string Store::new_temp_path(std::string_view key) const {
  return m_layout.tmp_dir() + "/" + std::string(key) + "." + random_suffix() + ".tmp";
}

}  // namespace mb
