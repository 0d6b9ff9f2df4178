// A pull-through download that clients read while it runs (docs/serve.md "Streaming a miss").
// The fetch engine reports, through fetch::DownloadWatch, which file it writes and which bytes
// have landed in it; the upstream job reports the end (verified and in the cache, or failed).
// Each client reads through a StreamCursor, which binds to the attempt it first reads from:
// when that attempt's bytes are discarded (a digest mismatch) or the job fails, the cursor
// fails, so the client's response is cut short. The last byte of every response waits for
// the verified end, so no response completes with bytes that fail verification.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/file.hpp"
#include "fetch/download.hpp"
#include "store/cache_door.hpp"

namespace mb::serve {

class LiveDownload final : public fetch::DownloadWatch {
 public:
  enum class End { running, verified, failed };

  // --- the download's side (fetch::DownloadWatch, on its threads) ---
  void begin(const std::string& path, int fd, const fetch::ExtentSet& present) override;
  void landed(uint64_t begin, uint64_t end) override;
  void discarded() override;
  // The job's end: `verified` when the file is verified and in the cache.
  void finish(bool verified);

  // --- the clients' side ---
  // What a client may do at one moment.
  struct View {
    uint64_t version = 0;    // changes with every event above
    uint64_t attempt = 0;    // the file being written; 0 when none
    std::string path;        // below the cache root; empty when none
    dev_t dev = 0;           // identity of that file (a cursor checks the one it opens)
    ino_t ino = 0;           //
    uint64_t available = 0;  // end of the landed bytes that begin at the asked offset
    End end = End::running;
  };
  View view(uint64_t offset) const;
  // Whether a response can start: bytes have landed, or the download is verified.
  bool started() const;
  uint64_t version() const;
  // Runs `fn` once, at the next event after `version` (at once when there was one already).
  void notify_after(uint64_t version, std::function<void()> fn);

 private:
  void changed(std::unique_lock<std::mutex>& lock);

  mutable std::mutex m_mutex;
  uint64_t m_version = 1;
  uint64_t m_attempt = 0;   // the current attempt's number; 0 between attempts
  uint64_t m_attempts = 0;  // attempts begun so far
  std::string m_path;
  dev_t m_dev = 0;
  ino_t m_ino = 0;
  fetch::ExtentSet m_landed;
  End m_end = End::running;
  std::vector<std::function<void()>> m_waiters;
};

// One client's read of a live download, up to `end` (exclusive).
class StreamCursor {
 public:
  // `open_published` opens the verified file in the cache (for a client that never read
  // from an attempt: the download was already over, or found the content in the store).
  StreamCursor(std::shared_ptr<LiveDownload> live, const CacheDoor& door, uint64_t end,
               std::function<Result<UniqueFd>()> open_published);

  struct Step {
    enum Kind { data, wait, fail } kind = fail;
    size_t bytes = 0;      // data: read into the buffer
    uint64_t version = 0;  // wait: what to pass to LiveDownload::notify_after
    std::string why;       // fail: for the log
  };
  // Reads at absolute `offset` of the file into buf (at most `max` bytes).
  Step read(uint64_t offset, char* buf, size_t max);
  const std::shared_ptr<LiveDownload>& live() const { return m_live; }

 private:
  Step open_attempt(const LiveDownload::View& v);

  std::shared_ptr<LiveDownload> m_live;
  const CacheDoor& m_door;
  uint64_t m_end;
  std::function<Result<UniqueFd>()> m_open_published;
  UniqueFd m_fd;
  uint64_t m_attempt = 0;  // the attempt m_fd reads; 0 with the published file
};

}  // namespace mb::serve
