// RAII file descriptors, atomic publish (temp in the same directory, fsync, rename,
// fsync the directory) and advisory locks. Everything returns Result; nothing throws.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "core/error.hpp"

namespace mb {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : m_fd(fd) {}
  ~UniqueFd() { reset(); }
  UniqueFd(UniqueFd&& o) noexcept : m_fd(o.release()) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) {
      reset();
      m_fd = o.release();
    }
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const { return m_fd; }
  bool valid() const { return m_fd >= 0; }
  int release() {
    int fd = m_fd;
    m_fd = -1;
    return fd;
  }
  void reset();
  // Closes and reports close() failures (which can carry deferred write errors).
  Status close_checked(const std::string& what);

 private:
  int m_fd = -1;
};

// "a FIFO", "a directory", "a socket", "a device": what stands where a regular file belongs.
const char* file_kind_name(mode_t mode);
// Opens a regular file for reading; anything else (a planted FIFO would block open(2)) is an
// integrity error, refused without blocking.
Result<UniqueFd> open_read(const std::string& path);
Result<uint64_t> file_size(int fd, const std::string& what);
Result<std::string> read_file(const std::string& path, uint64_t max_bytes = 64ull << 20);
// The whole of an open regular file, at most `max_bytes` (else a `too_large` error naming `name`).
Result<std::string> read_fd(int fd, uint64_t max_bytes, const std::string& name,
                            ErrorCategory too_large);
Status write_all(int fd, const void* data, size_t len, const std::string& what);
Status pwrite_all(int fd, const void* data, size_t len, uint64_t offset, const std::string& what);
Status fsync_fd(int fd, const std::string& what);
Status fsync_dir(const std::string& dir);
Status make_dirs(const std::string& dir);

// Whether publishing waits for the data to reach the disk. Sync::no is for outputs that are
// consumed at once and cheap to rebuild (an export inside a build stage): a crash can then
// leave a truncated file under the final name, which every reader of bundles detects.
enum class Sync { yes, no };

// Starts writeback of [offset, offset+len) now, without waiting (sync_file_range): the fsync
// before a publish then finds little left to flush. Best effort; errors surface at fsync.
void start_writeback(int fd, uint64_t offset, uint64_t len);

// For a file written front to back that will be fsynced: starts writeback every `step`
// bytes, so writing and flushing to disk overlap instead of running one after the other.
// With Sync::no nothing will wait for the disk, so it leaves writeback to the kernel.
class WritebackPacer {
 public:
  explicit WritebackPacer(int fd, Sync sync = Sync::yes, uint64_t step = 32ull << 20)
      : m_fd(fd), m_step(sync == Sync::yes ? step : 0) {}
  void wrote(uint64_t len) {
    if (m_step == 0) return;
    m_written += len;
    if (m_written - m_started >= m_step) {
      start_writeback(m_fd, m_started, m_written - m_started);
      m_started = m_written;
    }
  }

 private:
  int m_fd;
  uint64_t m_step;
  uint64_t m_written = 0;
  uint64_t m_started = 0;
};

// Error for a failed syscall with errno mapped to a category (ENOSPC, EACCES... are io).
Error errno_error(const std::string& what, int err);

// Short random hex suffix for temp names (unique across processes and threads).
std::string random_suffix();

// The one temp-name scheme: "<base>.tmp.<8 hex>". `base` is the final path for a temp next to
// it, or "<tmp dir>/<key>" for a temp in the cache's tmp/ (staging folders of import, pull,
// gc and export too).
std::string temp_path_for(std::string_view base);

// The one recogniser of temporary names, used by gc (stale temps), the store and verify
// (leftovers beside published files) and du (temporary bytes). It knows exactly:
//   "<name>.tmp.<8 lower hex>"    temp_path_for's scheme                      -> ours
//   "<name>.<8 lower hex>.tmp"    the scheme of earlier modelbake versions     -> ours
//   "<name>.incomplete"           huggingface_hub's download in progress in
//                                 blobs/ (a hub cache is shared with it)       -> hub_download
// A user's "notes.tmp.txt" or "data.tmp" is not temporary. Callers that remove entries from a
// snapshot folder (repo paths, any name) take only `ours`.
enum class TempKind { none, ours, hub_download };
TempKind temp_kind(std::string_view name);
inline bool is_temp_name(std::string_view name) { return temp_kind(name) != TempKind::none; }

// Copies `src` into the new file `temp` (refused if it exists) and fsyncs it, so that renaming
// `temp` publishes complete bytes even after a crash. Removes `temp` on failure.
Status copy_file_synced(const std::string& src, const std::string& temp);
// Copies the rest of `in` to `out` (64 KiB writes) and fsyncs `out`; names are for messages.
Status copy_fd(int in, int out, const std::string& src, const std::string& temp);

// A private temp directory tree, removed (best effort) when the guard goes out of scope,
// whatever happened: import and pull unpack into one before anything becomes visible.
class TempTree {
 public:
  explicit TempTree(std::string path) : m_path(std::move(path)) {}
  ~TempTree();
  TempTree(const TempTree&) = delete;
  TempTree& operator=(const TempTree&) = delete;
  const std::string& path() const { return m_path; }

 private:
  std::string m_path;
};

// Temp file next to its destination; commit() = fsync + rename + fsync(dir).
// If commit() never ran, the destructor deletes the temp file: a half-written file is
// never left where a good one is expected.
class AtomicFile {
 public:
  static Result<AtomicFile> create(const std::string& dest, int mode = 0644);
  ~AtomicFile();
  AtomicFile(AtomicFile&&) noexcept;
  AtomicFile& operator=(AtomicFile&&) = delete;
  AtomicFile(const AtomicFile&) = delete;

  int fd() const { return m_fd.get(); }
  const std::string& temp_path() const { return m_temp; }
  Status write(std::string_view data);
  Status commit(Sync sync = Sync::yes);

 private:
  AtomicFile(std::string dest, std::string temp, UniqueFd fd)
      : m_dest(std::move(dest)), m_temp(std::move(temp)), m_fd(std::move(fd)) {}
  std::string m_dest;
  std::string m_temp;
  UniqueFd m_fd;
  bool m_committed = false;
};

// Writes `content` to `dest` atomically (creating parent directories).
Status write_file_atomic(const std::string& dest, std::string_view content, int mode = 0644);

// Atomically replaces (or creates) a symlink at `link_path` pointing to `target`.
Status replace_symlink(const std::string& target, const std::string& link_path);

enum class LockMode { shared, exclusive };

// flock(2)-based advisory lock on a lock file. Released on destruction.
class FileLock {
 public:
  static Result<FileLock> acquire(const std::string& path, LockMode mode);
  // Returns an invalid lock (valid() == false) when another process holds it.
  static Result<FileLock> try_acquire(const std::string& path, LockMode mode);
  // Locks an already open lock file (the cache door opens those without following links);
  // invalid when `wait` is false and another process holds it.
  static Result<FileLock> from_fd(UniqueFd fd, LockMode mode, bool wait, const std::string& what);
  FileLock() = default;
  bool valid() const { return m_fd.valid(); }

 private:
  explicit FileLock(UniqueFd fd) : m_fd(std::move(fd)) {}
  UniqueFd m_fd;
};

}  // namespace mb
