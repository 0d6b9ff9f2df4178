#include "verify/snapshot_reader.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>

namespace mb::verify {

namespace {

size_t count_parts(const std::string& file) {
  return static_cast<size_t>(std::count(file.begin(), file.end(), '/')) + 1;
}

ResolvedEntry with_state(EntryState state, std::string message = {}) {
  ResolvedEntry r;
  r.state = state;
  r.message = std::move(message);
  return r;
}

}  // namespace

Result<int> SnapshotReader::folder(const std::string& sub) {
  auto it = m_dirs.find(sub);
  if (it == m_dirs.end()) {
    std::string path = sub.empty() ? m_snap : m_snap + "/" + sub;
    MB_ASSIGN(UniqueFd fd, m_door.open_dir(path, MissingDir::ok));
    it = m_dirs.emplace(sub, std::move(fd)).first;
  }
  return it->second.get();
}

Result<int> SnapshotReader::blobs() {
  if (!m_blobs) {
    MB_ASSIGN(UniqueFd fd, m_door.open_dir(m_repo + "/blobs", MissingDir::ok));
    m_blobs.emplace(std::move(fd));
  }
  return m_blobs->get();
}

ResolvedEntry SnapshotReader::resolve(const std::string& file) {
  size_t slash = file.rfind('/');
  std::string sub = slash == std::string::npos ? "" : file.substr(0, slash);
  std::string leaf = slash == std::string::npos ? file : file.substr(slash + 1);
  auto dir = folder(sub);
  if (!dir.ok()) return with_state(EntryState::planted, dir.error().message);
  if (*dir < 0) return with_state(EntryState::missing);
  ResolvedEntry r;
  if (::fstatat(*dir, leaf.c_str(), &r.st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return with_state(EntryState::missing);
    return with_state(EntryState::unreadable, file + ": " + std::strerror(errno));
  }
  if (S_ISREG(r.st.st_mode)) {  // a copy, as huggingface_hub makes where links are not allowed
    r.state = EntryState::regular;
    r.file = m_snap + "/" + file;
    return r;
  }
  if (!S_ISLNK(r.st.st_mode)) {
    return with_state(EntryState::not_regular,
                      file + " is " + file_kind_name(r.st.st_mode) + ", not a link to a blob");
  }
  char buf[PATH_MAX];
  ssize_t n = ::readlinkat(*dir, leaf.c_str(), buf, sizeof buf - 1);
  if (n < 0) return with_state(EntryState::unreadable, file + ": " + std::strerror(errno));
  return follow(file, std::string(buf, static_cast<size_t>(n)));
}

// The one link verify follows: exactly "../../blobs/<etag>" (deeper for nested files), and
// the blob it names must be a regular file itself, not another link.
ResolvedEntry SnapshotReader::follow(const std::string& file, const std::string& link) {
  ResolvedEntry r;
  r.link = link;
  auto etag = snapshot_link_etag(link, count_parts(file));
  if (!etag) {
    r.state = EntryState::other_link;
    return r;
  }
  auto dir = blobs();
  if (!dir.ok()) return with_state(EntryState::planted, dir.error().message);
  r.file = m_repo + "/blobs/" + *etag;
  if (*dir < 0 || ::fstatat(*dir, etag->c_str(), &r.st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (*dir < 0 || errno == ENOENT) {
      r.state = EntryState::dangling;
      return r;
    }
    r.state = EntryState::unreadable;
    r.message = file + ": " + std::strerror(errno);
    return r;
  }
  auto rel = m_door.relative(r.file);
  std::string shown = m_door.display(rel.ok() ? *rel : r.file);
  if (S_ISLNK(r.st.st_mode)) {
    r.state = EntryState::not_regular;
    r.message = planted_link_error(shown, *dir, *etag).message;
  } else if (!S_ISREG(r.st.st_mode)) {
    r.state = EntryState::not_regular;
    r.message = shown + " is not a regular file (" + file_kind_name(r.st.st_mode) + ")";
  } else {
    r.state = EntryState::regular;
  }
  return r;
}

Result<std::vector<SnapshotReader::Entry>> SnapshotReader::entries() const {
  std::vector<Entry> out;
  std::vector<std::string> todo{""};
  while (!todo.empty()) {
    std::string sub = std::move(todo.back());
    todo.pop_back();
    if (std::count(sub.begin(), sub.end(), '/') > 64) continue;  // nothing locked is that deep
    MB_ASSIGN(auto list, m_door.list(sub.empty() ? m_snap : m_snap + "/" + sub));
    for (auto& e : list) {
      std::string rel = sub.empty() ? e.name : sub + "/" + e.name;
      if (S_ISDIR(e.st.st_mode)) {
        todo.push_back(std::move(rel));
      } else {
        out.push_back({std::move(rel), e.st});
      }
    }
  }
  return out;
}

}  // namespace mb::verify
