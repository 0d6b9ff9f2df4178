#include "core/file.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <random>
#include <vector>

#include "core/hash.hpp"

namespace fs = std::filesystem;

namespace mb {

Error errno_error(const std::string& what, int err) {
  std::string hint;
  if (err == ENOSPC) hint = "free some disk space and run the command again";
  if (err == EACCES || err == EPERM || err == EROFS)
    hint = "check the permissions of the cache directory";
  return make_error(ErrorCategory::io, what + ": " + std::strerror(err), hint);
}

void UniqueFd::reset() {
  if (m_fd >= 0) ::close(m_fd);
  m_fd = -1;
}

Status UniqueFd::close_checked(const std::string& what) {
  int fd = release();
  if (fd >= 0 && ::close(fd) != 0) return errno_error("closing " + what, errno);
  return {};
}

const char* file_kind_name(mode_t mode) {
  if (S_ISLNK(mode)) return "a symbolic link";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode) || S_ISBLK(mode)) return "a device";
  return "not a regular file";
}

// Opened non-blocking first: open(2) of a FIFO blocks until a writer appears, and a planted
// FIFO in a shared cache or bundle (a lock, a ref, a config) must not hang a build or a
// health check. Everything modelbake reads by path is a regular file (procfs/cgroupfs too).
Result<UniqueFd> open_read(const std::string& path) {
  int raw = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (raw < 0) return errno_error("opening " + path, errno);
  UniqueFd fd(raw);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return errno_error("stat " + path, errno);
  if (!S_ISREG(st.st_mode)) {
    return fail(ErrorCategory::integrity,
                path + " is not a regular file (" + file_kind_name(st.st_mode) + ")",
                "replace it with the file it should be, or remove it");
  }
  int flags = ::fcntl(fd.get(), F_GETFL);
  if (flags >= 0) ::fcntl(fd.get(), F_SETFL, flags & ~O_NONBLOCK);
  return fd;
}

Result<uint64_t> file_size(int fd, const std::string& what) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return errno_error("stat " + what, errno);
  return static_cast<uint64_t>(st.st_size);
}

Result<std::string> read_fd(int fd, uint64_t max_bytes, const std::string& name,
                            ErrorCategory too_large) {
  MB_ASSIGN(uint64_t size, file_size(fd, name));
  if (size > max_bytes)
    return fail(too_large, name + " is too large (" + std::to_string(size) + " bytes)");
  std::string out(size, '\0');
  size_t done = 0;
  while (done < out.size()) {
    ssize_t n = ::read(fd, out.data() + done, out.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno_error("reading " + name, errno);
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  out.resize(done);
  return out;
}

Result<std::string> read_file(const std::string& path, uint64_t max_bytes) {
  MB_ASSIGN(UniqueFd fd, open_read(path));
  return read_fd(fd.get(), max_bytes, path, ErrorCategory::usage);
}

namespace {
// Each write(2) is capped at 64 KiB. A bigger write makes the kernel (6.x, ext4 large folios)
// allocate correspondingly large page-cache folios, and on a fragmented or hypervisor-backed
// machine that allocation time varies wildly: writing 2 GiB took 0.3-3.8 s in 1 MiB writes
// and a steady 0.35 s in 64 KiB writes on the same machine. The syscall count is irrelevant
// at this size.
constexpr size_t k_max_write = 64 << 10;
}  // namespace

Status write_all(int fd, const void* data, size_t len, const std::string& what) {
  const char* p = static_cast<const char*>(data);
  while (len > 0) {
    ssize_t n = ::write(fd, p, std::min(len, k_max_write));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno_error("writing " + what, errno);
    p += n;
    len -= static_cast<size_t>(n);
  }
  return {};
}

Status pwrite_all(int fd, const void* data, size_t len, uint64_t offset, const std::string& what) {
  const char* p = static_cast<const char*>(data);
  while (len > 0) {
    ssize_t n = ::pwrite(fd, p, std::min(len, k_max_write), static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno_error("writing " + what, errno);
    p += n;
    len -= static_cast<size_t>(n);
    offset += static_cast<uint64_t>(n);
  }
  return {};
}

TempTree::~TempTree() {
  std::error_code ec;
  fs::remove_all(m_path, ec);
}

void start_writeback(int fd, uint64_t offset, uint64_t len) {
  (void)::sync_file_range(fd, static_cast<off_t>(offset), static_cast<off_t>(len),
                          SYNC_FILE_RANGE_WRITE);
}

Status fsync_fd(int fd, const std::string& what) {
  if (::fsync(fd) != 0) return errno_error("fsync " + what, errno);
  return {};
}

Status fsync_dir(const std::string& dir) {
  int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return errno_error("opening directory " + dir, errno);
  UniqueFd guard(fd);
  // Some filesystems refuse fsync on directories (EINVAL); durability is best effort there.
  if (::fsync(fd) != 0 && errno != EINVAL) return errno_error("fsync " + dir, errno);
  return {};
}

Status make_dirs(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return errno_error("creating directory " + dir, ec.value());
  return {};
}

std::string random_suffix() {
  thread_local std::mt19937_64 rng{std::random_device{}() ^
                                   (static_cast<uint64_t>(::getpid()) << 32)};
  uint64_t v = rng();
  return to_hex(reinterpret_cast<const unsigned char*>(&v), 4);
}

std::string temp_path_for(std::string_view base) {
  return std::string(base) + ".tmp." + random_suffix();
}

TempKind temp_kind(std::string_view name) {
  auto hex_tail = [&](std::string_view marker_before, size_t end) {
    // name[..end) ends with "<marker_before><8 hex>" and has a non-empty stem.
    if (end < marker_before.size() + 9) return false;
    std::string_view hex = name.substr(end - 8, 8);
    std::string_view marker = name.substr(end - 8 - marker_before.size(), marker_before.size());
    return marker == marker_before && is_lower_hex(hex, 8);
  };
  if (hex_tail(".tmp.", name.size())) return TempKind::ours;
  if (name.ends_with(".tmp") && hex_tail(".", name.size() - 4)) return TempKind::ours;
  constexpr std::string_view k_incomplete = ".incomplete";
  if (name.size() > k_incomplete.size() && name.ends_with(k_incomplete))
    return TempKind::hub_download;
  return TempKind::none;
}

Status copy_fd(int in, int out, const std::string& src, const std::string& temp) {
  std::vector<char> buf(k_max_write);
  WritebackPacer pacer(out);
  for (;;) {
    ssize_t n = ::read(in, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno_error("reading " + src, errno);
    if (n == 0) return fsync_fd(out, temp);  // before anyone can rename it into place
    MB_TRY(write_all(out, buf.data(), static_cast<size_t>(n), temp));
    pacer.wrote(static_cast<uint64_t>(n));
  }
}

Status copy_file_synced(const std::string& src, const std::string& temp) {
  MB_ASSIGN(UniqueFd in, open_read(src));
  int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return errno_error("creating " + temp, errno);
  UniqueFd out(fd);
  Status s = copy_fd(in.get(), out.get(), src, temp);
  if (s.ok()) s = out.close_checked(temp);
  if (!s.ok()) ::unlink(temp.c_str());
  return s;
}

static std::string parent_of(const std::string& path) {
  fs::path p(path);
  return p.has_parent_path() ? p.parent_path().string() : std::string(".");
}

Result<AtomicFile> AtomicFile::create(const std::string& dest, int mode) {
  std::string temp = temp_path_for(dest);
  int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) return errno_error("creating " + temp, errno);
  return AtomicFile(dest, temp, UniqueFd(fd));
}

AtomicFile::AtomicFile(AtomicFile&& o) noexcept
    : m_dest(std::move(o.m_dest)),
      m_temp(std::move(o.m_temp)),
      m_fd(std::move(o.m_fd)),
      m_committed(o.m_committed) {
  o.m_committed = true;  // the moved-from object must not unlink anything
}

AtomicFile::~AtomicFile() {
  if (!m_committed) {
    m_fd.reset();
    ::unlink(m_temp.c_str());
  }
}

Status AtomicFile::write(std::string_view data) {
  return write_all(m_fd.get(), data.data(), data.size(), m_temp);
}

Status AtomicFile::commit(Sync sync) {
  if (sync == Sync::yes) MB_TRY(fsync_fd(m_fd.get(), m_temp));
  MB_TRY(m_fd.close_checked(m_temp));
  if (::rename(m_temp.c_str(), m_dest.c_str()) != 0)
    return errno_error("renaming to " + m_dest, errno);
  m_committed = true;
  return sync == Sync::yes ? fsync_dir(parent_of(m_dest)) : Status{};
}

Status write_file_atomic(const std::string& dest, std::string_view content, int mode) {
  MB_TRY(make_dirs(parent_of(dest)));
  MB_ASSIGN(AtomicFile f, AtomicFile::create(dest, mode));
  MB_TRY(f.write(content));
  return f.commit();
}

Status replace_symlink(const std::string& target, const std::string& link_path) {
  MB_TRY(make_dirs(parent_of(link_path)));
  std::string temp = temp_path_for(link_path);
  if (::symlink(target.c_str(), temp.c_str()) != 0) return errno_error("symlink " + temp, errno);
  if (::rename(temp.c_str(), link_path.c_str()) != 0) {
    int err = errno;
    ::unlink(temp.c_str());
    return errno_error("renaming symlink to " + link_path, err);
  }
  return {};
}

// Returns an invalid fd when `wait` is false and another process holds the lock.
static Result<UniqueFd> lock_fd(const std::string& path, LockMode mode, bool wait) {
  MB_TRY(make_dirs(parent_of(path)));
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return errno_error("opening lock " + path, errno);
  UniqueFd guard(fd);
  int op = (mode == LockMode::shared ? LOCK_SH : LOCK_EX) | (wait ? 0 : LOCK_NB);
  while (::flock(fd, op) != 0) {
    if (errno == EINTR) continue;
    if (!wait && errno == EWOULDBLOCK) return UniqueFd();
    return errno_error("locking " + path, errno);
  }
  return guard;
}

Result<FileLock> FileLock::acquire(const std::string& path, LockMode mode) {
  MB_ASSIGN(UniqueFd fd, lock_fd(path, mode, true));
  return FileLock(std::move(fd));
}

Result<FileLock> FileLock::from_fd(UniqueFd fd, LockMode mode, bool wait, const std::string& what) {
  int op = (mode == LockMode::shared ? LOCK_SH : LOCK_EX) | (wait ? 0 : LOCK_NB);
  while (::flock(fd.get(), op) != 0) {
    if (errno == EINTR) continue;
    if (!wait && errno == EWOULDBLOCK) return FileLock();
    return errno_error("locking " + what, errno);
  }
  return FileLock(std::move(fd));
}

Result<FileLock> FileLock::try_acquire(const std::string& path, LockMode mode) {
  MB_ASSIGN(UniqueFd fd, lock_fd(path, mode, false));
  return FileLock(std::move(fd));
}

}  // namespace mb
