// Paths of the cache. The cache is a valid Hugging Face hub cache (models--org--name/
// {blobs,refs,snapshots}) whose blobs are hard links to one content-addressed object store
// (.locks/modelbake/objects/sha256/ab/<hex>), so identical content is stored once on disk
// whatever repo or revision it came from. See docs/cache-layout.md.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "lock/lockfile.hpp"
#include "store/cache_door.hpp"

namespace mb {

// "models--org--name" / "datasets--org--name".
std::string repo_folder_name(RepoType type, std::string_view repo_id);

class CacheLayout {
 public:
  explicit CacheLayout(std::string root);

  const std::string& root() const { return m_root; }
  // Every file-system operation below the root goes through this door (store/cache_door.hpp).
  // Copies of a layout share it, and so the root descriptor.
  const CacheDoor& door() const { return *m_door; }
  std::string repo_dir(RepoType type, std::string_view repo) const;
  std::string blob_path(RepoType type, std::string_view repo, std::string_view etag) const;
  std::string ref_path(RepoType type, std::string_view repo, std::string_view revision) const;
  std::string snapshot_dir(RepoType type, std::string_view repo, std::string_view commit) const;
  std::string snapshot_file(RepoType type, std::string_view repo, std::string_view commit,
                            std::string_view path) const;
  std::string trees_file(RepoType type, std::string_view repo, std::string_view commit) const;
  // Target of the snapshot symlink for `path`: "../../blobs/<etag>" with one "../" per
  // directory level of `path`.
  static std::string snapshot_link_target(std::string_view path, std::string_view etag);

  // modelbake's private area inside the cache: <root>/.locks/modelbake. Both hub-cache scanners
  // (huggingface_hub scan_cache_dir, @huggingface/hub scanCacheDir) skip the root's `.locks/`
  // (huggingface_hub keeps its own lock files there), and it is on the blobs' filesystem, so
  // objects can be hard-linked and temps renamed into place.
  static constexpr std::string_view k_private_rel = ".locks/modelbake";
  // Where versions before that kept it (<root>/.modelbake); Store::init migrates it.
  static constexpr std::string_view k_legacy_private_rel = ".modelbake";
  std::string private_dir() const;
  std::string legacy_private_dir() const;
  // The same folders relative to the root (for check_real_dirs).
  std::string objects_rel() const;
  std::string tmp_rel() const;
  std::string locks_rel() const;
  std::string object_path(std::string_view sha256) const;
  std::string objects_dir() const;
  std::string tmp_dir() const;
  std::string locks_dir() const;
  std::string lock_path(std::string_view name) const;
  // Per-snapshot metadata (fetched_at, last_used): <private>/meta/<repo-folder>/<commit>.json
  std::string snapshot_meta_path(RepoType type, std::string_view repo,
                                 std::string_view commit) const;

 private:
  std::string m_root;
  std::shared_ptr<CacheDoor> m_door;
};

// Cache directory precedence: explicit flag, then HF_HUB_CACHE, HUGGINGFACE_HUB_CACHE,
// then $HF_HOME/hub, then $XDG_CACHE_HOME/huggingface/hub, then ~/.cache/huggingface/hub.
class Env;
std::string resolve_cache_dir(const std::string& flag_value, const Env& env);

}  // namespace mb
