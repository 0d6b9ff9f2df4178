#include "bundle/export.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <vector>

#include "bundle/content_stream.hpp"
#include "bundle/plan.hpp"
#include "bundle/tar_writer.hpp"
#include "core/file.hpp"
#include "core/hash.hpp"

namespace fs = std::filesystem;

namespace mb::bundle {

const char* to_string(Format f) {
  switch (f) {
    case Format::dir: return "dir";
    case Format::tar: return "tar";
    case Format::tar_zst: return "tar.zst";
    case Format::oci: return "oci";
  }
  return "dir";
}

std::optional<Format> parse_format(std::string_view s) {
  if (s == "dir") return Format::dir;
  if (s == "tar") return Format::tar;
  if (s == "tar.zst" || s == "tar+zst" || s == "tzst") return Format::tar_zst;
  if (s == "oci") return Format::oci;
  return std::nullopt;
}

std::optional<Layout> parse_layout(std::string_view s) {
  if (s == "hub") return Layout::hub;
  if (s == "flat") return Layout::flat;
  return std::nullopt;
}

Status check_store_has_lock(const Lockfile& lock, const Store& store) {
  std::vector<std::string> missing;
  uint64_t count = 0;
  for (const auto& m : lock.models) {
    for (const auto& f : m.files) {
      // lstat through the door: a linked folder on the way, or an object that is a link or
      // a FIFO, is not the cache's content and is named.
      std::string obj = store.layout().object_path(f.sha256);
      MB_ASSIGN(auto st, store.layout().door().lstat(obj));
      if (st && S_ISLNK(st->st_mode)) return planted_link_error(obj);
      if (st && !S_ISREG(st->st_mode)) {
        return fail(ErrorCategory::integrity,
                    obj + " is not a regular file (" + file_kind_name(st->st_mode) + ")",
                    "it was planted or the cache is damaged: move it away and run again");
      }
      bool ok = st && static_cast<uint64_t>(st->st_size) == f.size;
      if (ok) continue;
      ++count;
      if (missing.size() < 3) missing.push_back(m.name + ":" + f.path);
    }
  }
  if (count == 0) return {};
  std::string list;
  for (const auto& s : missing) list += (list.empty() ? "" : ", ") + s;
  if (count > missing.size()) list += ", ...";
  return fail(ErrorCategory::integrity,
              std::to_string(count) +
                  " locked file(s) are missing from the cache or have the wrong size (" + list +
                  ")",
              "run 'modelbake fetch --locked' with the same --cache first");
}

namespace {

// Temp sibling that becomes `dest` on commit; removed otherwise.
class StagingDir {
 public:
  static Result<StagingDir> create(const std::string& dest) {
    fs::path d(dest);
    std::string parent = d.parent_path().empty() ? "." : d.parent_path().string();
    MB_TRY(make_dirs(parent));
    StagingDir s;
    s.m_dest = dest;
    s.m_path = temp_path_for(parent + "/." + d.filename().string());
    if (::mkdir(s.m_path.c_str(), 0755) != 0) return errno_error("creating " + s.m_path, errno);
    return s;
  }
  StagingDir() = default;
  StagingDir(StagingDir&& o) noexcept : m_dest(std::move(o.m_dest)), m_path(std::move(o.m_path)) {
    o.m_path.clear();
  }
  ~StagingDir() {
    std::error_code ec;
    if (!m_path.empty()) fs::remove_all(m_path, ec);
  }
  const std::string& path() const { return m_path; }
  Status commit(bool force) {
    std::error_code ec;
    std::string old;
    if (fs::symlink_status(m_dest, ec).type() != fs::file_type::not_found) {
      if (!force) return exists_error(m_dest);
      old = m_path + ".old";
      if (::rename(m_dest.c_str(), old.c_str()) != 0)
        return errno_error("moving away " + m_dest, errno);
    }
    if (::rename(m_path.c_str(), m_dest.c_str()) != 0)
      return errno_error("publishing " + m_dest, errno);
    m_path.clear();
    if (!old.empty()) fs::remove_all(old, ec);
    return fsync_dir(
        fs::path(m_dest).parent_path().empty() ? "." : fs::path(m_dest).parent_path().string());
  }
  static Failure exists_error(const std::string& dest) {
    return fail(ErrorCategory::usage, "output " + dest + " already exists",
                "remove it or pass --force to replace it");
  }

 private:
  std::string m_dest;
  std::string m_path;
};

Status copy_checked(const Entry& e, const std::string& dest, Sync sync) {
  UniqueFd out(::open(dest.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (!out.valid()) return errno_error("creating " + dest, errno);
  FdSink sink(out.get(), dest, sync);
  MB_TRY(stream_content(e, true, [&](const char* p, size_t n) { return sink.write(p, n); }));
  if (sync == Sync::yes) MB_TRY(fsync_fd(out.get(), dest));
  return out.close_checked(dest);
}

Status materialize(const std::vector<Entry>& entries, const std::string& root, Sync sync) {
  for (const auto& e : entries) {
    std::string dest = root + "/" + e.path;
    switch (e.kind) {
      case EntryKind::dir:
        if (::mkdir(dest.c_str(), 0755) != 0 && errno != EEXIST)
          return errno_error("creating " + dest, errno);
        break;
      case EntryKind::symlink:
        if (::symlink(e.link.c_str(), dest.c_str()) != 0)
          return errno_error("creating link " + dest, errno);
        break;
      case EntryKind::hardlink:
        if (::link((root + "/" + e.link).c_str(), dest.c_str()) != 0) {
          return errno_error("linking " + dest, errno);
        }
        break;
      case EntryKind::file:
        if (e.source.empty()) {
          MB_TRY(write_file_atomic(dest, e.data));
        } else {
          MB_TRY(copy_checked(e, dest, sync));
        }
        break;
    }
  }
  return {};
}

// The lock goes first (after its parent folders): import then knows what the bundle may hold
// before any content, and its header-only first pass stops at the first file.
void put_lock_first(std::vector<Entry>& entries, const std::string& prefix) {
  std::string lock = join_prefix(prefix, k_lock_name);
  std::stable_partition(entries.begin(), entries.end(), [&](const Entry& e) {
    return e.path == lock || (e.kind == EntryKind::dir && lock.rfind(e.path + "/", 0) == 0);
  });
}

Result<ExportResult> export_tar(std::vector<Entry> entries, const ExportOptions& opts) {
  std::error_code ec;
  if (!opts.force && fs::symlink_status(opts.output, ec).type() != fs::file_type::not_found) {
    return StagingDir::exists_error(opts.output);
  }
  std::string parent = fs::path(opts.output).parent_path().string();
  if (!parent.empty()) MB_TRY(make_dirs(parent));
  MB_ASSIGN(AtomicFile out, AtomicFile::create(opts.output, 0644));
  FdSink sink(out.fd(), opts.output, opts.sync);
  MB_ASSIGN(
      auto tar,
      TarWriter::open(sink, opts.format == Format::tar_zst ? Compression::zstd : Compression::none,
                      opts.epoch));
  put_lock_first(entries, opts.prefix);
  for (const auto& e : entries) MB_TRY(tar->add(e));
  MB_TRY(tar->close());
  MB_TRY(out.commit(opts.sync));
  ExportResult r;
  r.entries = entries.size();
  return r;
}

}  // namespace

Status export_layout(const LayoutExport& opts, const LayoutFiller& fill) {
  if (opts.output.empty()) return fail(ErrorCategory::usage, "no output given", "pass -o PATH");
  MB_TRY(validate_image_tag(opts.tag));
  MB_ASSIGN(StagingDir staging, StagingDir::create(opts.output));
  DirBlobSink sink(staging.path(), opts.sync);
  MB_ASSIGN(Descriptor manifest, fill(sink));
  MB_TRY(write_layout_index(staging.path(), manifest, opts.tag, opts.artifact_type));
  return staging.commit(opts.force);
}

Result<ExportResult> export_bundle(const Lockfile& lock, const Store& store,
                                   const ExportOptions& opts) {
  if (opts.output.empty()) return fail(ErrorCategory::usage, "no output given", "pass -o PATH");
  MB_TRY(check_store_has_lock(lock, store));
  if (opts.base && opts.format != Format::oci)
    return fail(ErrorCategory::usage, "--base only applies to --format oci");
  ExportResult result;
  if (opts.format == Format::oci) {
    MB_TRY(validate_image_tag(opts.tag));
    MB_ASSIGN(StagingDir staging, StagingDir::create(opts.output));
    DirBlobSink sink(staging.path(), opts.sync);
    ImageOptions io;
    io.layout = opts.layout;
    io.prefix = opts.prefix;
    io.epoch = opts.epoch;
    io.use_layer_cache = opts.use_layer_cache;
    MB_ASSIGN(OciImage image, opts.base ? build_image_on_base(lock, store, io, *opts.base, sink)
                                        : build_image(lock, store, io, sink));
    MB_TRY(write_oci_layout_files(staging.path(), image, opts.tag));
    MB_TRY(staging.commit(opts.force));
    result.image = std::move(image);
  } else {
    MB_ASSIGN(auto entries, bundle_entries(lock, store.layout(), opts.layout, opts.prefix, true));
    if (opts.format == Format::dir) {
      MB_ASSIGN(StagingDir staging, StagingDir::create(opts.output));
      MB_TRY(materialize(entries, staging.path(), opts.sync));
      MB_TRY(staging.commit(opts.force));
      result.entries = entries.size();
    } else {
      MB_ASSIGN(result, export_tar(std::move(entries), opts));
    }
  }
  for (const auto& m : lock.models) {
    result.files += m.files.size();
    result.bytes += m.total_bytes();
  }
  return result;
}

}  // namespace mb::bundle
