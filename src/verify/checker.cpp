#include "verify/checker.hpp"

#include <algorithm>

#include "core/text.hpp"
#include "lock/entry_match.hpp"

namespace mb::verify::detail {

namespace {

FindingKind finding_kind(EntryMismatch m) {
  switch (m) {
    case EntryMismatch::size: return FindingKind::size_mismatch;
    case EntryMismatch::git_sha1: return FindingKind::git_sha1_mismatch;
    default: return FindingKind::digest_mismatch;
  }
}

}  // namespace

std::string printable(std::string_view s, size_t max) { return sanitize_for_display(s, max); }

bool under(const std::string& path, const std::string& root) {
  return path.size() > root.size() && path.compare(0, root.size(), root) == 0 &&
         path[root.size()] == '/';
}

std::string normalise(const std::string& p) {
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

Finding& Checker::add(FindingKind kind, const LockedModel& m, size_t model_index, std::string path,
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

// Size check, then queues the file for hashing (once per inode).
bool Checker::queue(const LockedModel& m, size_t mi, const LockedFile& f,
                    const std::string& location, const struct stat& st, HashJob job) {
  if (static_cast<uint64_t>(st.st_size) != f.size) {
    auto& x = add(FindingKind::size_mismatch, m, mi, f.path, location);
    x.expected = std::to_string(f.size);
    x.actual = std::to_string(st.st_size);
    x.message = f.path + " has " + x.actual + " bytes, the lock says " + x.expected;
    return false;
  }
  m_report.bytes_locked += f.size;
  FileCheck c{mi, &m, &f, location, 0};
  if (!m_opts.fast) {
    bool git = etag_is_git_sha1(f.etag);
    auto key = std::make_pair(static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino));
    auto it = m_by_inode.find(key);
    if (it == m_by_inode.end()) {
      it = m_by_inode.emplace(key, m_jobs.size()).first;
      job.want_git_sha1 = git;
      m_jobs.push_back(std::move(job));
    } else if (git) {
      m_jobs[it->second].want_git_sha1 = true;
    }
    c.job = it->second;
  }
  m_checks.push_back(std::move(c));
  return true;
}

void Checker::hash_and_compare() {
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

}  // namespace mb::verify::detail
