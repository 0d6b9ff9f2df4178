// Remembered OCI layer digests: .locks/modelbake/layers/<key>.json in the cache. The key covers
// everything that decides a layer's bytes (the model's identity and files, layout, prefix,
// mtime and the writer's format version), so a hit means "this exact tar was built before,
// its content was checked then, and its digest is this".
#pragma once

#include <optional>
#include <string>

#include "bundle/oci_image.hpp"
#include "lock/lockfile.hpp"
#include "store/layout.hpp"

namespace mb::bundle {

class LayerCache {
 public:
  LayerCache(const CacheLayout& cache, bool enabled) : m_cache(cache), m_enabled(enabled) {}

  static std::string key(const LockedModel& m, Layout layout, const std::string& prefix,
                         int64_t epoch);
  std::string path(const std::string& key) const;

  std::optional<Descriptor> lookup(const std::string& key) const;
  // Best effort: a read-only cache only costs the next build a re-hash.
  void remember(const std::string& key, const Descriptor& d) const;

 private:
  const CacheLayout& m_cache;
  bool m_enabled;
};

}  // namespace mb::bundle
