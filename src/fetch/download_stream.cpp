// Small files: one streamed GET, digests computed as the bytes arrive.
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <optional>

#include "core/file.hpp"
#include "core/hash.hpp"
#include "core/log.hpp"
#include "fetch/download.hpp"
#include "lock/entry_match.hpp"

namespace mb::fetch {

namespace {

class StreamSink final : public net::BodySink {
 public:
  StreamSink(int fd, const std::string& path, const DownloadSpec& spec, const std::string& label,
             DownloadEnv& env)
      : m_fd(fd), m_path(path), m_spec(spec), m_label(label), m_env(env) {
    reset();
  }

  uint64_t pos() const { return m_pos; }
  uint64_t network_bytes() const { return m_network; }
  std::string sha256() { return m_sha256->finish_hex(); }
  std::string git_sha1() { return m_git ? m_git->finish_hex() : std::string(); }

  Status on_response(int status, const net::Headers& headers) override {
    if (status == 206) {
      auto cr = parse_content_range(headers.get("Content-Range").value_or(""));
      if (!cr || cr->first != m_pos || (cr->total && *cr->total != m_spec.size)) {
        return fail(ErrorCategory::permanent,
                    "server answered a different byte range for " + m_label);
      }
      return {};
    }
    if (m_pos > 0) {
      // The server ignored our Range: the body starts at byte 0 again.
      log::debug("server ignored Range for " + m_label + "; restarting from byte 0");
      reset();
    }
    if (auto len = headers.get("Content-Length")) {
      if (*len != std::to_string(m_spec.size)) {
        return fail(
            ErrorCategory::integrity,
            fmt::format("server sends {} bytes for {}, expected {}", *len, m_label, m_spec.size),
            "the mirror serves different content than the lock names");
      }
    }
    return {};
  }

  Status on_data(const char* data, size_t size) override {
    if (size > m_spec.size - m_pos) {
      return fail(
          ErrorCategory::integrity,
          fmt::format("server sent more than the expected {} bytes for {}", m_spec.size, m_label));
    }
    MB_TRY(pwrite_all(m_fd, data, size, m_pos, m_label));
    m_sha256->update(data, size);
    if (m_git) m_git->update(data, size);
    if (m_env.watch) m_env.watch->landed(m_pos, m_pos + size);
    m_pos += size;
    m_network += size;
    if (m_env.progress) {
      m_env.progress->add_network_bytes(size);
      m_env.progress->file_progress(m_env.progress_id, m_pos);
    }
    return {};
  }

 private:
  void reset() {
    // The file is written again from byte 0: what it held is void for a watcher.
    if (m_env.watch) m_env.watch->begin(m_path, m_fd, ExtentSet{});
    m_pos = 0;
    m_sha256.emplace(HashAlgo::sha256);
    if (etag_is_git_sha1(m_spec.etag)) m_git.emplace(m_spec.size);
    if (m_env.progress) m_env.progress->file_progress(m_env.progress_id, 0);
  }

  int m_fd;
  const std::string& m_path;
  const DownloadSpec& m_spec;
  const std::string& m_label;
  DownloadEnv& m_env;
  uint64_t m_pos = 0, m_network = 0;
  std::optional<Hasher> m_sha256;
  std::optional<GitBlobHasher> m_git;
};

}  // namespace

std::string partial_path(const std::string& tmp_dir, const std::string& etag) {
  return tmp_dir + "/" + etag + ".partial";
}

std::string partial_state_path(const std::string& tmp_dir, const std::string& etag) {
  return tmp_dir + "/" + etag + ".partial.json";
}

Status ensure_free_space(const std::string& dir, uint64_t needed, const std::string& label) {
  struct statvfs vfs {};
  if (::statvfs(dir.c_str(), &vfs) != 0) return errno_error("checking free space in " + dir, errno);
  uint64_t avail = static_cast<uint64_t>(vfs.f_bavail) * static_cast<uint64_t>(vfs.f_frsize);
  if (needed > avail) {
    return fail(ErrorCategory::io,
                fmt::format("not enough free disk space for {}: needs {} bytes, {} available in {}",
                            label, needed, avail, dir),
                "free some space or point --cache at a bigger disk");
  }
  return {};
}

Status check_digests(const DownloadSpec& spec, const std::string& sha256,
                     const std::string& git_sha1, const std::string& label) {
  // The size was checked while the bytes arrived (a download that does not announce it has
  // spec.size 0), so only the digests are left to compare.
  EntryMatch m = match_entry({std::nullopt, spec.sha256, spec.etag}, {0, sha256, git_sha1});
  if (m.ok()) return {};
  return fail(ErrorCategory::integrity, "digest mismatch for " + label + ": " + m.describe(),
              "the server sent corrupt or different data; nothing was stored. Retry, or check "
              "the endpoint/mirror");
}

Status stream_whole_file(FileSource& source, const DownloadSpec& spec, int fd,
                         const std::string& path, const DownloadOptions& options, DownloadEnv& env,
                         Downloaded& out) {
  StreamSink sink(fd, path, spec, source.label(), env);
  net::RetryLoop loop(options.retry, env.clock);
  net::Attempt attempt;
  for (;;) {
    attempt.retry_after.reset();
    std::optional<net::ByteRange> range;
    if (sink.pos() > 0) range = net::ByteRange{sink.pos(), spec.size - 1};
    auto response = exchange(source, env.transport, env.clock, range, sink, attempt);
    Status st;
    if (!response.ok()) {
      st = response.take_error();
    } else if (sink.pos() != spec.size) {
      st =
          fail(ErrorCategory::transient, fmt::format("connection closed after {} of {} bytes of {}",
                                                     sink.pos(), spec.size, source.label()));
    }
    if (st.ok()) break;
    out.network_bytes = sink.network_bytes();
    if (!loop.retry_after_failure(st.error(), attempt))
      return loop.give_up(st.take_error(), attempt);
  }
  out.network_bytes = sink.network_bytes();
  out.git_sha1 = sink.git_sha1();
  out.sha256 = sink.sha256();
  if (::ftruncate(fd, static_cast<off_t>(spec.size)) != 0)
    return errno_error("truncating temp", errno);
  return fsync_fd(fd, source.label());
}

}  // namespace mb::fetch
