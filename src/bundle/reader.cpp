#include "bundle/reader.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <vector>

#include "core/async_hasher.hpp"
#include "core/file.hpp"
#include "core/hash.hpp"
#include "core/paths.hpp"
#include "core/text.hpp"

namespace fs = std::filesystem;

namespace mb::bundle {

namespace {

Failure hostile(const std::string& what) {
  return fail(ErrorCategory::integrity, "refusing bundle: " + what,
              "the bundle is damaged or was not made by 'modelbake export'");
}

std::string shown(std::string_view s) { return sanitize_for_display(s); }

struct ReadArchive {
  struct archive* a = archive_read_new();
  UniqueFd fd;  // the archive's file, read by libarchive
  ReadArchive() = default;
  ReadArchive(const ReadArchive&) = delete;
  ReadArchive& operator=(const ReadArchive&) = delete;
  ~ReadArchive() {
    if (a) archive_read_free(a);
  }
};

const char* archive_text(::archive* a, const char* fallback) {
  return archive_error_string(a) ? archive_error_string(a) : fallback;
}

Status open_archive(ReadArchive& ra, const std::string& path, const CacheDoor* door) {
  if (!ra.a) return fail(ErrorCategory::io, "cannot allocate an archive reader");
  // Only in-process decompressors: never let a bundle choose an external program.
  archive_read_support_format_tar(ra.a);
  archive_read_support_filter_zstd(ra.a);
  archive_read_support_filter_gzip(ra.a);
  archive_read_support_filter_xz(ra.a);
  MB_ASSIGN(ra.fd, open_bundle_file(door, path));
  if (archive_read_open_fd(ra.a, ra.fd.get(), 1 << 20) != ARCHIVE_OK) {
    return fail(ErrorCategory::usage,
                "cannot read " + path + " as a tar: " + archive_text(ra.a, "unknown format"),
                "import takes a directory, a tar, tar.zst, or an OCI layout (directory or tar)");
  }
  return {};
}

// The next entry (with a name), or nullptr at the end of the archive.
Result<archive_entry*> next_header(ReadArchive& ra) {
  archive_entry* e = nullptr;
  int r = archive_read_next_header(ra.a, &e);
  if (r == ARCHIVE_EOF) return nullptr;
  if (r < ARCHIVE_WARN)
    return hostile(std::string("damaged archive: ") + archive_text(ra.a, "bad header"));
  if (archive_entry_pathname(e) == nullptr) return hostile("entry without a name");
  return e;
}

bool named_lock(const std::string& path) {
  return path == k_lock_name ||
         (path.size() > k_lock_name.size() &&
          path.compare(path.size() - k_lock_name.size() - 1, std::string::npos,
                       "/" + std::string(k_lock_name)) == 0);
}

}  // namespace

Result<UniqueFd> open_bundle_file(const CacheDoor* door, const std::string& path) {
  if (door != nullptr && path.starts_with(door->root() + "/"))
    return door->open_file(path, O_RDONLY);
  return open_read(path);
}

Result<std::string> normalize_entry_path(std::string_view raw) {
  std::string p(raw);
  while (p.rfind("./", 0) == 0) p.erase(0, 2);
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  if (p.empty() || p == "." || p == "/") {
    if (!raw.empty() && raw.front() == '/') return hostile("absolute path '" + shown(raw) + "'");
    return std::string();
  }
  if (auto st = validate_relative_path(p, "path in bundle"); !st.ok())
    return hostile(st.error().message);
  return p;
}

Result<std::string> resolve_link(std::string_view link_path, std::string_view target) {
  if (target.empty()) return hostile("empty symlink target at '" + shown(link_path) + "'");
  if (target.front() == '/') {
    return hostile("symlink '" + shown(link_path) + "' points to an absolute path '" +
                   shown(target) + "'");
  }
  std::vector<std::string> parts;
  std::string_view dir = link_path.substr(
      0, link_path.rfind('/') == std::string_view::npos ? 0 : link_path.rfind('/'));
  auto push = [&](std::string_view s) -> bool {
    size_t start = 0;
    while (start <= s.size()) {
      size_t slash = s.find('/', start);
      std::string_view part =
          s.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
      if (part == "..") {
        if (parts.empty()) return false;
        parts.pop_back();
      } else if (!part.empty() && part != ".") {
        parts.emplace_back(part);
      }
      if (slash == std::string_view::npos) break;
      start = slash + 1;
    }
    return true;
  };
  if (!push(dir) || !push(target)) {
    return hostile("symlink '" + shown(link_path) + "' -> '" + shown(target) +
                   "' escapes the bundle");
  }
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : "/") + p;
  return out;
}

const BundleFile* EntrySet::find(const std::string& path) const {
  auto it = m_entries.find(path);
  return it == m_entries.end() ? nullptr : &it->second;
}

std::string EntrySet::next_temp() { return m_temp_dir + "/f" + std::to_string(m_counter++); }

Result<bool> EntrySet::precheck(const std::string& path, EntryKind kind, uint64_t size) {
  if (path.empty()) return false;  // the root: add() checks it
  auto it = m_scope_of.find(path);
  if (it != m_scope_of.end() && it->second == m_scope)
    return hostile("duplicate entry '" + shown(path) + "'");
  if (m_admit) MB_TRY(m_admit(path, kind, size));
  return it != m_scope_of.end();
}

Result<BundleFile> EntrySet::copy_in(int fd, ::archive* a, uint64_t size, const std::string& what,
                                     bool keep) {
  BundleFile f;
  f.kind = EntryKind::file;
  f.size = size;
  UniqueFd out;
  if (keep) {
    if (size > m_budget - m_written) {
      return hostile("'" + shown(what) + "' (" + std::to_string(size) +
                     " bytes) would make the bundle larger than its lock says (" +
                     std::to_string(m_budget) + " bytes)");
    }
    m_written += size;
    f.temp = next_temp();
    MB_ASSIGN(out, m_door->open_file(f.temp, O_WRONLY | O_CREAT | O_EXCL, 0600));
  }
  AsyncHasher sha(HashAlgo::sha256);  // overlaps the unpacking and writing
  std::optional<GitBlobHasher> git;
  if (size <= k_git_sha1_limit) git.emplace(size);
  WritebackPacer writeback(out.get());
  std::vector<char> buf(1 << 20);
  uint64_t total = 0;
  for (;;) {
    ssize_t n = 0;
    if (fd >= 0) {
      n = ::read(fd, buf.data(), buf.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return errno_error("reading " + what, errno);
    } else {
      n = archive_read_data(a, buf.data(), buf.size());
      if (n < 0)
        return hostile("cannot read '" + shown(what) + "': " +
                       (archive_error_string(a) ? archive_error_string(a) : "damaged archive"));
    }
    if (n == 0) break;
    total += static_cast<uint64_t>(n);
    if (total > size) return hostile("'" + shown(what) + "' is larger than its header says");
    sha.update(buf.data(), static_cast<size_t>(n));
    if (git) git->update(buf.data(), static_cast<size_t>(n));
    if (!keep) continue;
    MB_TRY(write_all(out.get(), buf.data(), static_cast<size_t>(n), f.temp));
    writeback.wrote(static_cast<uint64_t>(n));
  }
  if (total != size) return hostile("'" + shown(what) + "' is truncated");
  if (keep) {
    MB_TRY(fsync_fd(out.get(), f.temp));
    MB_TRY(out.close_checked(f.temp));
  }
  f.sha256 = sha.finish_hex();
  if (git) f.git_sha1 = git->finish_hex();
  return f;
}

Status EntrySet::add(const std::string& raw_path, BundleFile f) {
  MB_ASSIGN(std::string path, normalize_entry_path(raw_path));
  if (path.empty()) {
    if (f.kind != EntryKind::dir) return hostile("the bundle root is not a directory");
    return {};
  }
  if (f.kind == EntryKind::symlink) MB_TRY(resolve_link(path, f.link));
  auto it = m_entries.find(path);
  if (it == m_entries.end()) {
    m_scope_of[path] = m_scope;
    m_entries.emplace(path, std::move(f));
    return {};
  }
  if (m_scope_of[path] == m_scope) return hostile("duplicate entry '" + shown(path) + "'");
  const BundleFile& old = it->second;
  bool same =
      old.kind == f.kind && old.link == f.link && old.size == f.size && old.sha256 == f.sha256;
  if (!same) return hostile("'" + shown(path) + "' differs between layers");
  if (!f.temp.empty() && f.temp != old.temp) (void)m_door->unlink(f.temp);
  return {};
}

Status EntrySet::add_archive(const std::string& path) {
  ++m_scope;
  ReadArchive ra;
  MB_TRY(open_archive(ra, path, m_door));
  std::set<std::string> files_here;  // regular files of this archive, for hardlinks
  for (;;) {
    MB_ASSIGN(archive_entry * e, next_header(ra));
    if (e == nullptr) break;
    std::string raw = archive_entry_pathname(e);
    MB_ASSIGN(std::string norm, normalize_entry_path(raw));
    BundleFile f;
    if (const char* hl = archive_entry_hardlink(e)) {
      auto norm_target = normalize_entry_path(hl);
      if (!norm_target.ok())
        return hostile("hardlink '" + shown(raw) + "' -> '" + shown(hl) + "' leaves the bundle");
      std::string target = *norm_target;
      if (target.empty()) return hostile("hardlink '" + shown(raw) + "' points at the bundle root");
      auto it = files_here.find(target);
      const BundleFile* t = it == files_here.end() ? nullptr : find(target);
      if (t == nullptr || t->kind != EntryKind::file) {
        return hostile("hardlink '" + shown(raw) + "' -> '" + shown(hl) +
                       "' does not point at an earlier file of this archive");
      }
      MB_TRY(precheck(norm, EntryKind::file, t->size));
      MB_TRY(add(raw, *t));
      continue;
    }
    switch (archive_entry_filetype(e)) {
      case AE_IFDIR:
        f.kind = EntryKind::dir;
        MB_TRY(precheck(norm, f.kind, 0));
        break;
      case AE_IFLNK:
        f.kind = EntryKind::symlink;
        f.link = archive_entry_symlink(e) ? archive_entry_symlink(e) : "";
        if (!norm.empty())
          MB_TRY(resolve_link(norm, f.link));  // an escape is named as such, not as unplanned
        MB_TRY(precheck(norm, f.kind, 0));
        break;
      case AE_IFREG: {
        if (!archive_entry_size_is_set(e) || archive_entry_size(e) < 0)
          return hostile("file without a size");
        // The size libarchive will deliver (a PAX 'size' record wins over the ustar field) is
        // the one checked against the lock before a byte is read.
        auto size = static_cast<uint64_t>(archive_entry_size(e));
        MB_ASSIGN(bool repeat, precheck(norm, EntryKind::file, size));
        MB_ASSIGN(f, copy_in(-1, ra.a, size, raw, !repeat));
        files_here.insert(norm);
        break;
      }
      default: return hostile("'" + shown(raw) + "' is a device, fifo or socket");
    }
    MB_TRY(add(raw, std::move(f)));
  }
  return {};
}

namespace {
// Visits every entry below a bundle directory without following links. `rel` is lexical:
// fs::relative() would follow the symlinks being recorded.
Status walk_bundle_dir(
    const std::string& root,
    const std::function<Status(const fs::path&, const std::string& rel)>& visit) {
  std::error_code ec;
  fs::recursive_directory_iterator it(root, fs::directory_options::none, ec), end;
  if (ec)
    return fail(ErrorCategory::usage, "cannot read bundle directory " + root + ": " + ec.message());
  for (; it != end; it.increment(ec)) {
    if (ec) return fail(ErrorCategory::io, "walking " + root + ": " + ec.message());
    MB_TRY(visit(it->path(), it->path().lexically_relative(root).generic_string()));
  }
  return {};
}
}  // namespace

Status EntrySet::add_directory(const std::string& root) {
  ++m_scope;
  return walk_bundle_dir(root, [&](const fs::path& path, const std::string& rel) -> Status {
    std::string full = path.string();
    struct stat st {};
    if (::lstat(full.c_str(), &st) != 0) return errno_error("reading " + full, errno);
    BundleFile f;
    if (S_ISDIR(st.st_mode)) {
      f.kind = EntryKind::dir;
    } else if (S_ISLNK(st.st_mode)) {
      f.kind = EntryKind::symlink;
      std::error_code lec;
      f.link = fs::read_symlink(path, lec).string();
      if (lec) return fail(ErrorCategory::io, "reading link " + full + ": " + lec.message());
    } else if (S_ISREG(st.st_mode)) {
      UniqueFd in(::open(full.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
      if (!in.valid()) return errno_error("opening " + full, errno);
      MB_ASSIGN(std::string norm, normalize_entry_path(rel));
      MB_TRY(precheck(norm, EntryKind::file, static_cast<uint64_t>(st.st_size)));
      MB_ASSIGN(f, copy_in(in.get(), nullptr, static_cast<uint64_t>(st.st_size), rel));
    } else {
      return hostile("'" + shown(rel) + "' is a device, fifo or socket");
    }
    if (f.kind != EntryKind::file) {
      MB_ASSIGN(std::string norm, normalize_entry_path(rel));
      if (f.kind == EntryKind::symlink && !norm.empty()) MB_TRY(resolve_link(norm, f.link));
      MB_TRY(precheck(norm, f.kind, 0));
    }
    return add(rel, std::move(f));
  });
}

bool LockFinder::better(const std::string& path) const {
  return named_lock(path) && (!m_found || path.size() < m_found->path.size());
}

Status LockFinder::scan_archive(const std::string& path) {
  ReadArchive ra;
  MB_TRY(open_archive(ra, path, m_door));
  for (bool first_file = true;;) {
    MB_ASSIGN(archive_entry * e, next_header(ra));
    if (e == nullptr) break;
    MB_ASSIGN(std::string norm, normalize_entry_path(archive_entry_pathname(e)));
    m_compressed = m_compressed || archive_filter_code(ra.a, 0) != ARCHIVE_FILTER_NONE;
    if (archive_entry_filetype(e) != AE_IFREG || archive_entry_hardlink(e)) continue;
    m_saw_oci_layout = m_saw_oci_layout || norm == "oci-layout";
    bool stop = first_file && named_lock(norm);
    first_file = false;
    if (!better(norm))
      continue;  // its data is skipped by the next header read (a seek when uncompressed)
    if (!archive_entry_size_is_set(e) || archive_entry_size(e) < 0)
      return hostile("file without a size");
    auto size = static_cast<uint64_t>(archive_entry_size(e));
    if (size > k_lock_limit)
      return hostile("'" + shown(norm) + "' is larger than a lock may be (64 MiB)");
    std::string text(size, '\0');
    size_t got = 0;
    while (got < size) {
      la_ssize_t n = archive_read_data(ra.a, text.data() + got, size - got);
      if (n < 0)
        return hostile("cannot read '" + shown(norm) +
                       "': " + archive_text(ra.a, "damaged archive"));
      if (n == 0) return hostile("'" + shown(norm) + "' is truncated");
      got += static_cast<size_t>(n);
    }
    m_found = FoundLock{norm, std::move(text)};
    if (stop) break;
  }
  return {};
}

Status LockFinder::scan_directory(const std::string& root) {
  return walk_bundle_dir(root, [&](const fs::path& path, const std::string& rel) -> Status {
    MB_ASSIGN(std::string norm, normalize_entry_path(rel));
    struct stat st {};
    if (!better(norm) || ::lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return {};
    if (static_cast<uint64_t>(st.st_size) > k_lock_limit)
      return hostile("'" + shown(norm) + "' is larger than a lock may be (64 MiB)");
    MB_ASSIGN(std::string text, read_file(path.string(), k_lock_limit));
    m_found = FoundLock{norm, std::move(text)};
    return {};
  });
}

}  // namespace mb::bundle
