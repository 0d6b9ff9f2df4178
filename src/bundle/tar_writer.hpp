// Deterministic tar writer over libarchive: pax_restricted (ustar headers, a PAX record only
// where ustar cannot express a value such as a size >= 8 GiB or a long path; never times or
// pids), fixed mtime, uid/gid 0, empty owner names, modes 0644/0755 (0777 for symlinks),
// 512-byte blocking with no trailing padding, optional zstd (no timestamps in zstd frames).
// File content is streamed from its source and checked against the entry's size and sha256
// while it is written; a mismatch fails the whole archive (ErrorCategory::integrity).
#pragma once

#include <archive.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bundle/plan.hpp"
#include "core/error.hpp"
#include "core/file.hpp"

namespace mb::bundle {

// Where the archive bytes go (a file, a blob being uploaded...).
class ByteSink {
 public:
  virtual ~ByteSink() = default;
  virtual Status write(const void* data, size_t len) = 0;
};

// Writes to a file descriptor (not owned).
class FdSink final : public ByteSink {
 public:
  FdSink(int fd, std::string what, Sync sync = Sync::yes)
      : m_fd(fd), m_what(std::move(what)), m_writeback(fd, sync) {}
  Status write(const void* data, size_t len) override;

 private:
  int m_fd;
  std::string m_what;
  WritebackPacer m_writeback;
};

enum class Compression { none, zstd };

// Whether file content is hashed and compared with Entry::sha256 while it is written.
enum class CheckContent { yes, no };

class TarWriter {
 public:
  static Result<std::unique_ptr<TarWriter>> open(ByteSink& out, Compression compression,
                                                 int64_t mtime);
  ~TarWriter();
  TarWriter(const TarWriter&) = delete;
  TarWriter& operator=(const TarWriter&) = delete;

  Status add(const Entry& e, CheckContent check = CheckContent::yes);
  // Writes the end-of-archive blocks and flushes; must succeed before the output is used.
  Status close();

 private:
  TarWriter(ByteSink& out, int64_t mtime) : m_out(out), m_mtime(mtime) {}
  static la_ssize_t write_cb(struct archive*, void* self, const void* buf, size_t len);
  Error archive_failure(const std::string& what);
  Status stream_file(const Entry& e, CheckContent check);
  Status flush();

  static constexpr size_t k_out_buffer = 1 << 20;

  ByteSink& m_out;
  int64_t m_mtime;
  struct archive* m_archive = nullptr;
  std::vector<char> m_buf;  // coalesced output not yet given to m_out
  Status m_sink_status;     // first error from the sink, reported instead of libarchive's text
  bool m_closed = false;
};

}  // namespace mb::bundle
