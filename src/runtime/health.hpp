// The cheap health mode of modelbake-verify (issue 14 part 3). `--stamp` runs the full
// verification and, when every model is ready, records what a later `--health` compares:
// per locked file its size, mtime, inode and ctime, and the bytes of its structure header
// (safetensors: length + JSON header; GGUF: magic, version and counts). `--health` then
// stats every file and reads only those headers: no content byte is read or hashed. Any
// difference fails at once. See docs/modelbake-verify.md "Health checks".
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "core/error.hpp"
#include "runtime/report.hpp"
#include "runtime/root.hpp"

namespace mb::runtime {

// ROOT/.modelbake-verify.stamp unless --stamp-file says otherwise.
std::string default_stamp_path(const std::string& root);

// Writes the stamp atomically (temp file in the same directory, fsync, rename). `root` was
// fully verified; `infer` records whether that verification ran the inference probe.
Status write_stamp(const VerifyRoot& root, const std::string& stamp_path, bool infer);

struct HealthReport {
  std::string root;
  std::string stamp_path;
  std::string stamped_at;  // UTC, from the stamp
  uint64_t models = 0;
  uint64_t files = 0;               // files compared with the stamp
  uint64_t header_bytes = 0;        // structure header bytes read
  uint64_t relocated = 0;           // models compared by size and mtime only (copied/pulled)
  std::optional<ModelError> error;  // check "health"; the first difference
  bool ok() const { return !error; }
};

HealthReport check_health(const std::string& root, const std::string& stamp_path);

nlohmann::ordered_json to_json(const HealthReport& report);
std::string render_human(const HealthReport& report);

}  // namespace mb::runtime
