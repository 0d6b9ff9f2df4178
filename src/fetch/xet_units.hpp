// The pieces of a Xet download shared by download_xet.cpp (the download) and xet_repair.cpp
// (finding and rewriting damaged terms): the plan of a reconstruction window as units (one
// fetch each, with the terms it feeds), the shared state of a window's workers, and the
// worker that fetches one unit under the retry policy.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/log.hpp"
#include "fetch/download.hpp"
#include "fetch/extents.hpp"
#include "fetch/xet_hash_trail.hpp"
#include "xet/reconstruction.hpp"

namespace mb::fetch::xetdl {

// Where one term's decoded bytes go: the term's first decoded byte belongs at file offset
// `out_begin` (before the window start for a first term cut by offset_into_first_range);
// only [clip_begin, clip_end) is written (the window's part of the file).
struct TermPlan {
  const xet::Term* term = nullptr;
  uint64_t out_begin = 0;
  uint64_t clip_begin = 0, clip_end = 0;
};

// One fetch and the terms it feeds.
struct Unit {
  const xet::Fetch* fetch = nullptr;
  std::vector<TermPlan> terms;
};

// Terms of a reconstruction for file bytes [first, last], grouped by fetch, without those
// whose bytes are all in `done`; in file order of each unit's first term.
Result<std::vector<Unit>> plan_units(const xet::Reconstruction& rec, uint64_t first, uint64_t last,
                                     const ExtentSet& done);

struct Window {
  Window(int fd_, PartialFile& partial_, DownloadEnv& env_, const std::string& label_)
      : fd(fd_), partial(partial_), env(env_), label(label_) {}

  int fd;
  PartialFile& partial;
  DownloadEnv& env;
  const std::string& label;
  std::mutex mutex;  // partial.state
  std::atomic<bool> stop{false};
  std::atomic<bool> expired{false};  // a signed URL was refused: query again
  std::atomic<uint64_t> network{0};
  std::optional<Error> error;
  std::mutex index_mutex;
  ChunkIndex* index = nullptr;
  XetHashTrail* trail = nullptr;
  // Repair mode: decoded bytes are compared with the file's, and only differing ones are
  // written; finished terms go to `verified`, not to the resume state.
  bool verify = false;
  ExtentSet verified;
  std::atomic<uint64_t> fixed_bytes{0};
  std::atomic<uint64_t> fixed_pieces{0};  // chunk pieces rewritten
  std::atomic<uint64_t> first_fixed{UINT64_MAX};

  // Repair mode, before a byte is rewritten: whatever a watcher (serve streaming the file)
  // was told has landed is void, since a client may have been sent the damaged bytes.
  void voiding() {
    if (env.watch && !voided.exchange(true)) env.watch->discarded();
  }
  std::atomic<bool> voided{false};

  void fixed(uint64_t offset, uint64_t length) {
    fixed_bytes += length;
    ++fixed_pieces;
    uint64_t seen = first_fixed;
    while (offset < seen && !first_fixed.compare_exchange_weak(seen, offset)) {
    }
  }

  // A chunk written whole at `offset`: remembered for later dedupe.
  void placed(const std::string& xorb, uint32_t chunk, uint64_t offset, size_t length) {
    std::lock_guard lock(index_mutex);
    index->chunks.push_back({index->xorb_id(xorb), chunk, offset, static_cast<uint32_t>(length)});
  }

  void finished(const Unit& unit) {
    uint64_t covered = 0;
    {
      std::lock_guard lock(mutex);
      if (verify) {
        for (const TermPlan& tp : unit.terms) verified.add(tp.clip_begin, tp.clip_end);
        return;
      }
      for (const TermPlan& tp : unit.terms) {
        partial.state.done.add(tp.clip_begin, tp.clip_end);
        if (env.watch) env.watch->landed(tp.clip_begin, tp.clip_end);
      }
      covered = partial.state.done.covered();
      if (trail) trail->advance(partial.state.done.contiguous_prefix());
      if (Status st = save_resume_state(env.door, partial.state_path, partial.state); !st.ok()) {
        log::debug("could not save download state: " + st.error().message);
      }
    }
    if (env.progress) env.progress->file_progress(env.progress_id, covered);
  }

  void fail_all(Error e) {
    std::lock_guard lock(mutex);
    if (!error) error = std::move(e);
    stop = true;
  }
};

Status pread_all(int fd, char* buf, size_t len, uint64_t offset, const std::string& what);

// Fetches one unit, decodes it and writes (or, in repair mode, compares) its terms; corrupt
// data is fetched again like a dropped connection. Failures go to w.fail_all, a refused
// signed URL to w.expired.
void run_unit(Window& w, const Unit& unit, xet::CasClient& cas, const DownloadOptions& options);

// After a sha256 mismatch of a Xet download: fetches the file's terms again in file order,
// rewrites the bytes that differ from the file's, and re-hashes from the first rewritten
// byte after each batch of `connections` units that rewrote something, stopping as soon as
// the sha256 is `expected`. Returns the file's sha256 at the end (still wrong when the CAS
// serves the same wrong bytes again: the bridge then gets the file).
Result<std::string> repair_file(PartialFile& partial, DownloadEnv& env,
                                const DownloadOptions& options, const XetAccess& xet,
                                const std::string& file_id, uint64_t size, XetHashTrail& trail,
                                const std::string& expected, const std::string& label,
                                uint64_t& network);

}  // namespace mb::fetch::xetdl
