// The files of one model folder as the inference engine and the structure scan read them.
// Confined: every file must be a regular file resolving inside ROOT (runtime/confined.hpp),
// and each file read that the lock does not list is remembered, so the report can name it
// as unverified (issue 10 item 5). Unconfined (test drivers): regular files only.
#pragma once

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "runtime/confined.hpp"
#include "runtime/model/weights.hpp"

namespace mb::infer {

class ModelFiles {
 public:
  explicit ModelFiles(std::string dir) : m_dir(std::move(dir)) {}
  ModelFiles(std::string dir, runtime::Confinement root, std::set<std::string> locked)
      : m_dir(std::move(dir)), m_root(std::move(root)), m_locked(std::move(locked)) {}

  const std::string& dir() const { return m_dir; }
  // Something exists under that name (a dangling link too: opening it then fails clearly).
  bool exists(const std::string& rel) const;
  Result<std::string> read(const std::string& rel, uint64_t max_bytes = 64ull << 20) const;
  Result<MappedFile> map(const std::string& rel) const;
  // Size of a regular file inside ROOT (ONNX external data is sized, not read).
  Result<uint64_t> size(const std::string& rel) const;
  // Names of the entries directly in the folder ending in `suffix`, sorted (nothing opened).
  std::vector<std::string> list(const std::string& suffix) const;
  // The lock lists `rel` (always true unconfined: there is no lock).
  bool locked(const std::string& rel) const { return !m_root || m_locked.count(rel) > 0; }
  // Files read that the lock does not list, sorted.
  const std::set<std::string>& unverified() const { return m_unverified; }

 private:
  Result<UniqueFd> open(const std::string& rel) const;

  std::string m_dir;
  std::optional<runtime::Confinement> m_root;
  std::set<std::string> m_locked;
  mutable std::set<std::string> m_unverified;
};

}  // namespace mb::infer
