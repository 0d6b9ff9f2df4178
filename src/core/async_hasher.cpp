#include "core/async_hasher.hpp"

#include <algorithm>
#include <cstring>

namespace mb {

AsyncHasher::AsyncHasher(HashAlgo algo, size_t chunk, size_t depth)
    : m_hasher(algo),
      m_bufs(std::max<size_t>(depth, 2)),
      m_sizes(m_bufs.size(), 0),
      m_chunk(chunk) {}

char* AsyncHasher::buffer_for(uint64_t chunk_index) {
  auto& b = m_bufs[chunk_index % m_bufs.size()];
  if (!b) b.reset(new char[m_chunk]);  // uninitialised: every byte hashed is written first
  return b.get();
}

AsyncHasher::~AsyncHasher() {
  {
    std::lock_guard lock(m_mutex);
    m_stop = true;
  }
  m_cv.notify_all();
  if (m_thread.joinable()) m_thread.join();
}

void AsyncHasher::wait_for_free_buffer() {
  // Chunk m_submitted reuses the buffer of chunk m_submitted - depth: it must be hashed.
  std::unique_lock lock(m_mutex);
  m_cv.wait(lock, [&] { return m_submitted - m_hashed < m_bufs.size(); });
  m_open_ready = true;
}

void AsyncHasher::submit_open_chunk() {
  if (!m_thread.joinable()) m_thread = std::thread([this] { run(); });
  {
    std::lock_guard lock(m_mutex);
    m_sizes[m_submitted % m_bufs.size()] = m_fill;
    ++m_submitted;
  }
  m_cv.notify_all();
  m_fill = 0;
  m_open_ready = false;
}

void AsyncHasher::update(const void* data, size_t len) {
  const char* p = static_cast<const char*>(data);
  while (len > 0) {
    if (!m_open_ready) wait_for_free_buffer();
    char* buf = buffer_for(m_submitted);
    size_t n = std::min(len, m_chunk - m_fill);
    std::memcpy(buf + m_fill, p, n);
    m_fill += n;
    p += n;
    len -= n;
    if (m_fill == m_chunk) submit_open_chunk();
  }
}

std::string AsyncHasher::finish_hex() {
  if (!m_thread.joinable()) {  // never filled a chunk: hash the little there is right here
    if (m_fill > 0) m_hasher.update(buffer_for(0), m_fill);
    m_fill = 0;
    return m_hasher.finish_hex();
  }
  if (m_fill > 0) submit_open_chunk();
  std::unique_lock lock(m_mutex);
  m_cv.wait(lock, [&] { return m_hashed == m_submitted; });
  lock.unlock();
  return m_hasher.finish_hex();
}

void AsyncHasher::run() {
  for (;;) {
    size_t index = 0, size = 0;
    {
      std::unique_lock lock(m_mutex);
      m_cv.wait(lock, [&] { return m_stop || m_hashed < m_submitted; });
      if (m_stop) return;  // finish_hex() has drained the queue, or the digest is abandoned
      index = m_hashed % m_bufs.size();
      size = m_sizes[index];
    }
    m_hasher.update(m_bufs[index].get(), size);
    {
      std::lock_guard lock(m_mutex);
      ++m_hashed;
    }
    m_cv.notify_all();
  }
}

}  // namespace mb
