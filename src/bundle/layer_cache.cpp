#include "bundle/layer_cache.hpp"

#include <nlohmann/json.hpp>

#include "core/file.hpp"
#include "core/hash.hpp"
#include "core/log.hpp"

namespace mb::bundle {

namespace {
// Bump when the bytes of a layer for the same inputs change (tar writer, plan).
constexpr const char* k_layer_format = "modelbake-layer-v1";
}  // namespace

std::string LayerCache::key(const LockedModel& m, Layout layout, const std::string& prefix,
                            int64_t epoch) {
  std::string k = k_layer_format;
  auto add = [&k](std::string_view v) {
    k += '\n';
    k += std::to_string(v.size());
    k += ':';
    k += v;
  };
  add(to_string(layout));
  add(prefix);
  add(std::to_string(epoch));
  add(m.name);
  add(m.repo);
  add(to_string(m.type));
  add(m.revision);
  add(m.commit);
  for (const auto& f : m.files) {
    add(f.path);
    add(std::to_string(f.size));
    add(f.sha256);
    add(f.etag);
  }
  return sha256_hex(k);
}

std::string LayerCache::path(const std::string& key) const {
  return m_cache.private_dir() + "/layers/" + key + ".json";
}

std::optional<Descriptor> LayerCache::lookup(const std::string& key) const {
  if (!m_enabled) return std::nullopt;
  auto text = m_cache.door().read_file(path(key), 1 << 16);
  if (!text.ok()) return std::nullopt;
  auto j = nlohmann::json::parse(*text, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("digest") || !j.contains("size"))
    return std::nullopt;
  if (!j["digest"].is_string() || !j["size"].is_number_unsigned()) return std::nullopt;
  Descriptor d{k_media_oci_layer_tar, j["digest"].get<std::string>(), j["size"].get<uint64_t>()};
  if (d.digest.rfind("sha256:", 0) != 0 || !is_lower_hex(d.digest.substr(7), 64))
    return std::nullopt;
  return d;
}

void LayerCache::remember(const std::string& key, const Descriptor& d) const {
  if (!m_enabled) return;
  nlohmann::ordered_json j{{"digest", d.digest}, {"size", d.size}};
  // Through the door: a linked layers/ folder is refused (named in the debug line), never
  // written into.
  Status st = m_cache.door().write_file_atomic(path(key), j.dump() + "\n");
  if (!st.ok()) log::debug("not remembering layer digest: " + st.error().message);
}

}  // namespace mb::bundle
