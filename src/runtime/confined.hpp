// File access of modelbake-verify that trusts nothing it is pointed at (issue 10 item 5):
// only regular files are opened (never a FIFO or a device, which would block or have side
// effects), and files that belong to ROOT must resolve, through every symlink, to a place
// inside ROOT. A hub snapshot's links into ../../blobs stay inside; hard links are plain
// regular files and are fine.
#pragma once

#include <cstdint>
#include <string>

#include "core/error.hpp"
#include "core/file.hpp"

namespace mb::runtime {

// Opens a regular file for reading without blocking: stat first (a FIFO or device is never
// opened), then open with O_NONBLOCK and check again with fstat (the path may have changed).
// `shown` names the file in errors (default: `path`).
Result<UniqueFd> open_regular(const std::string& path, const std::string& shown = {});
// Ok when nothing is at `path` or a regular file is (following links); the error of
// open_regular otherwise. For files another layer opens with plain blocking reads.
Status regular_or_absent(const std::string& path);

Result<std::string> read_regular(const std::string& path, uint64_t max_bytes = 64ull << 20,
                                 const std::string& shown = {});

class Confinement {
 public:
  // `root` must exist; it is resolved once with realpath.
  static Result<Confinement> of(const std::string& root);

  const std::string& real_root() const { return m_real; }
  bool contains(const std::string& real_path) const;
  // realpath of `path`, which must lie inside the root (integrity error otherwise; io error
  // when it does not resolve).
  Result<std::string> resolve(const std::string& path) const;
  // A regular file inside the root.
  Result<UniqueFd> open(const std::string& path) const;
  Result<std::string> read(const std::string& path, uint64_t max_bytes = 64ull << 20) const;

 private:
  std::string m_real;
};

}  // namespace mb::runtime
