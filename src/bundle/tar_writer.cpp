#include "bundle/tar_writer.hpp"

#include <archive_entry.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "bundle/content_stream.hpp"
#include "core/file.hpp"

namespace mb::bundle {

namespace {

struct EntryDeleter {
  void operator()(archive_entry* e) const { archive_entry_free(e); }
};
using EntryPtr = std::unique_ptr<archive_entry, EntryDeleter>;

}  // namespace

Status FdSink::write(const void* data, size_t len) {
  MB_TRY(write_all(m_fd, data, len, m_what));
  m_writeback.wrote(len);
  return {};
}

Result<std::unique_ptr<TarWriter>> TarWriter::open(ByteSink& out, Compression compression,
                                                   int64_t mtime) {
  std::unique_ptr<TarWriter> w(new TarWriter(out, mtime));
  w->m_archive = archive_write_new();
  if (w->m_archive == nullptr) return fail(ErrorCategory::io, "cannot allocate a tar writer");
  struct archive* a = w->m_archive;
  if (archive_write_set_format_pax_restricted(a) != ARCHIVE_OK)
    return w->archive_failure("tar format");
  if (compression == Compression::zstd) {
    if (archive_write_add_filter_zstd(a) != ARCHIVE_OK) return w->archive_failure("zstd filter");
    // Pinned level: the output bytes must not depend on a library default.
    if (archive_write_set_filter_option(a, "zstd", "compression-level", "3") != ARCHIVE_OK) {
      return w->archive_failure("zstd level");
    }
  } else if (archive_write_add_filter_none(a) != ARCHIVE_OK) {
    return w->archive_failure("tar filter");
  }
  if (archive_write_set_bytes_per_block(a, 512) != ARCHIVE_OK ||
      archive_write_set_bytes_in_last_block(a, 1) != ARCHIVE_OK) {
    return w->archive_failure("tar blocking");
  }
  if (archive_write_open(a, w.get(), nullptr, &TarWriter::write_cb, nullptr) != ARCHIVE_OK) {
    return w->archive_failure("opening tar output");
  }
  return w;
}

TarWriter::~TarWriter() {
  // Without a successful close() the output is incomplete; the owner discards it.
  if (m_archive != nullptr) archive_write_free(m_archive);
}

// libarchive hands over one 512-byte block at a time; coalesce them so the sink (a file, a
// hasher, an upload) sees large writes. The bytes are unchanged.
la_ssize_t TarWriter::write_cb(struct archive*, void* self, const void* buf, size_t len) {
  auto* w = static_cast<TarWriter*>(self);
  Status st;
  if (w->m_buf.size() + len > k_out_buffer) st = w->flush();
  if (st.ok()) {
    if (len >= k_out_buffer) {
      st = w->m_out.write(buf, len);
    } else {
      w->m_buf.insert(w->m_buf.end(), static_cast<const char*>(buf),
                      static_cast<const char*>(buf) + len);
    }
  }
  if (!st.ok()) {
    if (w->m_sink_status.ok()) w->m_sink_status = std::move(st);
    return -1;
  }
  return static_cast<la_ssize_t>(len);
}

Status TarWriter::flush() {
  if (m_buf.empty()) return {};
  Status st = m_out.write(m_buf.data(), m_buf.size());
  m_buf.clear();
  return st;
}

Error TarWriter::archive_failure(const std::string& what) {
  if (!m_sink_status.ok()) return m_sink_status.error();
  const char* msg = m_archive ? archive_error_string(m_archive) : nullptr;
  return make_error(ErrorCategory::io, what + ": " + (msg ? msg : "libarchive error"));
}

Status TarWriter::add(const Entry& e, CheckContent check) {
  EntryPtr entry(archive_entry_new());
  if (!entry) return fail(ErrorCategory::io, "cannot allocate a tar entry");
  archive_entry* ae = entry.get();
  archive_entry_set_pathname(ae, e.path.c_str());
  archive_entry_set_mtime(ae, m_mtime, 0);
  archive_entry_set_uid(ae, 0);
  archive_entry_set_gid(ae, 0);
  switch (e.kind) {
    case EntryKind::dir:
      archive_entry_set_filetype(ae, AE_IFDIR);
      archive_entry_set_perm(ae, 0755);
      archive_entry_set_size(ae, 0);
      break;
    case EntryKind::file:
      archive_entry_set_filetype(ae, AE_IFREG);
      archive_entry_set_perm(ae, 0644);
      archive_entry_set_size(ae, static_cast<la_int64_t>(e.size));
      break;
    case EntryKind::symlink:
      archive_entry_set_filetype(ae, AE_IFLNK);
      archive_entry_set_perm(ae, 0777);
      archive_entry_set_symlink(ae, e.link.c_str());
      archive_entry_set_size(ae, 0);
      break;
    case EntryKind::hardlink:
      archive_entry_set_filetype(ae, AE_IFREG);
      archive_entry_set_perm(ae, 0644);
      archive_entry_set_hardlink(ae, e.link.c_str());
      archive_entry_set_size(ae, 0);
      break;
  }
  if (archive_write_header(m_archive, ae) < ARCHIVE_OK)
    return archive_failure("writing tar header for " + e.path);
  if (e.kind != EntryKind::file) return {};
  if (e.source.empty()) {
    if (e.data.size() != e.size) return fail(ErrorCategory::io, "internal: size of " + e.path);
    if (!e.data.empty() && archive_write_data(m_archive, e.data.data(), e.data.size()) !=
                               static_cast<la_ssize_t>(e.data.size())) {
      return archive_failure("writing " + e.path);
    }
    return {};
  }
  return stream_file(e, check);
}

Status TarWriter::stream_file(const Entry& e, CheckContent check) {
  return stream_content(e, check == CheckContent::yes,
                        [this, &e](const char* p, size_t todo) -> Status {
                          while (todo > 0) {
                            la_ssize_t w = archive_write_data(m_archive, p, todo);
                            if (w <= 0) return archive_failure("writing " + e.path);
                            p += w;
                            todo -= static_cast<size_t>(w);
                          }
                          return {};
                        });
}

Status TarWriter::close() {
  if (m_closed) return {};
  m_closed = true;
  if (archive_write_close(m_archive) != ARCHIVE_OK) return archive_failure("finishing tar");
  return flush();
}

}  // namespace mb::bundle
