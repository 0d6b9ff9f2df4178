#include "runtime/model/model_files.hpp"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>

#include "core/paths.hpp"

namespace mb::infer {

bool ModelFiles::exists(const std::string& rel) const {
  struct stat st {};
  return ::lstat(join_path(m_dir, rel).c_str(), &st) == 0;
}

std::vector<std::string> ModelFiles::list(const std::string& suffix) const {
  std::vector<std::string> out;
  DIR* d = ::opendir(m_dir.c_str());
  if (d == nullptr) return out;
  while (const dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name.size() > suffix.size() && name.ends_with(suffix)) out.push_back(name);
  }
  ::closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

Result<UniqueFd> ModelFiles::open(const std::string& rel) const {
  const std::string path = join_path(m_dir, rel);
  if (!m_root) return runtime::open_regular(path, rel);
  auto fd = m_root->open(path);
  if (!fd.ok()) {
    Error e = fd.take_error();
    // Name the file as the lock does; the message keeps where it resolved to.
    if (e.message.rfind(path, 0) == 0) e.message = rel + e.message.substr(path.size());
    return e;
  }
  if (!m_locked.count(rel)) m_unverified.insert(rel);
  return fd;
}

Result<std::string> ModelFiles::read(const std::string& rel, uint64_t max_bytes) const {
  MB_ASSIGN(UniqueFd fd, open(rel));
  return read_fd(fd.get(), max_bytes, rel, ErrorCategory::integrity);
}

Result<MappedFile> ModelFiles::map(const std::string& rel) const {
  MB_ASSIGN(UniqueFd fd, open(rel));
  return MappedFile::map(fd.get(), rel);
}

Result<uint64_t> ModelFiles::size(const std::string& rel) const {
  MB_ASSIGN(UniqueFd fd, open(rel));
  return file_size(fd.get(), rel);
}

}  // namespace mb::infer
