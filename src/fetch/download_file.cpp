// download_file: picks the way (stream or resumable partial), verifies the digests and
// downloads again from scratch after a mismatch (docs/fetch.md "Verification").
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "core/file.hpp"
#include "core/hash.hpp"
#include "core/log.hpp"
#include "fetch/download.hpp"

namespace mb::fetch {

namespace {

// One download of the whole file (resuming a partial where there is one); digests not checked.
Result<Downloaded> download_once(FileSource& source, const DownloadSpec& spec,
                                 const DownloadOptions& options, DownloadEnv& env) {
  if (uses_partial(spec.size, options)) {
    DownloadOptions o = options;
    if (spec.size <= options.range_threshold) {
      // Below the range threshold: one connection, one piece per gap (a plain stream that
      // records its progress, so a killed run resumes it).
      o.connections = 1;
      o.min_chunk = spec.size;
    }
    return download_ranges(source, spec, o, env);
  }
  MB_TRY(ensure_free_space(env.tmp_dir, spec.size, source.label()));
  Downloaded out;
  out.temp_path = temp_path_for(env.tmp_dir + "/" + spec.etag);
  MB_ASSIGN(UniqueFd fd, env.door.open_file(out.temp_path, O_RDWR | O_CREAT | O_EXCL));
  Status st;
  if (spec.size == 0) {
    // Nothing to transfer: the digests of empty content decide alone.
    out.sha256 = sha256_hex("");
    out.git_sha1 = git_blob_sha1_hex("");
  } else {
    st = stream_whole_file(source, spec, fd.get(), out.temp_path, options, env, out);
  }
  if (st.ok()) st = fd.close_checked(out.temp_path);
  if (!st.ok()) {
    (void)env.door.unlink(out.temp_path);
    return st.take_error();
  }
  return out;
}

void discard(const Downloaded& d, const DownloadEnv& env, const std::string& etag) {
  if (env.watch) env.watch->discarded();  // before the bytes go: a watcher must stop at once
  (void)env.door.unlink(d.temp_path);
  (void)env.door.unlink(partial_state_path(env.tmp_dir, etag));
}

}  // namespace

bool uses_partial(uint64_t size, const DownloadOptions& options) {
  if (size > options.range_threshold && options.connections > 1) return true;
  return size > options.resume_threshold;
}

// Each download is verified as a whole. A mismatch is most often a byte flipped on the way
// (proxy, CDN edge): the bytes are discarded (no piece of them can be trusted) and the file
// is downloaded again, counting against the same budget as request retries. A mismatch of
// bytes resumed from an earlier run (stale after a power cut) does not count: this run did
// not download them.
Result<Downloaded> download_file(FileSource& source, const DownloadSpec& spec,
                                 const DownloadOptions& options, DownloadEnv& env) {
  net::Backoff backoff(options.retry);
  uint64_t network = 0;
  int counted = 1;  // downloads charged to the budget, including the current one
  // Xet first for LFS content (docs/fetch.md "Xet"); any failure of it hands the file to the
  // bridge (the /resolve/ redirect), which resumes from what Xet wrote.
  bool xet = options.xet && env.xet != nullptr && etag_is_sha256(spec.etag) && spec.size > 0;
  for (;;) {
    Result<Downloaded> got = fail(ErrorCategory::permanent, "no download");
    bool via_xet = false;
    if (xet) {
      auto x = download_xet(source, spec, options, env);
      if (x.ok() && x->has_value()) {
        got = std::move(**x);
        via_xet = true;
      } else if (!x.ok()) {
        Error e = x.take_error();
        if (e.category == ErrorCategory::io || e.category == ErrorCategory::cancelled) return e;
        log::warn(source.label() + ": the Xet download failed (" + e.message +
                  "); downloading it through the hub's bridge instead");
        if (!uses_partial(spec.size, options)) {
          ::unlink(partial_path(env.tmp_dir, spec.etag).c_str());
          ::unlink(partial_state_path(env.tmp_dir, spec.etag).c_str());
        }
      }
      xet = false;
    }
    if (!via_xet) got = download_once(source, spec, options, env);
    if (!got.ok()) return got.take_error();
    network += got->network_bytes;
    Status check = check_digests(spec, got->sha256, got->git_sha1, source.label());
    if (check.ok()) {
      got->network_bytes = network;
      return got;
    }
    discard(*got, env, spec.etag);
    Error e = check.take_error();
    if (via_xet) {
      // The CAS served content that is not the file: the bridge gets the next download.
      log::warn(e.message + " (through Xet); discarded, downloading through the hub's bridge");
      if (env.progress) env.progress->file_progress(env.progress_id, 0);
      continue;
    }
    bool stale = got->resumed_bytes > 0;
    // Empty content transfers nothing: a mismatch there is the lock's, not the network's.
    if (spec.size == 0) return e;
    if (!stale && counted >= options.retry.max_attempts) {
      if (counted > 1) e.message += " (on each of " + std::to_string(counted) + " downloads)";
      return e;
    }
    if (stale) {
      log::warn("discarding the resumed partial of " + source.label() + " (" + e.message + ")");
    } else {
      ++counted;
      Clock::Duration delay = backoff.next();
      log::warn(e.message + "; discarded, downloading again from scratch (download " +
                std::to_string(counted) + " of " + std::to_string(options.retry.max_attempts) +
                ")");
      if (env.on_integrity_retry) env.on_integrity_retry(e, counted);
      env.clock.sleep_for(delay);
    }
    if (env.progress) env.progress->file_progress(env.progress_id, 0);
  }
}

}  // namespace mb::fetch
