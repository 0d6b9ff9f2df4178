// The files around the blobs of an OCI image layout: oci-layout, index.json and docker-load's
// manifest.json, plus image reference (tag) parsing.
#include <nlohmann/json.hpp>

#include "bundle/oci_image.hpp"
#include "core/file.hpp"

using nlohmann::ordered_json;

namespace mb::bundle {

namespace {

struct ImageRef {
  std::string name;  // "models", "ghcr.io/org/models"
  std::string tag;   // "latest"
};

ImageRef split_ref(const std::string& ref) {
  size_t slash = ref.rfind('/');
  size_t colon = ref.rfind(':');
  if (colon != std::string::npos && (slash == std::string::npos || colon > slash)) {
    return {ref.substr(0, colon), ref.substr(colon + 1)};
  }
  return {ref, "latest"};
}

bool is_alnum_lower(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

bool name_component_ok(const std::string& c) {
  if (c.empty() || !is_alnum_lower(c.front()) || !is_alnum_lower(c.back())) return false;
  for (char ch : c) {
    if (!is_alnum_lower(ch) && ch != '.' && ch != '_' && ch != '-') return false;
  }
  return true;
}

bool host_ok(const std::string& h) {
  if (h.empty()) return false;
  for (char ch : h) {
    bool ok = std::isalnum(static_cast<unsigned char>(ch)) || ch == '.' || ch == '-' || ch == ':';
    if (!ok) return false;
  }
  return true;
}

bool is_host(const std::string& first) {
  return first.find('.') != std::string::npos || first.find(':') != std::string::npos ||
         first == "localhost";
}

// docker.io normalisation used by containerd for io.containerd.image.name.
std::string full_name(const std::string& name) {
  size_t slash = name.find('/');
  if (slash == std::string::npos) return "docker.io/library/" + name;
  if (is_host(name.substr(0, slash))) return name;
  return "docker.io/" + name;
}

}  // namespace

Status validate_image_tag(const std::string& tag) {
  auto bad = [&](const std::string& why) {
    return fail(ErrorCategory::usage, "invalid --tag '" + tag.substr(0, 200) + "': " + why,
                "use a docker reference such as models:v1 or registry.local:5000/team/models:v1");
  };
  if (tag.empty() || tag.size() > 255) return bad("empty or too long");
  ImageRef r = split_ref(tag);
  if (r.tag.empty() || r.tag.size() > 128) return bad("the tag part must have 1-128 characters");
  for (size_t i = 0; i < r.tag.size(); ++i) {
    char c = r.tag[i];
    bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '_' ||
              (i > 0 && (c == '.' || c == '-'));
    if (!ok) return bad("the tag part allows letters, digits, '_', '.', '-'");
  }
  size_t start = 0;
  bool first = true;
  while (start <= r.name.size()) {
    size_t slash = r.name.find('/', start);
    std::string part =
        r.name.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    bool is_registry = first && slash != std::string::npos && is_host(part);
    if (is_registry ? !host_ok(part) : !name_component_ok(part)) {
      return bad("name components are lower-case letters, digits and '.', '_', '-'");
    }
    if (slash == std::string::npos) break;
    start = slash + 1;
    first = false;
  }
  return {};
}

Status write_layout_index(const std::string& layout_dir, const Descriptor& manifest,
                          const std::string& tag, const std::string& artifact_type) {
  MB_TRY(validate_image_tag(tag));
  ImageRef ref = split_ref(tag);
  MB_TRY(write_file_atomic(layout_dir + "/oci-layout", R"({"imageLayoutVersion":"1.0.0"})"));
  ordered_json desc{
      {"mediaType", manifest.media_type}, {"digest", manifest.digest}, {"size", manifest.size}};
  if (!artifact_type.empty()) desc["artifactType"] = artifact_type;
  desc["annotations"] = {{"io.containerd.image.name", full_name(ref.name) + ":" + ref.tag},
                         {"org.opencontainers.image.ref.name", ref.tag}};
  ordered_json index{{"schemaVersion", 2},
                     {"mediaType", k_media_oci_index},
                     {"manifests", ordered_json::array({desc})}};
  return write_file_atomic(layout_dir + "/index.json", index.dump());
}

Status write_oci_layout_files(const std::string& layout_dir, const OciImage& image,
                              const std::string& tag) {
  MB_TRY(write_layout_index(layout_dir, image.manifest, tag, ""));
  ImageRef ref = split_ref(tag);

  // docker load (classic store) reads this instead of index.json; it knows no indexes.
  if (!image.platforms.empty()) return {};
  ordered_json layers = ordered_json::array();
  for (const auto& l : image.base_layers) layers.push_back("blobs/sha256/" + l.digest.substr(7));
  for (const auto& l : image.layers) layers.push_back("blobs/sha256/" + l.blob.digest.substr(7));
  ordered_json docker =
      ordered_json::array({{{"Config", "blobs/sha256/" + image.config.digest.substr(7)},
                            {"RepoTags", ordered_json::array({ref.name + ":" + ref.tag})},
                            {"Layers", layers}}});
  return write_file_atomic(layout_dir + "/manifest.json", docker.dump());
}

}  // namespace mb::bundle
