#include "fetch/xet_hash_trail.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "core/file.hpp"

namespace mb::fetch {

XetHashTrail::XetHashTrail(int fd, uint64_t size, std::string label)
    : m_fd(fd), m_size(size), m_label(std::move(label)), m_buf(1 << 20) {
  m_thread = std::thread([this] { run(); });
}

XetHashTrail::~XetHashTrail() {
  {
    std::lock_guard lock(m_mutex);
    m_stop = true;
  }
  m_cv.notify_all();
  if (m_thread.joinable()) m_thread.join();
}

void XetHashTrail::advance(uint64_t prefix) {
  {
    std::lock_guard lock(m_mutex);
    if (prefix <= m_ready) return;
    m_ready = prefix;
  }
  m_cv.notify_all();
}

void XetHashTrail::run() {
  for (;;) {
    uint64_t target = 0;
    {
      std::unique_lock lock(m_mutex);
      m_cv.wait(lock, [&] { return m_stop || m_ready > m_hashed || m_hashed >= m_size; });
      if (m_stop || m_hashed >= m_size) return;
      target = m_ready;
    }
    Status st = hash_until(target);  // m_hashed and the hasher are this thread's alone here
    if (!st.ok()) {
      std::lock_guard lock(m_mutex);
      m_error = st.take_error();
      return;
    }
  }
}

// Reads [m_hashed, target) back and digests it, keeping the state at each checkpoint.
Status XetHashTrail::hash_until(uint64_t target) {
  while (m_hashed < target) {
    uint64_t next_checkpoint = (m_hashed / k_checkpoint + 1) * k_checkpoint;
    uint64_t stop = std::min(target, next_checkpoint);
    size_t want = static_cast<size_t>(std::min<uint64_t>(m_buf.size(), stop - m_hashed));
    ssize_t n = ::pread(m_fd, m_buf.data(), want, static_cast<off_t>(m_hashed));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return errno_error("reading back " + m_label, n < 0 ? errno : EIO);
    m_sha.update(m_buf.data(), static_cast<size_t>(n));
    m_hashed += static_cast<uint64_t>(n);
    if (m_hashed % k_checkpoint == 0 && m_hashed < m_size) {
      m_checkpoints.emplace_back(m_hashed, m_sha.clone());
    }
  }
  return {};
}

std::string XetHashTrail::digest() const { return m_sha.clone().finish_hex(); }

Result<std::string> XetHashTrail::finish() {
  advance(m_size);
  if (m_thread.joinable()) m_thread.join();  // it returns once everything is hashed
  if (m_error) return *m_error;
  if (m_hashed != m_size) return fail(ErrorCategory::io, "hashing " + m_label + " stopped early");
  return digest();
}

Result<std::string> XetHashTrail::rehash_from(uint64_t offset) {
  if (m_thread.joinable()) return fail(ErrorCategory::io, "rehash before the hash finished");
  while (!m_checkpoints.empty() && m_checkpoints.back().first > offset) m_checkpoints.pop_back();
  uint64_t from = 0;
  if (m_checkpoints.empty()) {
    m_sha = Hasher(HashAlgo::sha256);
  } else {
    from = m_checkpoints.back().first;
    m_sha = m_checkpoints.back().second.clone();
  }
  m_rehashed += m_size - from;
  m_hashed = from;
  MB_TRY(hash_until(m_size));
  return digest();
}

}  // namespace mb::fetch
