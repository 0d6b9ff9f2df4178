// A cache checked against a lock, read through its door (verify/snapshot_reader: folders opened
// once per model, descriptor-relative, only snapshot links of the exact shape followed, blobs
// hashed through O_NOFOLLOW opens); flat bundle folders are verify/flat_dir.cpp. Layout checks
// never read content (verify --fast must stay cheap); content checks are batched into one
// parallel hashing pass (verify/checker), deduplicated by inode so a blob shared by several
// snapshot files (or hard-linked across repos) is read once.
#include "verify/integrity.hpp"

#include <fmt/format.h>
#include <sys/stat.h>

#include <cctype>
#include <nlohmann/json.hpp>
#include <set>

#include "core/file.hpp"
#include "core/paths.hpp"
#include "core/text.hpp"
#include "lock/entry_match.hpp"
#include "store/cache_door.hpp"
#include "verify/checker.hpp"
#include "verify/snapshot_reader.hpp"

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

using detail::Checker;
using detail::printable;
using detail::under;

namespace {

// Where a link's target points, lexically (nothing is followed): for messages.
std::string lexical_target(const std::string& link_path, const std::string& target) {
  if (!target.empty() && target[0] == '/') return detail::normalise(target);
  size_t slash = link_path.rfind('/');
  return detail::normalise((slash == std::string::npos ? "." : link_path.substr(0, slash)) + "/" +
                           target);
}

// A door path (below the root as the layout spells it) below the canonical root instead.
std::string in_real_root(const CacheDoor& door, const std::string& path) {
  auto rel = door.relative(path);
  return rel.ok() ? door.real_root() + (rel->empty() ? "" : "/" + *rel) : path;
}

// A cache's snapshot entry, through the door: `entry` is where it is (for findings).
bool check_cache_entry(Checker& ck, const LockedModel& m, size_t mi, const LockedFile& f,
                       SnapshotReader& snap, const std::string& entry, const CacheDoor& door) {
  ResolvedEntry r = snap.resolve(f.path);
  switch (r.state) {
    case EntryState::regular: break;
    case EntryState::missing: {
      auto& x = ck.add(FindingKind::missing_file, m, mi, f.path, entry);
      x.expected = std::to_string(f.size) + " bytes";
      x.message = f.path + " is missing";
      return false;
    }
    case EntryState::dangling: {
      auto& x = ck.add(FindingKind::dangling_link, m, mi, f.path, entry);
      x.actual = r.link;
      x.message = f.path + " is a dangling symlink (-> " + printable(r.link, 200) + ")";
      return false;
    }
    case EntryState::other_link: {
      auto& x = ck.add(FindingKind::escaping_link, m, mi, f.path, entry);
      x.expected = CacheLayout::snapshot_link_target(f.path, "<etag>");
      x.actual = lexical_target(in_real_root(door, entry), r.link);
      x.message =
          f.path + " links to " + printable(r.link, 200) + ", not to " + x.expected +
          ": modelbake follows only snapshot links of that shape" +
          (under(x.actual, ck.root()) ? "" : " (this one resolves outside " + ck.root() + ")");
      return false;
    }
    case EntryState::not_regular: {
      auto& x = ck.add(FindingKind::not_regular_file, m, mi, f.path, entry);
      x.expected = "regular file";
      x.actual = r.message;
      x.message = f.path + ": " + r.message;
      return false;
    }
    case EntryState::planted: {
      auto& x = ck.add(FindingKind::planted_entry, m, mi, f.path, entry);
      x.message = f.path + ": " + r.message;
      return false;
    }
    case EntryState::unreadable: {
      auto& x = ck.add(FindingKind::unreadable, m, mi, f.path, entry);
      x.message = r.message;
      return false;
    }
  }
  auto rel = door.relative(r.file);
  std::string location = rel.ok() ? ck.root() + "/" + *rel : r.file;
  return ck.queue(m, mi, f, location, r.st, HashJob{r.file, f.size, false, &door});
}

void check_ref(Checker& ck, const CacheLayout& cache, const LockedModel& m, size_t mi) {
  if (m.revision == m.commit) return;  // a commit revision is resolved without refs/
  const CacheDoor& door = cache.door();
  std::string path = cache.ref_path(m.type, m.repo, m.revision);
  auto text = door.read_file(path, 4096);
  if (!text.ok()) {
    auto st = door.lstat(path);
    bool absent = st.ok() && !*st;
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

void check_trees(Checker& ck, const CacheLayout& cache, const LockedModel& m, size_t mi,
                 SnapshotReader& snap) {
  const CacheDoor& door = cache.door();
  std::string path = cache.trees_file(m.type, m.repo, m.commit);
  auto present = door.lstat(path);
  if (present.ok() && !*present) return;
  auto text = door.read_file(path, 256ull << 20);
  if (!text.ok()) {
    if (text.error().category != ErrorCategory::integrity) return;
    // A link or FIFO there: huggingface_hub would follow or block on it; --repair removes it.
    auto& x = ck.add(FindingKind::stale_trees_file, m, mi, "", path);
    x.expected = "a regular file";
    x.message = text.error().message;
    x.fix = "delete " + path + " (modelbake verify --repair does)";
    return;
  }
  auto doc = nlohmann::json::parse(*text, nullptr, false);
  // huggingface_hub ignores a trees file it cannot understand, so it cannot mislead a loader.
  if (doc.is_discarded() || !doc.is_object() || doc.value("format_version", 0) != 1) return;
  auto files = doc.find("files");
  if (files == doc.end() || !files->is_object()) return;
  std::vector<std::string> absent;
  for (const auto& [name, _] : files->items()) {
    if (!validate_relative_path(name, "trees entry").ok() ||
        snap.resolve(name).state != EntryState::regular)
      absent.push_back(name);
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
// the folder and would pick it up. Listed through the door: a planted folder is not entered.
void check_snapshot_extras(Checker& ck, SnapshotReader& reader, const std::string& snap,
                           const LockedModel& m, size_t mi) {
  std::set<std::string> locked;
  for (const auto& f : m.files) locked.insert(f.path);
  auto entries = reader.entries();
  if (!entries.ok()) return;  // a planted folder: reported for the locked files below it
  for (const auto& e : *entries) {
    if (locked.count(e.rel)) continue;
    size_t slash = e.rel.rfind('/');
    bool temp =
        temp_kind(slash == std::string::npos ? e.rel : e.rel.substr(slash + 1)) == TempKind::ours;
    ResolvedEntry r;
    if (S_ISLNK(e.st.st_mode)) r = reader.resolve(e.rel);
    bool broken = S_ISLNK(e.st.st_mode) && r.state != EntryState::regular;
    if (!temp && !broken) continue;
    std::string entry = snap + "/" + e.rel;
    auto& x = ck.add(FindingKind::unexpected_entry, m, mi, e.rel, entry);
    x.expected = "only finished links to blobs/";
    x.actual = S_ISLNK(e.st.st_mode) ? "link to " + printable(r.link, 200) : "not a link";
    x.message = "snapshots/" + m.commit + "/" + printable(e.rel, 200) +
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
  const CacheDoor& door = cache.door();
  if (auto fd = door.root_fd(); !fd.ok()) {
    return fail(
        ErrorCategory::integrity,
        "cache " + cache.root() + " does not exist or cannot be read: " + fd.error().message,
        "check the path, or run `modelbake fetch --locked` to populate it");
  }
  VerifyReport report;
  for (const auto* m : models) report.models.push_back(detail::model_result(*m));
  Checker ck(door.real_root(), options, report);
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
    auto st = door.lstat(snap);
    if (!st.ok() || !*st || !S_ISDIR((*st)->st_mode)) {
      auto& x = ck.add(FindingKind::missing_snapshot, m, mi, "", snap);
      x.expected = fmt::format("snapshots/{} with {} files", m.commit, m.files.size());
      x.message = m.repo + " has no snapshot for commit " + m.commit;
      continue;
    }
    report.models[mi].present = true;
    SnapshotReader reader(door, cache.repo_dir(m.type, m.repo), snap);
    for (const auto& f : m.files) {
      report.files_checked++;
      check_cache_entry(ck, m, mi, f, reader, cache.snapshot_file(m.type, m.repo, m.commit, f.path),
                        door);
    }
    check_snapshot_extras(ck, reader, snap, m, mi);
    check_trees(ck, cache, m, mi, reader);
  }
  ck.hash_and_compare();
  detail::sort_findings(report);
  return report;
}

}  // namespace mb::verify
