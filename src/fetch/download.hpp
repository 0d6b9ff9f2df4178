// Downloads one file into a temp file inside the cache's tmp/ and verifies it; the caller
// (engine) holds the content lock for the etag and adopts the verified temp into the store.
//
// Two ways: small files stream in one request with the digests computed on the fly; files
// above the resume threshold are written in place into a preallocated tmp/<etag>.partial
// (above the range threshold as parallel byte ranges, else as one ranged stream), while a
// hasher thread digests the contiguous prefix, and progress is recorded in
// tmp/<etag>.partial.json so a killed run resumes (docs/fetch.md).
//
// A digest mismatch (a flipped byte from a flaky proxy) discards the file and downloads it
// again from scratch, up to the retry policy's attempts; only a persistent mismatch fails.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "core/env.hpp"
#include "core/error.hpp"
#include "core/file.hpp"
#include "fetch/progress.hpp"
#include "fetch/resume_state.hpp"
#include "fetch/source.hpp"
#include "fetch/xet_index.hpp"
#include "net/retry.hpp"
#include "net/transport.hpp"
#include "store/cache_door.hpp"
#include "xet/cas.hpp"

namespace mb::fetch {

struct DownloadSpec {
  std::string etag;    // 40-hex git blob sha1 (regular file) or 64-hex sha256 (LFS)
  std::string sha256;  // expected content sha256; empty when unknown (regular file at lock time)
  uint64_t size = 0;
};

inline constexpr uint64_t k_resume_threshold = 4ull << 20;  // docs/fetch.md "Resume"

struct DownloadOptions {
  int connections = 8;                     // parallel ranges per big file
  uint64_t range_threshold = 64ull << 20;  // files larger than this use parallel ranges
  // Files larger than this go through the resumable partial even below range_threshold
  // (one connection). Smaller ones restart from zero after a kill: a few MiB are cheaper to
  // fetch again than a sidecar and a HEAD per file.
  uint64_t resume_threshold = k_resume_threshold;
  uint64_t min_chunk = 8ull << 20;  // smallest range piece
  net::RetryPolicy retry;
  // Xet (docs/fetch.md "Xet"): off with --no-xet or HF_HUB_DISABLE_XET. Each reconstruction
  // query covers at most xet_window bytes of the file (the spec's windows; they also keep
  // the signed URLs of a huge file fresh).
  bool xet = true;
  uint64_t xet_window = 1ull << 30;
};

// Where a Xet download gets its data: the CAS client (token of the file's repo and commit)
// and the file's Xet hash when the lock names it (else the /resolve/ HEAD tells).
struct XetAccess {
  xet::CasClient& cas;
  std::string file_id;
  // Chunks of the given xorbs that cached files hold (the engine reads the store's chunk
  // indexes); unset: everything is fetched.
  std::function<void(const std::set<std::string>& xorbs, LocalChunks& out)> local_chunks;
  // The whole file's reconstruction from a batch query of its repo's small files (used once,
  // for a file that fits one window; an expired URL in it makes the window query again).
  std::shared_ptr<const xet::Reconstruction> prefetched;
};

// Sees a download's bytes as they land, before they are verified (`serve --upstream` streams
// them to waiting clients: docs/serve.md "Streaming a miss"). Called on the download's
// threads; every call must be quick and cannot fail.
class DownloadWatch {
 public:
  virtual ~DownloadWatch() = default;
  // The download now writes into `fd`, open on `path` below the cache root, of which the
  // `present` extents already hold downloaded bytes (resumed). Bytes reported before are void
  // unless this is the same file and they all lie in `present`.
  virtual void begin(const std::string& path, int fd, const ExtentSet& present) = 0;
  // [begin, end) of that file now holds downloaded (unverified) bytes.
  virtual void landed(uint64_t begin, uint64_t end) = 0;
  // Every byte reported so far is void: the file is discarded (a digest mismatch).
  virtual void discarded() = 0;
};

struct DownloadEnv {
  net::Transport& transport;
  Clock& clock;
  // Every file of a download (the temp, the partial, its sidecar) is opened through the door:
  // a link or FIFO planted at one of those names is refused, never written through.
  const CacheDoor& door;
  std::string tmp_dir;  // below door.root()
  Progress* progress = nullptr;
  int progress_id = 0;
  // Called when a whole-file download is discarded after a digest mismatch and started
  // again; `next_attempt` is the number of the download about to start (2 = first retry).
  std::function<void(const Error& mismatch, int next_attempt)> on_integrity_retry;
  XetAccess* xet = nullptr;        // set when the file may come through Xet
  DownloadWatch* watch = nullptr;  // sees the bytes as they land (serve); may be null
};

struct Downloaded {
  std::string temp_path;     // verified, fsynced; inside tmp_dir
  std::string xet_hash;      // the file's Xet hash when it came through Xet
  ChunkIndex xet_index;      // where its Xet chunks lie (for later dedupe)
  uint64_t local_bytes = 0;  // copied from cached files instead of downloaded (Xet dedupe)
  std::string sha256;
  std::string git_sha1;        // filled by the download ways when the etag is a git sha1
  uint64_t network_bytes = 0;  // received in this run (all attempts)
  uint64_t resumed_bytes = 0;  // taken over from an earlier run's partial
};

Result<Downloaded> download_file(FileSource& source, const DownloadSpec& spec,
                                 const DownloadOptions& options, DownloadEnv& env);

// Whether `size` goes through the resumable partial (download_ranges) with these options.
bool uses_partial(uint64_t size, const DownloadOptions& options);

// Resumable download names (the etag makes a partial belong to exactly one content).
std::string partial_path(const std::string& tmp_dir, const std::string& etag);
std::string partial_state_path(const std::string& tmp_dir, const std::string& etag);

// --- shared by the two download ways (download_*.cpp) ---

// Fails with a clear io error when `dir`'s filesystem has less than `needed` bytes free.
Status ensure_free_space(const std::string& dir, uint64_t needed, const std::string& label);

// Compares computed digests with the expectation: sha256 (when known or when the etag is a
// sha256) and the git blob sha1 (when the etag is one). Integrity error on mismatch.
Status check_digests(const DownloadSpec& spec, const std::string& sha256,
                     const std::string& git_sha1, const std::string& label);

// One full-file stream into `fd` from offset 0 with inline hashing, resuming with Range
// after a dropped connection (restarting when the server answers 200). Used for small files
// and as the fallback when a server ignores Range. Fills out.sha256, out.git_sha1 and
// out.network_bytes, fsyncs; the caller checks the digests (check_digests).
// `path` is the file `fd` is open on (for env.watch).
Status stream_whole_file(FileSource& source, const DownloadSpec& spec, int fd,
                         const std::string& path, const DownloadOptions& options, DownloadEnv& env,
                         Downloaded& out);

// The resumable partial tmp/<etag>.partial, open read-write at its full size, with its resume
// state: an earlier run's when it names the same content and the partial has its size, else
// a fresh one (free space checked before anything is allocated). Shared by the bridge's
// ranges and Xet, so one can resume what the other started.
struct PartialFile {
  UniqueFd fd;
  std::string path, state_path;
  ResumeState state;
};
Result<PartialFile> open_partial(const DownloadSpec& spec, DownloadEnv& env,
                                 const std::string& label);

// Xet (download_xet.cpp): reconstruction terms fetched from the CAS, decoded and written into
// the partial at their offsets, then hashed. nullopt when the hub names no Xet hash for the
// file (not a Xet file: the caller uses the bridge). Digests are returned, not checked.
Result<std::optional<Downloaded>> download_xet(FileSource& source, const DownloadSpec& spec,
                                               const DownloadOptions& options, DownloadEnv& env);

// Ranges (options.connections at once) into tmp/<etag>.partial (see above). Returns the
// closed, fsynced partial with its digests, NOT yet checked (download_file does that and
// discards on mismatch). On a server that ignores Range it falls back to stream_whole_file
// over the same partial.
Result<Downloaded> download_ranges(FileSource& source, const DownloadSpec& spec,
                                   const DownloadOptions& options, DownloadEnv& env);

}  // namespace mb::fetch
