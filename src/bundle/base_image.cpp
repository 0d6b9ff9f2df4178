#include "bundle/base_image.hpp"

#include <unistd.h>

#include <cerrno>
#include <nlohmann/json.hpp>

#include "bundle/plan.hpp"
#include "core/file.hpp"
#include "core/hash.hpp"
#include "core/text.hpp"

using nlohmann::ordered_json;

namespace mb::bundle {

namespace {

constexpr uint64_t k_small_limit = 4u << 20;  // manifests, indexes, configs

constexpr std::string_view k_docker_manifest =
    "application/vnd.docker.distribution.manifest.v2+json";
constexpr std::string_view k_docker_list =
    "application/vnd.docker.distribution.manifest.list.v2+json";

Failure bad_base(const BaseSource& base, const std::string& why,
                 const std::string& hint =
                     "pass an image built for Linux (an OCI or Docker "
                     "image, or an index of them)") {
  return fail(ErrorCategory::usage, "base " + base.describe() + ": " + why, hint);
}

bool valid_digest(const std::string& d) {
  return d.size() == 71 && d.rfind("sha256:", 0) == 0 && is_lower_hex(d.substr(7), 64);
}

Result<Descriptor> descriptor_of(const BaseSource& base, const ordered_json& j,
                                 const std::string& what) {
  if (!j.is_object() || !j.contains("mediaType") || !j["mediaType"].is_string() ||
      !j.contains("digest") || !j["digest"].is_string() || !j.contains("size") ||
      !j["size"].is_number_unsigned() || !valid_digest(j["digest"].get<std::string>())) {
    return bad_base(base, "invalid descriptor of the " + what);
  }
  return Descriptor{j["mediaType"].get<std::string>(), j["digest"].get<std::string>(),
                    j["size"].get<uint64_t>()};
}

Result<ordered_json> parse_object(const BaseSource& base, const std::string& text,
                                  const std::string& what) {
  auto j = ordered_json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return bad_base(base, "the " + what + " is not JSON");
  return j;
}

// The OCI spelling of a base layer's media type (the bytes stay the same).
Result<std::string> oci_layer_type(const BaseSource& base, const std::string& t) {
  if (t == k_media_oci_layer_tar || t == k_media_oci_layer_gzip ||
      t == "application/vnd.oci.image.layer.v1.tar+zstd") {
    return t;
  }
  if (t == "application/vnd.docker.image.rootfs.diff.tar.gzip")
    return std::string(k_media_oci_layer_gzip);
  if (t == "application/vnd.docker.image.rootfs.diff.tar")
    return std::string(k_media_oci_layer_tar);
  return bad_base(base, "unsupported layer media type '" + sanitize_for_display(t) + "'");
}

std::string env_name(const std::string& entry) { return entry.substr(0, entry.find('=')); }

// The base's config with the model layers appended; everything else is the base's own.
Result<std::string> config_on_base(const BaseSource& base, const std::string& base_config,
                                   const std::vector<ImageLayer>& layers, const ImageOptions& opts,
                                   const std::string& prefix) {
  MB_ASSIGN(ordered_json cfg, parse_object(base, base_config, "image config"));
  if (!cfg.contains("rootfs") || !cfg["rootfs"].is_object() ||
      !cfg["rootfs"].contains("diff_ids") || !cfg["rootfs"]["diff_ids"].is_array()) {
    return bad_base(base, "the image config has no rootfs.diff_ids");
  }
  for (const auto& l : layers) cfg["rootfs"]["diff_ids"].push_back(l.blob.digest);
  // History has one entry per layer (plus empty ones); a base without history stays so.
  if (cfg.contains("history") && cfg["history"].is_array()) {
    for (const auto& l : layers) {
      cfg["history"].push_back({{"created", rfc3339(opts.epoch)},
                                {"created_by", "modelbake: " + layer_role(l)},
                                {"comment", "modelbake export"}});
    }
  }
  if (!cfg.contains("config") || !cfg["config"].is_object()) cfg["config"] = ordered_json::object();
  ordered_json& c = cfg["config"];
  if (!c.contains("Env") || !c["Env"].is_array()) c["Env"] = ordered_json::array();
  std::vector<std::string> ours{"HF_HUB_OFFLINE=1"};
  if (opts.layout == Layout::hub) ours.push_back("HF_HUB_CACHE=/" + prefix);
  for (const auto& e : ours) {
    bool set = false;
    for (const auto& have : c["Env"])
      set = set || (have.is_string() && env_name(have.get<std::string>()) == env_name(e));
    if (!set) c["Env"].push_back(e);  // the base's own value wins
  }
  if (!c.contains("Labels") || !c["Labels"].is_object()) c["Labels"] = ordered_json::object();
  c["Labels"]["io.modelbake.layout"] = to_string(opts.layout);
  c["Labels"]["io.modelbake.prefix"] = "/" + prefix;
  return cfg.dump();
}

ordered_json descriptor_json(const Descriptor& d) {
  return ordered_json{{"mediaType", d.media_type}, {"digest", d.digest}, {"size", d.size}};
}

// One platform: the base manifest's layers (copied into the sink) + the model layers.
Result<PlatformImage> image_on_manifest(BaseSource& base, const std::string& manifest_text,
                                        const std::vector<ImageLayer>& layers,
                                        const ImageOptions& opts, const std::string& prefix,
                                        BlobSink& sink) {
  MB_ASSIGN(ordered_json man, parse_object(base, manifest_text, "manifest"));
  if (!man.contains("layers") || !man["layers"].is_array() || !man.contains("config"))
    return bad_base(base, "the manifest has no config or layers");
  MB_ASSIGN(Descriptor cfg_desc, descriptor_of(base, man["config"], "config"));
  MB_ASSIGN(std::string base_cfg, base.small_blob(cfg_desc));
  PlatformImage img;
  ordered_json out_layers = ordered_json::array();
  for (const auto& l : man["layers"]) {
    MB_ASSIGN(Descriptor d, descriptor_of(base, l, "layer"));
    MB_ASSIGN(d.media_type, oci_layer_type(base, d.media_type));
    MB_TRY(base.copy_blob(d, sink));
    out_layers.push_back(descriptor_json(d));
    img.base_layers.push_back(std::move(d));
  }
  for (const auto& l : layers) {
    ordered_json d = descriptor_json(l.blob);
    d["annotations"] = {{"io.modelbake.model", layer_role(l)}};
    out_layers.push_back(std::move(d));
  }
  MB_ASSIGN(img.config_json, config_on_base(base, base_cfg, layers, opts, prefix));
  MB_ASSIGN(img.config, put_blob_bytes(sink, k_media_oci_config, img.config_json));
  auto cfg = ordered_json::parse(img.config_json);
  img.platform = cfg.value("os", "") + "/" + cfg.value("architecture", "");
  if (cfg.contains("variant") && cfg["variant"].is_string())
    img.platform += "/" + cfg["variant"].get<std::string>();
  ordered_json out{{"schemaVersion", 2},
                   {"mediaType", k_media_oci_manifest},
                   {"config", descriptor_json(img.config)},
                   {"layers", out_layers}};
  img.manifest_json = out.dump();
  MB_ASSIGN(img.manifest, put_blob_bytes(sink, k_media_oci_manifest, img.manifest_json));
  return img;
}

bool is_image_manifest(const std::string& media_type) {
  return media_type == k_media_oci_manifest || media_type == k_docker_manifest;
}

// A base index: every image entry (attestations and other artifacts are left out) gets the
// model layers; the platform entries keep the base's order and platform objects.
Result<OciImage> image_on_index(BaseSource& base, const ordered_json& index, OciImage image,
                                const ImageOptions& opts, const std::string& prefix,
                                BlobSink& sink) {
  if (!index.contains("manifests") || !index["manifests"].is_array())
    return bad_base(base, "the image index has no manifests");
  ordered_json entries = ordered_json::array();
  for (const auto& e : index["manifests"]) {
    MB_ASSIGN(Descriptor d, descriptor_of(base, e, "index entry"));
    bool unknown_platform = e.contains("platform") && e["platform"].is_object() &&
                            e["platform"].value("os", "") == "unknown";
    if (!is_image_manifest(d.media_type) || unknown_platform) continue;
    MB_ASSIGN(std::string text, base.small_blob(d));
    MB_ASSIGN(PlatformImage img, image_on_manifest(base, text, image.layers, opts, prefix, sink));
    ordered_json entry = descriptor_json(img.manifest);
    if (e.contains("platform") && e["platform"].is_object()) entry["platform"] = e["platform"];
    entries.push_back(std::move(entry));
    image.platforms.push_back(std::move(img));
  }
  if (image.platforms.empty()) return bad_base(base, "the image index holds no image");
  ordered_json out{{"schemaVersion", 2}, {"mediaType", k_media_oci_index}, {"manifests", entries}};
  image.manifest_json = out.dump();
  MB_ASSIGN(image.manifest, put_blob_bytes(sink, k_media_oci_index, image.manifest_json));
  return image;
}

// ---- a base in an OCI image layout --------------------------------------------------------

class LayoutBase final : public BaseSource {
 public:
  LayoutBase(std::string spec, std::string dir, std::string tag)
      : m_spec(std::move(spec)), m_dir(std::move(dir)), m_tag(std::move(tag)) {}
  std::string describe() const override { return m_spec; }

  Result<std::string> root() override {
    MB_ASSIGN(std::string text, read_file(m_dir + "/index.json", k_small_limit));
    MB_ASSIGN(ordered_json index, parse_object(*this, text, "index.json"));
    if (!index.contains("manifests") || !index["manifests"].is_array())
      return bad_base(*this, "index.json lists no manifests");
    const ordered_json* chosen = nullptr;
    size_t count = 0;
    for (const auto& e : index["manifests"]) {
      ++count;
      std::string name;
      if (e.contains("annotations") && e["annotations"].is_object())
        name = e["annotations"].value("org.opencontainers.image.ref.name", "");
      if (m_tag.empty() || name == m_tag) chosen = &e;
    }
    if (!chosen) return bad_base(*this, "no image tagged '" + m_tag + "' in the layout");
    if (m_tag.empty() && count != 1)
      return bad_base(*this, "the layout holds several images", "name one: oci:DIR:TAG");
    MB_ASSIGN(Descriptor d, descriptor_of(*this, *chosen, "index.json entry"));
    return small_blob(d);
  }

  Result<std::string> small_blob(const Descriptor& d) override {
    if (d.size > k_small_limit) return bad_base(*this, "the blob " + d.digest + " is too large");
    MB_ASSIGN(std::string text, read_file(path(d), k_small_limit));
    if (text.size() != d.size || "sha256:" + sha256_hex(text) != d.digest) {
      return fail(ErrorCategory::integrity,
                  "base " + m_spec + ": blob " + d.digest + " does not match its digest");
    }
    return text;
  }

  Status copy_blob(const Descriptor& d, BlobSink& sink) override {
    return copy_file_to_sink(path(d), d, sink, "base " + m_spec + " blob " + d.digest);
  }

 private:
  std::string path(const Descriptor& d) const {
    return m_dir + "/blobs/sha256/" + d.digest.substr(7);
  }
  std::string m_spec;
  std::string m_dir;
  std::string m_tag;
};

}  // namespace

bool is_layout_base(std::string_view spec) { return spec.rfind("oci:", 0) == 0; }

Result<std::unique_ptr<BaseSource>> open_layout_base(std::string_view spec) {
  std::string rest(spec.substr(4));
  std::string dir = rest, tag;
  if (size_t colon = rest.rfind(':');
      colon != std::string::npos && rest.find('/', colon) == std::string::npos) {
    dir = rest.substr(0, colon);
    tag = rest.substr(colon + 1);
  }
  if (dir.empty() || ::access((dir + "/oci-layout").c_str(), R_OK) != 0) {
    return fail(ErrorCategory::usage,
                "--base " + sanitize_for_display(std::string(spec)) + ": no OCI layout at '" +
                    sanitize_for_display(dir) + "'",
                "use oci:DIR[:TAG] with a directory holding oci-layout and index.json, or a "
                "registry reference");
  }
  return std::unique_ptr<BaseSource>(new LayoutBase(std::string(spec), dir, tag));
}

Status copy_file_to_sink(const std::string& path, const Descriptor& d, BlobSink& sink,
                         const std::string& what) {
  if (sink.has_blob(d)) return {};
  MB_ASSIGN(UniqueFd fd, open_read(path));
  return copy_fd_to_sink(fd.get(), path, d, sink, what);
}

Status copy_fd_to_sink(int fd, const std::string& path, const Descriptor& d, BlobSink& sink,
                       const std::string& what) {
  if (sink.has_blob(d)) return {};
  MB_ASSIGN(auto writer, sink.begin_blob());
  Hasher hasher(HashAlgo::sha256);
  std::string buf(64u << 10, '\0');
  uint64_t total = 0;
  for (;;) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno_error("reading " + path, errno);
    if (n == 0) break;
    hasher.update(buf.data(), static_cast<size_t>(n));
    total += static_cast<uint64_t>(n);
    MB_TRY(writer->write(buf.data(), static_cast<size_t>(n)));
  }
  if (total != d.size || "sha256:" + hasher.finish_hex() != d.digest) {
    return fail(ErrorCategory::integrity, what + " does not match its digest " + d.digest,
                "the source is damaged: for the cache run 'modelbake verify --repair', for a "
                "base image pull or build it again");
  }
  return writer->commit(d.digest, d.size);
}

Result<OciImage> build_image_on_base(const Lockfile& lock, const Store& store,
                                     const ImageOptions& opts, BaseSource& base, BlobSink& sink) {
  MB_ASSIGN(std::string prefix, normalize_prefix(opts.prefix));
  MB_ASSIGN(std::string root_text, base.root());
  MB_ASSIGN(ordered_json root, parse_object(base, root_text, "manifest"));
  OciImage image;
  MB_ASSIGN(image.layers, build_model_layers(lock, store, opts, sink));
  std::string media_type = root.value("mediaType", "");
  if (media_type == k_media_oci_index || media_type == k_docker_list ||
      (media_type.empty() && root.contains("manifests"))) {
    return image_on_index(base, root, std::move(image), opts, prefix, sink);
  }
  MB_ASSIGN(PlatformImage img,
            image_on_manifest(base, root_text, image.layers, opts, prefix, sink));
  image.config = img.config;
  image.config_json = std::move(img.config_json);
  image.manifest = img.manifest;
  image.manifest_json = std::move(img.manifest_json);
  image.base_layers = std::move(img.base_layers);
  return image;
}

}  // namespace mb::bundle
