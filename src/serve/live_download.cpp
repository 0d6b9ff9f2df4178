#include "serve/live_download.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace mb::serve {

void LiveDownload::begin(const std::string& path, int fd, const fetch::ExtentSet& present) {
  struct stat st {};
  bool known = ::fstat(fd, &st) == 0;
  std::unique_lock lock(m_mutex);
  // The same file, still holding every byte reported so far (Xet handing over to the bridge,
  // which resumes it): the attempt goes on. Anything else is a new attempt, and a client that
  // read from the old one is cut (its bytes may differ from what will be verified).
  bool same = m_attempt != 0 && known && st.st_dev == m_dev && st.st_ino == m_ino;
  for (const fetch::Extent& e : m_landed.extents()) same = same && present.contains(e.begin, e.end);
  if (!same) {
    m_attempt = ++m_attempts;
    m_landed.clear();
  }
  m_path = path;
  m_dev = known ? st.st_dev : 0;
  m_ino = known ? st.st_ino : 0;
  for (const fetch::Extent& e : present.extents()) m_landed.add(e.begin, e.end);
  changed(lock);
}

void LiveDownload::landed(uint64_t begin, uint64_t end) {
  std::unique_lock lock(m_mutex);
  if (m_attempt == 0 || begin >= end) return;
  m_landed.add(begin, end);
  changed(lock);
}

void LiveDownload::discarded() {
  std::unique_lock lock(m_mutex);
  m_attempt = 0;
  m_path.clear();
  m_landed.clear();
  changed(lock);
}

void LiveDownload::finish(bool verified) {
  std::unique_lock lock(m_mutex);
  m_end = verified ? End::verified : End::failed;
  changed(lock);
}

void LiveDownload::changed(std::unique_lock<std::mutex>& lock) {
  ++m_version;
  std::vector<std::function<void()>> waiters;
  waiters.swap(m_waiters);
  lock.unlock();  // the waiters resume connections: never under our lock
  for (auto& w : waiters) w();
}

LiveDownload::View LiveDownload::view(uint64_t offset) const {
  std::lock_guard lock(m_mutex);
  View v{m_version, m_attempt, m_path, m_dev, m_ino, offset, m_end};
  for (const fetch::Extent& e : m_landed.extents()) {
    if (e.begin <= offset && offset < e.end) v.available = e.end;
  }
  return v;
}

bool LiveDownload::started() const {
  std::lock_guard lock(m_mutex);
  return m_end == End::verified || (m_end == End::running && !m_landed.empty());
}

uint64_t LiveDownload::version() const {
  std::lock_guard lock(m_mutex);
  return m_version;
}

void LiveDownload::notify_after(uint64_t version, std::function<void()> fn) {
  {
    std::lock_guard lock(m_mutex);
    if (m_version == version) {
      m_waiters.push_back(std::move(fn));
      return;
    }
  }
  fn();
}

StreamCursor::StreamCursor(std::shared_ptr<LiveDownload> live, const CacheDoor& door, uint64_t end,
                           std::function<Result<UniqueFd>()> open_published)
    : m_live(std::move(live)),
      m_door(door),
      m_end(end),
      m_open_published(std::move(open_published)) {}

StreamCursor::Step StreamCursor::open_attempt(const LiveDownload::View& v) {
  // Through the door, like every cache access; the file must be the one being written (the
  // name is reused by the next attempt).
  auto fd = m_door.open_file(v.path, O_RDONLY);
  struct stat st {};
  if (!fd.ok() || ::fstat(fd->get(), &st) != 0 || st.st_dev != v.dev || st.st_ino != v.ino) {
    // Gone or replaced: the verified file was just adopted into the store (its end follows),
    // or a new attempt began. Look again after the next event; nothing was sent from it.
    return Step{Step::wait, 0, v.version, ""};
  }
  m_fd = std::move(*fd);
  m_attempt = v.attempt;
  return Step{Step::data, 0, 0, ""};
}

StreamCursor::Step StreamCursor::read(uint64_t offset, char* buf, size_t max) {
  LiveDownload::View v = m_live->view(offset);
  if (v.end == LiveDownload::End::failed) return Step{Step::fail, 0, 0, "the download failed"};
  if (m_attempt != 0 && v.attempt != m_attempt) {
    return Step{Step::fail, 0, 0, "the download's bytes were discarded"};
  }
  uint64_t limit = m_end;
  if (v.end == LiveDownload::End::verified) {
    if (!m_fd.valid()) {
      auto fd = m_open_published();
      if (!fd.ok()) return Step{Step::fail, 0, 0, fd.error().message};
      m_fd = std::move(*fd);
    }
  } else {
    if (v.attempt == 0) return Step{Step::wait, 0, v.version, ""};
    if (!m_fd.valid()) {
      Step opened = open_attempt(v);
      if (opened.kind != Step::data) return opened;
    }
    // The response's last byte waits for the verified end: until then a client cannot
    // mistake unverified bytes for a complete response.
    limit = std::min(v.available, m_end - 1);
    if (limit <= offset) return Step{Step::wait, 0, v.version, ""};
  }
  size_t want = static_cast<size_t>(std::min<uint64_t>(max, limit - offset));
  for (;;) {
    ssize_t n = ::pread(m_fd.get(), buf, want, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Step{Step::fail, 0, 0, "reading the download in progress failed"};
    return Step{Step::data, static_cast<size_t>(n), 0, ""};
  }
}

}  // namespace mb::serve
