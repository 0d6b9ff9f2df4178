#include "bundle/plan.hpp"

#include <algorithm>
#include <map>
#include <set>

#include "core/paths.hpp"

namespace mb::bundle {

const char* to_string(Layout l) { return l == Layout::flat ? "flat" : "hub"; }

const char* to_string(EntryKind k) {
  switch (k) {
    case EntryKind::dir: return "directory";
    case EntryKind::file: return "file";
    case EntryKind::symlink: return "symlink";
    case EntryKind::hardlink: return "hardlink";
  }
  return "entry";
}

std::string describe(const Entry& e) {
  return e.label.empty() ? e.path : e.label + " (" + e.path + ")";
}

std::string join_prefix(std::string_view prefix, std::string_view rel) {
  if (prefix.empty()) return std::string(rel);
  if (rel.empty()) return std::string(prefix);
  return std::string(prefix) + "/" + std::string(rel);
}

Result<std::string> normalize_prefix(std::string_view prefix) {
  std::string p(prefix);
  while (!p.empty() && p.front() == '/') p.erase(p.begin());
  while (!p.empty() && p.back() == '/') p.pop_back();
  if (p.empty()) return p;
  if (auto st = validate_relative_path(p, "--prefix"); !st.ok()) {
    return fail(ErrorCategory::usage, st.error().message, "use a plain path such as /models");
  }
  return p;
}

std::vector<Entry> model_entries(const LockedModel& m, const CacheLayout& cache, Layout layout,
                                 std::string_view prefix) {
  std::vector<Entry> out;
  auto content = [&](std::string path, const LockedFile& f) {
    Entry e;
    e.path = std::move(path);
    e.kind = EntryKind::file;
    e.size = f.size;
    e.sha256 = f.sha256;
    e.source = cache.object_path(f.sha256);
    e.door = &cache.door();
    e.label = m.name + ":" + f.path;
    return e;
  };
  if (layout == Layout::flat) {
    for (const auto& f : m.files)
      out.push_back(content(join_prefix(prefix, m.name + "/" + f.path), f));
    return out;
  }
  std::string repo = join_prefix(prefix, repo_folder_name(m.type, m.repo));
  for (const auto& f : m.files) {
    out.push_back(content(repo + "/blobs/" + f.etag, f));
    Entry link;
    link.path = repo + "/snapshots/" + m.commit + "/" + f.path;
    link.kind = EntryKind::symlink;
    link.link = CacheLayout::snapshot_link_target(f.path, f.etag);
    out.push_back(std::move(link));
  }
  if (m.revision != m.commit) {
    Entry ref;
    ref.path = repo + "/refs/" + m.revision;
    ref.kind = EntryKind::file;
    ref.data = m.commit;
    ref.size = ref.data.size();
    out.push_back(std::move(ref));
  } else if (m.files.empty()) {
    // A pinned commit with no files still needs its snapshot folder to be resolvable.
    Entry dir;
    dir.path = repo + "/snapshots/" + m.commit;
    dir.kind = EntryKind::dir;
    out.push_back(std::move(dir));
  }
  return out;
}

Entry lock_entry(const Lockfile& lock, std::string_view prefix) {
  Entry e;
  e.path = join_prefix(prefix, k_lock_name);
  e.kind = EntryKind::file;
  e.data = serialize_lock(lock);
  e.size = e.data.size();
  return e;
}

namespace {

bool same_entry(const Entry& a, const Entry& b) {
  return a.kind == b.kind && a.size == b.size && a.sha256 == b.sha256 && a.data == b.data &&
         a.link == b.link;  // label is only for messages
}

}  // namespace

Result<std::vector<Entry>> finalize_entries(std::vector<Entry> entries, bool hardlink_duplicates) {
  std::map<std::string, Entry> by_path;
  for (auto& e : entries) {
    auto [it, inserted] = by_path.try_emplace(e.path, e);
    if (!inserted && !same_entry(it->second, e)) {
      return fail(ErrorCategory::usage,
                  "two lock entries need different content at '" + e.path + "'",
                  "give each model its own repo/revision, or use --layout flat");
    }
  }
  // Every parent directory, so extractors never invent directories with their own modes.
  std::vector<std::string> parents;
  for (const auto& [path, e] : by_path) {
    for (size_t pos = path.find('/'); pos != std::string::npos; pos = path.find('/', pos + 1)) {
      parents.push_back(path.substr(0, pos));
    }
  }
  for (auto& p : parents) {
    auto it = by_path.find(p);
    if (it == by_path.end()) {
      Entry d;
      d.path = p;
      d.kind = EntryKind::dir;
      by_path.emplace(p, std::move(d));
    } else if (it->second.kind != EntryKind::dir) {
      return fail(ErrorCategory::usage, "'" + p + "' is both a file and a folder in the bundle",
                  "check the lock for overlapping file paths");
    }
  }
  // std::map iterates in byte-wise order, which puts every parent before its children.
  std::vector<Entry> out;
  out.reserve(by_path.size());
  std::map<std::string, std::string> first_by_digest;
  for (auto& [path, e] : by_path) {
    if (hardlink_duplicates && e.kind == EntryKind::file && !e.source.empty()) {
      auto [it, inserted] = first_by_digest.try_emplace(e.sha256, path);
      if (!inserted) {
        Entry h;
        h.path = path;
        h.kind = EntryKind::hardlink;
        h.link = it->second;
        h.size = e.size;
        h.sha256 = e.sha256;
        out.push_back(std::move(h));
        continue;
      }
    }
    out.push_back(std::move(e));
  }
  return out;
}

Result<std::vector<Entry>> bundle_entries(const Lockfile& lock, const CacheLayout& cache,
                                          Layout layout, std::string_view prefix,
                                          bool hardlink_duplicates) {
  std::vector<Entry> all;
  for (const auto& m : lock.models) {
    auto part = model_entries(m, cache, layout, prefix);
    all.insert(all.end(), std::make_move_iterator(part.begin()),
               std::make_move_iterator(part.end()));
  }
  all.push_back(lock_entry(lock, prefix));
  return finalize_entries(std::move(all), hardlink_duplicates);
}

}  // namespace mb::bundle
