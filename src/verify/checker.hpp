// Internal to verify (integrity.cpp, flat_dir.cpp): the findings and the one hashing pass
// that both ways of reading a model feed: a cache through its door (integrity.cpp), a flat
// bundle folder by path (flat_dir.cpp).
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "verify/integrity.hpp"

namespace mb::verify::detail {

// Untrusted file content, printable and short enough for a one-line report.
std::string printable(std::string_view s, size_t max = 80);
bool under(const std::string& path, const std::string& root);
// `p` with "." and ".." folded lexically (nothing is looked up), absolute.
std::string normalise(const std::string& p);
ModelResult model_result(const LockedModel& m);
void sort_findings(VerifyReport& r);

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
               std::string location);
  // Size check (against `st` of the file holding the bytes, found at `location`), then queues
  // `job` for hashing, once per inode. False when a finding was added.
  bool queue(const LockedModel& m, size_t mi, const LockedFile& f, const std::string& location,
             const struct stat& st, HashJob job);
  void hash_and_compare();
  const std::string& root() const { return m_root; }

 private:
  std::string m_root;
  const VerifyOptions& m_opts;
  VerifyReport& m_report;
  std::vector<FileCheck> m_checks;
  std::vector<HashJob> m_jobs;
  std::map<std::pair<uint64_t, uint64_t>, size_t> m_by_inode;
};

}  // namespace mb::verify::detail
