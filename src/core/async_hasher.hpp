// A Hasher whose digest work runs on its own thread, so a producer that reads and writes
// the same bytes (export, layer building, import) is not held up by the sha256: the two
// overlap on two cores. update() copies into a small ring of chunks (depth x chunk bytes of
// memory) and blocks only when the hashing thread is that far behind. Buffers and the thread
// are set up lazily: content smaller than one chunk is hashed inline at finish_hex().
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/hash.hpp"

namespace mb {

class AsyncHasher {
 public:
  explicit AsyncHasher(HashAlgo algo, size_t chunk = 1 << 20, size_t depth = 4);
  ~AsyncHasher();
  AsyncHasher(const AsyncHasher&) = delete;
  AsyncHasher& operator=(const AsyncHasher&) = delete;

  void update(const void* data, size_t len);
  // Waits for everything submitted to be hashed; the hasher must not be used afterwards.
  std::string finish_hex();

 private:
  void submit_open_chunk();
  void wait_for_free_buffer();
  void run();

  Hasher m_hasher;
  char* buffer_for(uint64_t chunk_index);

  std::vector<std::unique_ptr<char[]>> m_bufs;  // chunk k lives in m_bufs[k % depth]
  std::vector<size_t> m_sizes;
  size_t m_chunk;
  size_t m_fill = 0;          // bytes in the open chunk (index m_submitted)
  bool m_open_ready = false;  // the open chunk's buffer is known to be free

  std::mutex m_mutex;
  std::condition_variable m_cv;
  uint64_t m_submitted = 0;  // chunks handed to the thread
  uint64_t m_hashed = 0;     // chunks it has finished
  bool m_stop = false;
  std::thread m_thread;
};

}  // namespace mb
