// modelbake.yaml: which repos, revisions and files to bake. Strict: an unknown key, a wrong
// type or a bad value is an error naming file:line:col. See docs/formats.md.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "lock/lockfile.hpp"

namespace mb {

struct ManifestModel {
  std::string repo;
  std::string revision = "main";
  RepoType type = RepoType::model;
  std::vector<std::string> include;
  std::vector<std::string> exclude;
  std::string name;         // `as:`; defaults to the repo's name (part after '/')
  std::string expect_json;  // `expect:` block as canonical JSON, or empty
  int line = 0;             // 1-based line of the entry, for messages
};

struct Manifest {
  int version = 1;
  std::string endpoint;  // optional
  std::vector<ManifestModel> models;
  std::string path;  // where it was read from
};

Result<Manifest> parse_manifest(std::string_view yaml_text, std::string_view source);
Result<Manifest> load_manifest(const std::string& path);

// The lock entry a manifest entry produces, without commit and files.
LockedModel lock_skeleton(const ManifestModel& m);

// Why `l` no longer is the lock of `m` (repo, type, revision, patterns, expectations, or a
// locked commit other than the full commit the manifest pins), or "" when it still is. The one
// rule behind `fetch --locked` and `status`.
std::string lock_entry_difference(const ManifestModel& m, const LockedModel& l);

// Ok when every manifest entry has a lock entry with the same repo, type, revision, patterns,
// name and expectations (and the lock has nothing else). Otherwise a usage error naming the
// first difference, with the hint to run `modelbake lock`.
Status lock_matches_manifest(const Manifest& manifest, const Lockfile& lock);

}  // namespace mb
