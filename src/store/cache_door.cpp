#include "store/cache_door.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>

#include "core/hash.hpp"

namespace mb {

namespace {

std::atomic<bool> g_openat2{true};

constexpr int k_dir_flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK;

std::string join(std::string_view a, std::string_view b) {
  if (a.empty()) return std::string(b);
  if (b.empty()) return std::string(a);
  return std::string(a) + "/" + std::string(b);
}

// Splits a relative path; refuses "..", absolute paths and empty components.
Result<std::vector<std::string>> components(std::string_view rel) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < rel.size()) {
    size_t j = rel.find('/', i);
    if (j == std::string_view::npos) j = rel.size();
    std::string_view part = rel.substr(i, j - i);
    i = j + 1;
    if (part.empty() || part == ".") continue;
    if (part == "..")
      return fail(ErrorCategory::usage, "'..' in a cache path: " + std::string(rel));
    out.emplace_back(part);
  }
  return out;
}

Error not_a_folder(const std::string& shown, mode_t mode) {
  return make_error(ErrorCategory::integrity,
                    shown + " is " + file_kind_name(mode) + " where a folder belongs",
                    "it was planted or the cache is damaged: move it away and run again");
}

// Why opening `name` in `dirfd` as a folder failed with `err`: a named error for a link or
// anything else that is not a folder.
Error describe_failure(int dirfd, const std::string& name, const std::string& shown, int err) {
  struct stat st {};
  if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
    if (S_ISLNK(st.st_mode)) return planted_link_error(shown, dirfd, name);
    if (!S_ISDIR(st.st_mode)) return not_a_folder(shown, st.st_mode);
  }
  return errno_error("opening " + shown, err);
}

Result<UniqueFd> walk(int dirfd, const std::vector<std::string>& parts, MissingDir missing,
                      const std::string& shown_base) {
  UniqueFd cur(::fcntl(dirfd, F_DUPFD_CLOEXEC, 0));
  if (!cur.valid()) return errno_error("opening " + shown_base, errno);
  std::string shown = shown_base;
  for (const auto& part : parts) {
    shown = join(shown, part);
    int fd = ::openat(cur.get(), part.c_str(), k_dir_flags);
    if (fd < 0 && errno == ENOENT) {
      if (missing == MissingDir::ok) return UniqueFd();
      if (::mkdirat(cur.get(), part.c_str(), 0755) != 0 && errno != EEXIST)
        return errno_error("creating " + shown, errno);
      fd = ::openat(cur.get(), part.c_str(), k_dir_flags);
    }
    if (fd < 0) return describe_failure(cur.get(), part, shown, errno);
    cur = UniqueFd(fd);
  }
  return cur;
}

long openat2_raw(int dirfd, const char* path) {
  struct open_how how {};
  how.flags = static_cast<uint64_t>(k_dir_flags);
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  return ::syscall(SYS_openat2, dirfd, path, &how, sizeof how);
}

}  // namespace

bool openat2_available() { return g_openat2.load(); }

Result<UniqueFd> open_beneath(int dirfd, std::string_view rel, MissingDir missing,
                              const std::string& shown_base, Resolve how) {
  MB_ASSIGN(auto parts, components(rel));
  if (parts.empty()) {
    UniqueFd dup(::fcntl(dirfd, F_DUPFD_CLOEXEC, 0));
    if (!dup.valid()) return errno_error("opening " + shown_base, errno);
    return dup;
  }
  if (how == Resolve::automatic && g_openat2.load()) {
    std::string clean;
    for (const auto& p : parts) clean = join(clean, p);
    long fd = openat2_raw(dirfd, clean.c_str());
    if (fd >= 0) return UniqueFd(static_cast<int>(fd));
    int err = errno;
    if (err == ENOSYS || err == EPERM || err == E2BIG) g_openat2 = false;
    // Every failure is resolved again by the walk: it creates what is missing and names the
    // link, FIFO or file that stopped openat2. It never follows a link either.
  }
  return walk(dirfd, parts, missing, shown_base);
}

bool is_commit_name(std::string_view name) { return is_lower_hex(name, 40); }

Error planted_link_error(const std::string& shown, int dirfd, const std::string& name) {
  char buf[PATH_MAX];
  ssize_t n = ::readlinkat(dirfd, name.c_str(), buf, sizeof buf - 1);
  std::string target = n < 0 ? std::string("?") : std::string(buf, static_cast<size_t>(n));
  return make_error(
      ErrorCategory::integrity,
      shown + " is a symbolic link (to " + target +
          "): modelbake never follows a link inside the cache (except snapshot links)",
      "it was planted or the cache is damaged: check where it points, remove the link "
      "itself (rm " +
          shown + ") and run again");
}

Error planted_link_error(const std::string& path) {
  return planted_link_error(path, AT_FDCWD, path);
}

CacheDoor::CacheDoor(std::string root, Resolve how) : m_root(std::move(root)), m_how(how) {
  while (m_root.size() > 1 && m_root.back() == '/') m_root.pop_back();
}

std::string CacheDoor::display(std::string_view rel) const {
  return rel.empty() ? m_root : m_root + "/" + std::string(rel);
}

Result<std::string> CacheDoor::relative(std::string_view path) const {
  if (path == m_root) return std::string();
  std::string prefix = m_root == "/" ? "/" : m_root + "/";
  if (path.starts_with(prefix)) return std::string(path.substr(prefix.size()));
  if (!path.starts_with("/")) return std::string(path);  // already relative to the root
  return fail(ErrorCategory::usage,
              std::string(path) + " is not inside the cache " + m_root + " (internal error)");
}

Result<int> CacheDoor::root_fd() const {
  std::lock_guard lock(m_mutex);
  if (!m_root_fd.valid()) {
    // The root itself may be a link (a moved HF cache); everything below it may not.
    int fd = ::open(m_root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return errno_error("opening the cache " + m_root, errno);
    m_root_fd = UniqueFd(fd);
  }
  return m_root_fd.get();
}

std::string CacheDoor::real_root() const {
  char buf[PATH_MAX];
  if (::realpath(m_root.c_str(), buf) == nullptr) return m_root;
  return buf;
}

Result<DoorTempTree> DoorTempTree::create(const CacheDoor& door, std::string path) {
  MB_TRY(door.make_dirs(path));
  return DoorTempTree(&door, std::move(path));
}

DoorTempTree::~DoorTempTree() {
  if (m_door != nullptr) (void)m_door->remove_tree(m_path);
}

Result<UniqueFd> CacheDoor::open_rel_dir(std::string_view rel, MissingDir missing) const {
  MB_ASSIGN(int root, root_fd());
  return open_beneath(root, rel, missing, m_root, m_how);
}

Result<UniqueFd> CacheDoor::open_dir(std::string_view path, MissingDir missing) const {
  MB_ASSIGN(std::string rel, relative(path));
  return open_rel_dir(rel, missing);
}

Result<CacheDoor::Parent> CacheDoor::parent_of(std::string_view path, MissingDir missing) const {
  MB_ASSIGN(std::string rel, relative(path));
  MB_ASSIGN(auto parts, components(rel));
  if (parts.empty()) return fail(ErrorCategory::usage, "the cache root is not a file");
  std::string dir;
  for (size_t i = 0; i + 1 < parts.size(); ++i) dir = join(dir, parts[i]);
  MB_ASSIGN(UniqueFd fd, open_rel_dir(dir, missing));
  return Parent{std::move(fd), parts.back(), join(dir, parts.back())};
}

Result<UniqueFd> CacheDoor::open_file(std::string_view path, int flags, mode_t mode) const {
  MB_ASSIGN(Parent p, parent_of(path, (flags & O_CREAT) ? MissingDir::create : MissingDir::ok));
  std::string shown = display(p.rel);
  if (!p.fd.valid()) return errno_error("opening " + shown, ENOENT);
  int raw = ::openat(p.fd.get(), p.name.c_str(), flags | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, mode);
  if (raw < 0) {
    int err = errno;
    struct stat st {};
    if ((err == ELOOP || err == EEXIST || err == ENXIO || err == EISDIR) &&
        ::fstatat(p.fd.get(), p.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
        S_ISLNK(st.st_mode)) {
      return planted_link_error(shown, p.fd.get(), p.name);
    }
    if (err == EISDIR || err == ENXIO) {
      return fail(ErrorCategory::integrity, shown + " is not a regular file",
                  "it was planted or the cache is damaged: move it away and run again");
    }
    return errno_error("opening " + shown, err);
  }
  UniqueFd fd(raw);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return errno_error("stat " + shown, errno);
  if (!S_ISREG(st.st_mode)) {
    return fail(ErrorCategory::integrity,
                shown + " is not a regular file (" + file_kind_name(st.st_mode) + ")",
                "it was planted or the cache is damaged: move it away and run again");
  }
  int fl = ::fcntl(fd.get(), F_GETFL);
  if (fl >= 0) ::fcntl(fd.get(), F_SETFL, fl & ~O_NONBLOCK);
  return fd;
}

Result<std::optional<UniqueFd>> CacheDoor::open_existing(std::string_view path) const {
  MB_ASSIGN(auto st, lstat(path));
  if (!st) return std::optional<UniqueFd>();
  auto fd = open_file(path, O_RDONLY);
  if (!fd.ok()) {
    MB_ASSIGN(auto again, lstat(path));
    if (!again) return std::optional<UniqueFd>();  // removed meanwhile
    return fd.take_error();
  }
  return std::optional<UniqueFd>(std::move(fd).value());
}

Result<std::string> CacheDoor::read_file(std::string_view path, uint64_t max_bytes) const {
  MB_ASSIGN(UniqueFd fd, open_file(path, O_RDONLY));
  MB_ASSIGN(std::string rel, relative(path));
  return read_fd(fd.get(), max_bytes, display(rel), ErrorCategory::integrity);
}

Status CacheDoor::write_file_atomic(std::string_view path, std::string_view content, int mode,
                                    Sync sync) const {
  MB_ASSIGN(Parent p, parent_of(path, MissingDir::create));
  std::string shown = display(p.rel);
  std::string temp = temp_path_for(p.name);
  int raw = ::openat(p.fd.get(), temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                     mode);
  if (raw < 0) return errno_error("creating a temp for " + shown, errno);
  UniqueFd fd(raw);
  Status st = write_all(fd.get(), content.data(), content.size(), shown);
  if (st.ok() && sync == Sync::yes) st = fsync_fd(fd.get(), shown);
  if (st.ok()) st = fd.close_checked(shown);
  if (st.ok() && ::renameat(p.fd.get(), temp.c_str(), p.fd.get(), p.name.c_str()) != 0) {
    st = errno_error("renaming into " + shown, errno);
  }
  if (!st.ok()) {
    ::unlinkat(p.fd.get(), temp.c_str(), 0);
    return st;
  }
  if (sync == Sync::yes && ::fsync(p.fd.get()) != 0 && errno != EINVAL)
    return errno_error("fsync " + shown, errno);
  return {};
}

Status CacheDoor::copy_file(std::string_view from, std::string_view to) const {
  MB_ASSIGN(UniqueFd in, open_file(from, O_RDONLY));
  MB_ASSIGN(UniqueFd out, open_file(to, O_WRONLY | O_CREAT | O_EXCL));
  MB_ASSIGN(std::string a, relative(from));
  MB_ASSIGN(std::string b, relative(to));
  Status st = copy_fd(in.get(), out.get(), display(a), display(b));
  if (st.ok()) st = out.close_checked(display(b));
  if (!st.ok()) (void)unlink(to);
  return st;
}

Result<std::optional<struct stat>> CacheDoor::lstat(std::string_view path) const {
  MB_ASSIGN(std::string rel, relative(path));
  if (rel.empty()) {
    MB_ASSIGN(int root, root_fd());
    struct stat st {};
    if (::fstat(root, &st) != 0) return errno_error("stat " + m_root, errno);
    return std::optional<struct stat>(st);
  }
  MB_ASSIGN(Parent p, parent_of(rel, MissingDir::ok));
  if (!p.fd.valid()) return std::optional<struct stat>();
  struct stat st {};
  if (::fstatat(p.fd.get(), p.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return std::optional<struct stat>();
    return errno_error("stat " + display(p.rel), errno);
  }
  return std::optional<struct stat>(st);
}

Result<std::optional<std::string>> CacheDoor::read_link(std::string_view path) const {
  MB_ASSIGN(Parent p, parent_of(path, MissingDir::ok));
  if (!p.fd.valid()) return std::optional<std::string>();
  char buf[PATH_MAX];
  ssize_t n = ::readlinkat(p.fd.get(), p.name.c_str(), buf, sizeof buf - 1);
  if (n < 0) {
    if (errno == ENOENT) return std::optional<std::string>();
    if (errno == EINVAL) {
      return fail(ErrorCategory::integrity, display(p.rel) + " is not a symbolic link",
                  "the cache is damaged: move it away and run again");
    }
    return errno_error("reading the link " + display(p.rel), errno);
  }
  return std::optional<std::string>(std::string(buf, static_cast<size_t>(n)));
}

Result<std::vector<DoorEntry>> CacheDoor::list(std::string_view dir) const {
  MB_ASSIGN(std::string rel, relative(dir));
  MB_ASSIGN(UniqueFd fd, open_rel_dir(rel, MissingDir::ok));
  std::vector<DoorEntry> out;
  if (!fd.valid()) return out;
  // fdopendir takes the descriptor; keep ours for fstatat.
  int dup = ::fcntl(fd.get(), F_DUPFD_CLOEXEC, 0);
  if (dup < 0) return errno_error("listing " + display(rel), errno);
  DIR* d = ::fdopendir(dup);
  if (d == nullptr) {
    ::close(dup);
    return errno_error("listing " + display(rel), errno);
  }
  // A dup shares the directory offset with the root fd: an earlier listing left it at the end.
  ::rewinddir(d);
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    struct stat st {};
    if (::fstatat(fd.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    out.push_back({name, st});
  }
  ::closedir(d);
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  return out;
}

Status CacheDoor::make_dirs(std::string_view dir) const {
  MB_ASSIGN(UniqueFd fd, open_dir(dir, MissingDir::create));
  return {};
}

Status CacheDoor::unlink(std::string_view path) const {
  MB_ASSIGN(Parent p, parent_of(path, MissingDir::ok));
  if (!p.fd.valid()) return {};
  if (::unlinkat(p.fd.get(), p.name.c_str(), 0) != 0 && errno != ENOENT)
    return errno_error("removing " + display(p.rel), errno);
  return {};
}

Status CacheDoor::rename(std::string_view from, std::string_view to) const {
  MB_ASSIGN(Parent a, parent_of(from, MissingDir::ok));
  if (!a.fd.valid()) return errno_error("renaming " + display(a.rel), ENOENT);
  MB_ASSIGN(Parent b, parent_of(to, MissingDir::create));
  if (::renameat(a.fd.get(), a.name.c_str(), b.fd.get(), b.name.c_str()) != 0) {
    return errno_error("renaming " + display(a.rel) + " to " + display(b.rel), errno);
  }
  return {};
}

Status CacheDoor::hard_link(std::string_view from, std::string_view to) const {
  MB_ASSIGN(Parent a, parent_of(from, MissingDir::ok));
  if (!a.fd.valid()) return errno_error("linking " + display(a.rel), ENOENT);
  struct stat st {};
  if (::fstatat(a.fd.get(), a.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
    return errno_error("linking " + display(a.rel), errno);
  if (S_ISLNK(st.st_mode)) return planted_link_error(display(a.rel), a.fd.get(), a.name);
  if (!S_ISREG(st.st_mode)) {
    return fail(ErrorCategory::integrity,
                display(a.rel) + " is not a regular file (" + file_kind_name(st.st_mode) + ")");
  }
  MB_ASSIGN(Parent b, parent_of(to, MissingDir::create));
  if (::linkat(a.fd.get(), a.name.c_str(), b.fd.get(), b.name.c_str(), 0) != 0) {
    return errno_error("linking " + display(a.rel) + " to " + display(b.rel), errno);
  }
  // `from` may have been swapped between the check and the link: check what was linked.
  struct stat got {};
  if (::fstatat(b.fd.get(), b.name.c_str(), &got, AT_SYMLINK_NOFOLLOW) != 0 ||
      !S_ISREG(got.st_mode) || got.st_ino != st.st_ino || got.st_dev != st.st_dev) {
    ::unlinkat(b.fd.get(), b.name.c_str(), 0);
    return fail(ErrorCategory::integrity, display(a.rel) + " changed while it was being linked",
                "another process is replacing files in the cache");
  }
  return {};
}

namespace {

// Removes everything in the open folder `dirfd` (on device `dev`), through descriptors only.
Status remove_children(int dirfd, dev_t dev, const std::string& shown, int depth) {
  if (depth > 128) return fail(ErrorCategory::integrity, shown + " is nested too deep to remove");
  int dup = ::fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
  if (dup < 0) return errno_error("listing " + shown, errno);
  DIR* d = ::fdopendir(dup);
  if (d == nullptr) {
    ::close(dup);
    return errno_error("listing " + shown, errno);
  }
  ::rewinddir(d);  // the offset is shared with `dirfd`
  std::vector<std::string> names;
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name != "." && name != "..") names.push_back(std::move(name));
  }
  ::closedir(d);
  for (const auto& name : names) {
    std::string child = shown + "/" + name;
    struct stat st {};
    if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) continue;
      return errno_error("stat " + child, errno);
    }
    if (!S_ISDIR(st.st_mode)) {  // files, links (the link itself), FIFOs...
      if (::unlinkat(dirfd, name.c_str(), 0) != 0 && errno != ENOENT)
        return errno_error("removing " + child, errno);
      continue;
    }
    if (st.st_dev != dev) {
      return fail(ErrorCategory::integrity, child + " is a mount point: not removed",
                  "unmount it (or move it out of the cache) and run again");
    }
    int raw = ::openat(dirfd, name.c_str(), k_dir_flags);
    if (raw < 0) return describe_failure(dirfd, name, child, errno);
    UniqueFd sub(raw);
    MB_TRY(remove_children(sub.get(), dev, child, depth + 1));
    if (::unlinkat(dirfd, name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT)
      return errno_error("removing " + child, errno);
  }
  return {};
}

}  // namespace

Status CacheDoor::remove_tree(std::string_view path) const {
  MB_ASSIGN(Parent p, parent_of(path, MissingDir::ok));
  if (!p.fd.valid()) return {};
  std::string shown = display(p.rel);
  struct stat st {};
  if (::fstatat(p.fd.get(), p.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return {};
    return errno_error("stat " + shown, errno);
  }
  if (S_ISLNK(st.st_mode)) return planted_link_error(shown, p.fd.get(), p.name);
  if (!S_ISDIR(st.st_mode)) {
    if (::unlinkat(p.fd.get(), p.name.c_str(), 0) != 0 && errno != ENOENT)
      return errno_error("removing " + shown, errno);
    return {};
  }
  struct stat parent {};
  if (::fstat(p.fd.get(), &parent) != 0) return errno_error("stat " + shown, errno);
  if (st.st_dev != parent.st_dev) {
    return fail(ErrorCategory::integrity, shown + " is a mount point: not removed",
                "unmount it (or move it out of the cache) and run again");
  }
  int raw = ::openat(p.fd.get(), p.name.c_str(), k_dir_flags);
  if (raw < 0) return describe_failure(p.fd.get(), p.name, shown, errno);
  UniqueFd fd(raw);
  MB_TRY(remove_children(fd.get(), st.st_dev, shown, 0));
  if (::unlinkat(p.fd.get(), p.name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT)
    return errno_error("removing " + shown, errno);
  return {};
}

Status CacheDoor::symlink(std::string_view target, std::string_view path) const {
  MB_ASSIGN(Parent p, parent_of(path, MissingDir::create));
  if (::symlinkat(std::string(target).c_str(), p.fd.get(), p.name.c_str()) != 0)
    return errno_error("creating the link " + display(p.rel), errno);
  return {};
}

Status CacheDoor::publish_symlink(std::string_view target, std::string_view path,
                                  std::string_view temp) const {
  MB_ASSIGN(Parent t, parent_of(temp, MissingDir::create));
  MB_ASSIGN(Parent p, parent_of(path, MissingDir::create));
  std::string tgt(target);
  if (::symlinkat(tgt.c_str(), t.fd.get(), t.name.c_str()) != 0)
    return errno_error("creating the link " + display(t.rel), errno);
  if (::renameat(t.fd.get(), t.name.c_str(), p.fd.get(), p.name.c_str()) == 0) return {};
  int err = errno;
  ::unlinkat(t.fd.get(), t.name.c_str(), 0);
  if (err != EXDEV) return errno_error("linking " + display(p.rel), err);
  std::string near = temp_path_for(p.name);
  if (::symlinkat(tgt.c_str(), p.fd.get(), near.c_str()) != 0)
    return errno_error("creating a link next to " + display(p.rel), errno);
  if (::renameat(p.fd.get(), near.c_str(), p.fd.get(), p.name.c_str()) != 0) {
    err = errno;
    ::unlinkat(p.fd.get(), near.c_str(), 0);
    return errno_error("linking " + display(p.rel), err);
  }
  return {};
}

Status CacheDoor::fsync_dir(std::string_view dir) const {
  MB_ASSIGN(UniqueFd fd, open_dir(dir, MissingDir::ok));
  if (!fd.valid()) return {};
  if (::fsync(fd.get()) != 0 && errno != EINVAL) return errno_error("fsync " + m_root, errno);
  return {};
}

Result<FileLock> CacheDoor::lock(std::string_view path, LockMode mode, bool wait) const {
  MB_ASSIGN(UniqueFd fd, open_file(path, O_RDWR | O_CREAT));
  MB_ASSIGN(std::string rel, relative(path));
  return FileLock::from_fd(std::move(fd), mode, wait, display(rel));
}

Result<std::optional<std::string>> CacheDoor::snapshot_blob(std::string_view snapshot_file) const {
  MB_ASSIGN(std::string rel, relative(snapshot_file));
  MB_ASSIGN(auto parts, components(rel));
  // <repo folder>/snapshots/<commit>/<file...>
  if (parts.size() < 4 || parts[1] != "snapshots" || !is_commit_name(parts[2])) {
    return fail(ErrorCategory::integrity, display(rel) + " is not a snapshot entry");
  }
  MB_ASSIGN(auto target, read_link(rel));
  if (!target) return std::optional<std::string>();
  auto etag = snapshot_link_etag(*target, parts.size() - 3);
  if (!etag) {
    std::string prefix;
    for (size_t i = 3; i < parts.size() + 1; ++i) prefix += "../";
    return fail(ErrorCategory::integrity,
                display(rel) + " links to " + *target + ", not to " + prefix + "blobs/<etag>",
                "modelbake follows only snapshot links of that shape: remove the link and run "
                "again");
  }
  return etag;
}

std::optional<std::string> snapshot_link_etag(std::string_view target, size_t file_parts) {
  std::string prefix;
  for (size_t i = 0; i < file_parts + 1; ++i) prefix += "../";  // depth below the repo folder
  prefix += "blobs/";
  if (!target.starts_with(prefix)) return std::nullopt;
  std::string_view etag = target.substr(prefix.size());
  if (!is_lower_hex(etag, 40) && !is_lower_hex(etag, 64)) return std::nullopt;
  return std::string(etag);
}

}  // namespace mb
