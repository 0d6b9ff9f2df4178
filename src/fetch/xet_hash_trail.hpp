// The sha256 of a Xet download, computed while it downloads (docs/fetch.md "Xet"): a thread
// trails the contiguous prefix of finished terms and hashes it back from the page cache, so
// the digest is ready moments after the last term lands instead of costing a second pass.
// It keeps the hash state every k_checkpoint bytes, so after a repair rewrote bytes at some
// offset only the file from the checkpoint before them is hashed again.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "core/error.hpp"
#include "core/hash.hpp"

namespace mb::fetch {

class XetHashTrail {
 public:
  static constexpr uint64_t k_checkpoint = 32ull << 20;

  // Starts the thread; `fd` must stay open (and `size` bytes long) until finish().
  XetHashTrail(int fd, uint64_t size, std::string label);
  ~XetHashTrail();  // stops and joins the thread
  XetHashTrail(const XetHashTrail&) = delete;
  XetHashTrail& operator=(const XetHashTrail&) = delete;

  // Bytes [0, prefix) are final on disk (called as the contiguous prefix grows).
  void advance(uint64_t prefix);
  // Waits for the whole file to be hashed (the caller has advanced to `size`) and returns
  // the sha256. The thread is gone afterwards; rehash_from may follow.
  Result<std::string> finish();
  // Bytes at `offset` and after changed on disk: hashes again from the last checkpoint at
  // or before it (on this thread) and returns the new sha256. Only after finish().
  Result<std::string> rehash_from(uint64_t offset);

  uint64_t rehashed_bytes() const { return m_rehashed; }

 private:
  void run();
  Status hash_until(uint64_t target);
  std::string digest() const;

  int m_fd;
  uint64_t m_size;
  std::string m_label;
  Hasher m_sha{HashAlgo::sha256};
  uint64_t m_hashed = 0;
  std::vector<std::pair<uint64_t, Hasher>> m_checkpoints;  // (offset, state there), ascending
  std::vector<char> m_buf;
  uint64_t m_rehashed = 0;

  std::mutex m_mutex;
  std::condition_variable m_cv;
  uint64_t m_ready = 0;
  bool m_stop = false;
  std::optional<Error> m_error;
  std::thread m_thread;
};

}  // namespace mb::fetch
