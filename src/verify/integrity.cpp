// Layout checks are done with stat/lstat/readlink/realpath only (verify --fast must stay
// cheap); content checks are batched into one parallel hashing pass, deduplicated by inode so a
// blob shared by several snapshot files (or hard-linked across repos) is read once.
#include "verify/integrity.hpp"

#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "core/file.hpp"
#include "core/paths.hpp"
#include "core/text.hpp"
#include "lock/entry_match.hpp"
#include "store/cache_door.hpp"

namespace mb::verify {

const char* to_string(FindingKind kind) {
  switch (kind) {
    case FindingKind::missing_ref: return "missing_ref";
    case FindingKind::wrong_ref: return "wrong_ref";
    case FindingKind::ref_newline: return "ref_newline";
    case FindingKind::missing_snapshot: return "missing_snapshot";
    case FindingKind::missing_file: return "missing_file";
    case FindingKind::dangling_link: return "dangling_link";
    case FindingKind::escaping_link: return "escaping_link";
    case FindingKind::not_regular_file: return "not_regular_file";
    case FindingKind::size_mismatch: return "size_mismatch";
    case FindingKind::digest_mismatch: return "digest_mismatch";
    case FindingKind::git_sha1_mismatch: return "git_sha1_mismatch";
    case FindingKind::stale_trees_file: return "stale_trees_file";
    case FindingKind::unreadable: return "unreadable";
    case FindingKind::unexpected_entry: return "unexpected_entry";
    case FindingKind::planted_entry: return "planted_entry";
  }
  return "unknown";
}

namespace {

FindingKind finding_kind(EntryMismatch m) {
  switch (m) {
    case EntryMismatch::size: return FindingKind::size_mismatch;
    case EntryMismatch::git_sha1: return FindingKind::git_sha1_mismatch;
    default: return FindingKind::digest_mismatch;
  }
}

// Untrusted file content, printable and short enough for a one-line report.
std::string printable(std::string_view s, size_t max = 80) { return sanitize_for_display(s, max); }

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
  static std::string normalise(const std::string& p) {
    std::vector<std::string> parts;
    size_t i = 0;
    while (i <= p.size()) {
      size_t j = p.find('/', i);
      if (j == std::string::npos) j = p.size();
      std::string c = p.substr(i, j - i);
      if (c == "..") {
        if (!parts.empty()) parts.pop_back();
      } else if (!c.empty() && c != ".") {
        parts.push_back(c);
      }
      i = j + 1;
    }
    std::string out;
    for (const auto& c : parts) out += "/" + c;
    return out.empty() ? "/" : out;
  }
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

bool under(const std::string& path, const std::string& root) {
  return path.size() > root.size() && path.compare(0, root.size(), root) == 0 &&
         path[root.size()] == '/';
}

struct FileCheck {
  size_t model_index = 0;
  const LockedModel* model = nullptr;
  const LockedFile* file = nullptr;
  std::string resolved;  // realpath of the regular file the entry resolves to
  size_t job = 0;        // index into the hash jobs
};

class Checker {
 public:
  Checker(std::string root_real, const VerifyOptions& o, VerifyReport& r)
      : m_root(std::move(root_real)), m_opts(o), m_report(r) {}

  Finding& add(FindingKind kind, const LockedModel& m, size_t model_index, std::string path,
               std::string location) {
    Finding f;
    f.kind = kind;
    f.model = m.name;
    f.repo = m.repo;
    f.path = std::move(path);
    f.location = std::move(location);
    f.fix = m_opts.fix_hint;
    m_report.findings.push_back(std::move(f));
    m_report.models[model_index].findings++;
    return m_report.findings.back();
  }

  // Resolves one entry (snapshot pointer or flat file) and checks it up to the size. On
  // success queues it for hashing and returns true.
  bool check_entry(const LockedModel& m, size_t mi, const LockedFile& f, const std::string& entry) {
    struct stat lst {};
    if (::lstat(entry.c_str(), &lst) != 0) {
      auto& x = add(FindingKind::missing_file, m, mi, f.path, entry);
      x.expected = std::to_string(f.size) + " bytes";
      x.message = f.path + " is missing";
      return false;
    }
    int err = 0;
    auto resolved = m_resolver.resolve(entry, &err);
    if (!resolved) {
      auto& x = add(FindingKind::dangling_link, m, mi, f.path, entry);
      x.actual = read_link(entry);
      x.message = f.path + (err == ELOOP ? " is a symlink loop" : " is a dangling symlink") +
                  (x.actual.empty() ? "" : " (-> " + printable(x.actual, 200) + ")");
      return false;
    }
    if (!under(*resolved, m_root)) {
      auto& x = add(FindingKind::escaping_link, m, mi, f.path, entry);
      x.expected = "a file inside " + m_root;
      x.actual = *resolved;
      x.message = f.path + " resolves outside " + m_root + " (to " + *resolved + ")";
      return false;
    }
    struct stat st {};
    if (::stat(resolved->c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
      auto& x = add(FindingKind::not_regular_file, m, mi, f.path, entry);
      x.expected = "regular file";
      x.actual = *resolved;
      x.message = f.path + " resolves to " + *resolved + ", which is not a regular file";
      return false;
    }
    if (static_cast<uint64_t>(st.st_size) != f.size) {
      auto& x = add(FindingKind::size_mismatch, m, mi, f.path, *resolved);
      x.expected = std::to_string(f.size);
      x.actual = std::to_string(st.st_size);
      x.message = f.path + " has " + x.actual + " bytes, the lock says " + x.expected;
      return false;
    }
    m_report.bytes_locked += f.size;
    FileCheck c{mi, &m, &f, *resolved, 0};
    if (!m_opts.fast) {
      bool git = etag_is_git_sha1(f.etag);
      auto key = std::make_pair(static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino));
      auto it = m_by_inode.find(key);
      if (it == m_by_inode.end()) {
        it = m_by_inode.emplace(key, m_jobs.size()).first;
        m_jobs.push_back(HashJob{*resolved, f.size, git});
      } else if (git) {
        m_jobs[it->second].want_git_sha1 = true;
      }
      c.job = it->second;
    }
    m_checks.push_back(std::move(c));
    return true;
  }

  void hash_and_compare() {
    if (m_opts.fast) {
      for (const auto& c : m_checks) m_report.models[c.model_index].files_ok++;
      return;
    }
    auto results = hash_files_parallel(m_jobs, m_opts.threads, m_opts.progress);
    m_report.hashed = true;
    for (const auto& r : results) {
      if (r.ok()) m_report.bytes_hashed += r->size;
    }
    for (const auto& c : m_checks) {
      const auto& m = *c.model;
      const auto& f = *c.file;
      const auto& r = results[c.job];
      if (!r.ok()) {
        auto& x = add(FindingKind::unreadable, m, c.model_index, f.path, c.resolved);
        x.message = f.path + ": " + r.error().message;
        continue;
      }
      EntryMatch match = match_entry(EntryExpectation::of(f), *r);
      if (!match.ok()) {  // a size mismatch here: the file changed between stat and read
        auto& x = add(finding_kind(match.kind), m, c.model_index, f.path, c.resolved);
        x.expected = match.expected;
        x.actual = match.actual;
        x.message = f.path + (match.kind == EntryMismatch::size ? " " : ": ") + match.describe();
        continue;
      }
      m_report.models[c.model_index].files_ok++;
    }
  }

  const std::string& root() const { return m_root; }

  // True when `entry` (a symlink) resolves to a regular file inside the root.
  bool resolves_inside(const std::string& entry) {
    int err = 0;
    auto resolved = m_resolver.resolve(entry, &err);
    struct stat st {};
    return resolved && under(*resolved, m_root) && ::stat(resolved->c_str(), &st) == 0 &&
           S_ISREG(st.st_mode);
  }

 private:
  std::string m_root;
  const VerifyOptions& m_opts;
  VerifyReport& m_report;
  std::vector<FileCheck> m_checks;
  std::vector<HashJob> m_jobs;
  std::map<std::pair<uint64_t, uint64_t>, size_t> m_by_inode;
  Resolver m_resolver;
};

void check_ref(Checker& ck, const CacheLayout& cache, const LockedModel& m, size_t mi) {
  if (m.revision == m.commit) return;  // a commit revision is resolved without refs/
  std::string path = cache.ref_path(m.type, m.repo, m.revision);
  auto text = read_file(path, 4096);
  if (!text.ok()) {
    struct stat st {};
    bool absent = ::lstat(path.c_str(), &st) != 0;
    auto& x = ck.add(absent ? FindingKind::missing_ref : FindingKind::wrong_ref, m, mi, "", path);
    x.expected = m.commit;
    x.message =
        "refs/" + m.revision +
        (absent ? " is missing: offline loaders cannot resolve revision '" + m.revision + "'"
                : " cannot be read: " + text.error().message);
    return;
  }
  if (*text == m.commit) return;
  std::string trimmed = *text;
  while (!trimmed.empty() && std::isspace(static_cast<unsigned char>(trimmed.back())))
    trimmed.pop_back();
  size_t lead = 0;
  while (lead < trimmed.size() && std::isspace(static_cast<unsigned char>(trimmed[lead]))) ++lead;
  trimmed.erase(0, lead);
  bool whitespace_only = trimmed == m.commit;
  auto& x =
      ck.add(whitespace_only ? FindingKind::ref_newline : FindingKind::wrong_ref, m, mi, "", path);
  x.expected = m.commit;
  x.actual = printable(*text);
  x.message = whitespace_only
                  ? "refs/" + m.revision + " has surrounding whitespace (\"" + x.actual +
                        "\"): huggingface_hub reads it unstripped and finds no snapshot"
                  : "refs/" + m.revision + " points to " + x.actual + ", the lock says " + m.commit;
}

void check_trees(Checker& ck, const CacheLayout& cache, const LockedModel& m, size_t mi) {
  std::string path = cache.trees_file(m.type, m.repo, m.commit);
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return;
  auto text = read_file(path, 256ull << 20);
  if (!text.ok()) return;
  auto doc = nlohmann::json::parse(*text, nullptr, false);
  // huggingface_hub ignores a trees file it cannot understand, so it cannot mislead a loader.
  if (doc.is_discarded() || !doc.is_object() || doc.value("format_version", 0) != 1) return;
  auto files = doc.find("files");
  if (files == doc.end() || !files->is_object()) return;
  std::vector<std::string> absent;
  std::string snap = cache.snapshot_dir(m.type, m.repo, m.commit);
  for (const auto& [name, _] : files->items()) {
    if (!validate_relative_path(name, "trees entry").ok()) {
      absent.push_back(name);
      continue;
    }
    if (::stat((snap + "/" + name).c_str(), &st) != 0) absent.push_back(name);
  }
  if (absent.empty()) return;
  auto& x = ck.add(FindingKind::stale_trees_file, m, mi, "", path);
  x.expected = "only files present in snapshots/" + m.commit;
  std::string list;
  for (size_t i = 0; i < absent.size() && i < 5; ++i)
    list += (i ? ", " : "") + printable(absent[i]);
  if (absent.size() > 5) list += ", ... (" + std::to_string(absent.size()) + " in all)";
  x.actual = list;
  x.message = "trees/" + m.commit + ".json lists files absent from the snapshot (" + list +
              "): offline snapshot_download() would fail with IncompleteSnapshotError";
  x.fix = "delete " + path + " (modelbake verify --repair does)";
}

// Entries of the snapshot the lock does not name are fine when they are working links (another
// lock may select other files of the same commit); a leftover temp name (".tmp.<hex>", made by
// older versions next to the final link) or a link to nothing usable is reported: loaders list
// the folder and would pick it up.
void check_snapshot_extras(Checker& ck, const std::string& snap, const LockedModel& m, size_t mi) {
  std::set<std::string> locked;
  for (const auto& f : m.files) locked.insert(f.path);
  namespace fs = std::filesystem;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(snap, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    std::string entry = it->path().string();
    std::string rel = entry.substr(snap.size() + 1);
    struct stat st {};
    if (locked.count(rel) || ::lstat(entry.c_str(), &st) != 0 || S_ISDIR(st.st_mode)) continue;
    bool temp = temp_kind(it->path().filename().string()) == TempKind::ours;
    bool broken = S_ISLNK(st.st_mode) && !ck.resolves_inside(entry);
    if (!temp && !broken) continue;
    auto& x = ck.add(FindingKind::unexpected_entry, m, mi, rel, entry);
    x.expected = "only finished links to blobs/";
    x.actual = S_ISLNK(st.st_mode) ? "link to " + printable(read_link(entry), 200) : "not a link";
    x.message = "snapshots/" + m.commit + "/" + printable(rel, 200) +
                (temp ? " is a leftover temporary entry (" : " is a link to nothing usable (") +
                x.actual + "): loaders listing the snapshot would pick it up";
    x.fix = "modelbake verify --repair (removes it)";
  }
}

Result<std::vector<const LockedModel*>> select_models(const Lockfile& lock,
                                                      const VerifyOptions& o) {
  std::vector<const LockedModel*> out;
  if (o.models.empty()) {
    for (const auto& m : lock.models) out.push_back(&m);
    return out;
  }
  for (const auto& name : o.models) {
    const LockedModel* m = lock.find_model(name);
    if (m == nullptr) {
      return fail(ErrorCategory::usage, "no model named '" + name + "' in the lock",
                  "use a name from the lock's \"name\" fields");
    }
    out.push_back(m);
  }
  return out;
}

ModelResult model_result(const LockedModel& m) {
  ModelResult r;
  r.name = m.name;
  r.repo = m.repo;
  r.revision = m.revision;
  r.commit = m.commit;
  r.files = m.files.size();
  r.bytes = m.total_bytes();
  return r;
}

void sort_findings(VerifyReport& r) {
  std::stable_sort(r.findings.begin(), r.findings.end(), [](const Finding& a, const Finding& b) {
    if (a.model != b.model) return a.model < b.model;
    if (a.path != b.path) return a.path < b.path;
    return static_cast<int>(a.kind) < static_cast<int>(b.kind);
  });
}

Result<std::string> real_root(const std::string& root, const std::string& what) {
  int err = 0;
  auto r = real_path(root, &err);
  if (!r) {
    return fail(ErrorCategory::integrity,
                what + " " + root + " does not exist or cannot be read: " + std::strerror(err),
                "check the path, or run `modelbake fetch --locked` to populate it");
  }
  return *r;
}

}  // namespace

namespace {

Status check_model_dirs(const CacheLayout& cache, const LockedModel& m) {
  const CacheDoor& door = cache.door();
  std::string folder = repo_folder_name(m.type, m.repo);
  for (const std::string& sub : std::vector<std::string>{"", "/blobs", "/snapshots", "/refs",
                                                         "/trees", "/snapshots/" + m.commit}) {
    MB_ASSIGN(UniqueFd fd, door.open_dir(folder + sub, MissingDir::ok));
    if (!fd.valid() && sub.empty()) return {};  // no repo folder: reported as missing
  }
  return {};
}

}  // namespace

Result<VerifyReport> verify_cache(const CacheLayout& cache, const Lockfile& lock,
                                  const VerifyOptions& options) {
  MB_ASSIGN(auto models, select_models(lock, options));
  MB_ASSIGN(std::string root, real_root(cache.root(), "cache"));
  VerifyReport report;
  for (const auto* m : models) report.models.push_back(model_result(*m));
  Checker ck(root, options, report);
  for (size_t mi = 0; mi < models.size(); ++mi) {
    const LockedModel& m = *models[mi];
    // The model's folders through the cache door first: below a planted link or FIFO nothing
    // is read, and the finding names it.
    if (Status dirs = check_model_dirs(cache, m); !dirs.ok()) {
      auto& x = ck.add(FindingKind::planted_entry, m, mi, "", cache.repo_dir(m.type, m.repo));
      x.message = dirs.error().message;
      continue;
    }
    check_ref(ck, cache, m, mi);
    std::string snap = cache.snapshot_dir(m.type, m.repo, m.commit);
    struct stat st {};
    if (::stat(snap.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      auto& x = ck.add(FindingKind::missing_snapshot, m, mi, "", snap);
      x.expected = fmt::format("snapshots/{} with {} files", m.commit, m.files.size());
      x.message = m.repo + " has no snapshot for commit " + m.commit;
      continue;
    }
    report.models[mi].present = true;
    for (const auto& f : m.files) {
      report.files_checked++;
      ck.check_entry(m, mi, f, cache.snapshot_file(m.type, m.repo, m.commit, f.path));
    }
    check_snapshot_extras(ck, snap, m, mi);
    check_trees(ck, cache, m, mi);
  }
  ck.hash_and_compare();
  sort_findings(report);
  return report;
}

Result<VerifyReport> verify_flat_dir(const std::string& root, const LockedModel& model,
                                     const VerifyOptions& options) {
  VerifyReport report;
  report.models.push_back(model_result(model));
  int err = 0;
  auto real = real_path(root, &err);
  Checker ck(real.value_or(root), options, report);
  if (!real) {
    auto& x = ck.add(FindingKind::missing_snapshot, model, 0, "", root);
    x.expected = "a folder with " + std::to_string(model.files.size()) + " files";
    x.message = "model folder " + root + " is missing";
    return report;
  }
  report.models[0].present = true;
  for (const auto& f : model.files) {
    report.files_checked++;
    ck.check_entry(model, 0, f, join_path(*real, f.path));
  }
  ck.hash_and_compare();
  sort_findings(report);
  return report;
}

}  // namespace mb::verify
