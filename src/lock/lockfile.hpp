// modelbake.lock: the resolved commit of every manifest entry and, per file, its size,
// sha256 and the hub's etag. JSON with a stable layout (see docs/formats.md). Reading the
// lock needs nothing but the C++ runtime, so modelbake-verify can link this code.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "core/repo_type.hpp"

namespace mb {

struct LockedFile {
  std::string path;  // repo-relative, validated
  uint64_t size = 0;
  std::string sha256;  // 64 lower hex: content digest
  std::string etag;    // hub etag: git blob sha1 (40 hex) or sha256 (64 hex, LFS)
  // Xet file id (64 hex, API string form) of a Xet-backed LFS file, else empty. Optional in
  // the lock (older locks have none; fetch then asks /resolve/).
  std::string xet_hash;

  bool is_lfs() const { return etag.size() == 64; }
};

struct LockedModel {
  std::string name;  // `as:` in the manifest; unique within the lock
  std::string repo;  // "org/name": as the manifest names it (requests and cache folder)
  // The id the hub redirected `repo` to (a renamed repo), or empty. Informational: requests
  // and the cache keep using `repo`, as huggingface_hub does. Written only when set.
  std::string renamed_to;
  RepoType type = RepoType::model;
  std::string revision;  // as requested (branch, tag or commit)
  std::string commit;    // resolved 40-hex commit
  std::vector<std::string> include;
  std::vector<std::string> exclude;
  std::string expect_json;        // the manifest's `expect:` block as canonical JSON, or empty
  std::vector<LockedFile> files;  // sorted by path

  uint64_t total_bytes() const;
  const LockedFile* find_file(std::string_view path) const;
};

struct Lockfile {
  int version = 1;
  std::vector<LockedModel> models;  // sorted by name

  const LockedModel* find_model(std::string_view name) const;
};

// Parses and validates (hex digests, safe paths, unique names/paths). `source` names the
// file in error messages. Errors are ErrorCategory::usage.
Result<Lockfile> parse_lock(std::string_view text, std::string_view source);
// Stable serialisation: models sorted by name, files by path, fixed key order, 2-space indent.
std::string serialize_lock(Lockfile lock);

Result<Lockfile> read_lock(const std::string& path);
Status write_lock(const std::string& path, const Lockfile& lock);

}  // namespace mb
