// A flat bundle folder (modelbake-verify's ROOT/<model>/<path>, `export --layout flat`) checked
// against one locked model. It is not a cache: links inside the folder are fine, so entries
// are resolved by path (lstat/readlink, realpath of the folders memoised) and must stay inside
// it. A cache is read through its door instead (integrity.cpp).
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <map>
#include <optional>

#include "core/paths.hpp"
#include "verify/checker.hpp"
#include "verify/integrity.hpp"

namespace mb::verify {

using detail::Checker;
using detail::normalise;
using detail::printable;
using detail::under;

namespace {

std::optional<std::string> real_path(const std::string& p, int* err) {
  char buf[PATH_MAX];
  if (::realpath(p.c_str(), buf) == nullptr) {
    *err = errno;
    return std::nullopt;
  }
  return std::string(buf);
}

std::string read_link(const std::string& p) {
  char buf[PATH_MAX];
  ssize_t n = ::readlink(p.c_str(), buf, sizeof buf - 1);
  return n < 0 ? std::string() : std::string(buf, static_cast<size_t>(n));
}

// realpath(3) with the directories memoised: glibc's realpath readlinks every component of
// every path, which dominates `verify --fast`. Directories are resolved once with realpath;
// a symlink target is then joined lexically to the symlink-free real directory holding it, so
// ".." is exact. Same result as realpath, a few syscalls per file instead of ~10.
class Resolver {
 public:
  std::optional<std::string> resolve(const std::string& path, int* err) {
    std::string current = path;
    for (int hops = 0; hops < 40; ++hops) {
      size_t slash = current.rfind('/');
      std::string dir =
          slash == std::string::npos ? "." : (slash == 0 ? "/" : current.substr(0, slash));
      std::string base = slash == std::string::npos ? current : current.substr(slash + 1);
      auto real_dir = resolve_dir(dir, err);
      if (!real_dir) return std::nullopt;
      if (base.empty() || base == "." || base == "..") return real_path(current, err);
      std::string candidate = (*real_dir == "/" ? "" : *real_dir) + "/" + base;
      struct stat st {};
      if (::lstat(candidate.c_str(), &st) != 0) {
        *err = errno;
        return std::nullopt;
      }
      if (!S_ISLNK(st.st_mode)) return candidate;
      std::string target = read_link(candidate);
      if (target.empty()) {
        *err = EINVAL;
        return std::nullopt;
      }
      current = target[0] == '/' ? target : (*real_dir == "/" ? "" : *real_dir) + "/" + target;
      current = normalise(current);
    }
    *err = ELOOP;
    return std::nullopt;
  }

 private:
  std::optional<std::string> resolve_dir(const std::string& dir, int* err) {
    auto it = m_dirs.find(dir);
    if (it != m_dirs.end()) {
      if (!it->second) *err = ENOENT;
      return it->second;
    }
    auto r = real_path(dir, err);
    m_dirs.emplace(dir, r);
    return r;
  }
  std::map<std::string, std::optional<std::string>> m_dirs;
};

// A flat folder's entry, by path (links inside the folder are fine there): resolves it and
// checks it up to the size. On success queues it for hashing and returns true.
bool check_flat_entry(Checker& ck, Resolver& resolver, const LockedModel& m, size_t mi,
                      const LockedFile& f, const std::string& entry) {
  struct stat lst {};
  if (::lstat(entry.c_str(), &lst) != 0) {
    auto& x = ck.add(FindingKind::missing_file, m, mi, f.path, entry);
    x.expected = std::to_string(f.size) + " bytes";
    x.message = f.path + " is missing";
    return false;
  }
  int err = 0;
  auto resolved = resolver.resolve(entry, &err);
  if (!resolved) {
    auto& x = ck.add(FindingKind::dangling_link, m, mi, f.path, entry);
    x.actual = read_link(entry);
    x.message = f.path + (err == ELOOP ? " is a symlink loop" : " is a dangling symlink") +
                (x.actual.empty() ? "" : " (-> " + printable(x.actual, 200) + ")");
    return false;
  }
  if (!under(*resolved, ck.root())) {
    auto& x = ck.add(FindingKind::escaping_link, m, mi, f.path, entry);
    x.expected = "a file inside " + ck.root();
    x.actual = *resolved;
    x.message = f.path + " resolves outside " + ck.root() + " (to " + *resolved + ")";
    return false;
  }
  struct stat st {};
  if (::stat(resolved->c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
    auto& x = ck.add(FindingKind::not_regular_file, m, mi, f.path, entry);
    x.expected = "regular file";
    x.actual = *resolved;
    x.message = f.path + " resolves to " + *resolved + ", which is not a regular file";
    return false;
  }
  return ck.queue(m, mi, f, *resolved, st, HashJob{*resolved, f.size, false, nullptr});
}

}  // namespace

Result<VerifyReport> verify_flat_dir(const std::string& root, const LockedModel& model,
                                     const VerifyOptions& options) {
  VerifyReport report;
  report.models.push_back(detail::model_result(model));
  int err = 0;
  auto real = real_path(root, &err);
  Checker ck(real.value_or(root), options, report);
  Resolver resolver;
  if (!real) {
    auto& x = ck.add(FindingKind::missing_snapshot, model, 0, "", root);
    x.expected = "a folder with " + std::to_string(model.files.size()) + " files";
    x.message = "model folder " + root + " is missing";
    return report;
  }
  report.models[0].present = true;
  for (const auto& f : model.files) {
    report.files_checked++;
    check_flat_entry(ck, resolver, model, 0, f, join_path(*real, f.path));
  }
  ck.hash_and_compare();
  detail::sort_findings(report);
  return report;
}

}  // namespace mb::verify
