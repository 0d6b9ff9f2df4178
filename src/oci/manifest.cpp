#include "oci/manifest.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "core/hash.hpp"
#include "core/text.hpp"
#include "oci/reference.hpp"

namespace mb::oci {

using ojson = nlohmann::ordered_json;

std::string manifest_accept_header() {
  return std::string(media::oci_manifest) + ", " + std::string(media::oci_index) + ", " +
         std::string(media::docker_manifest) + ", " + std::string(media::docker_manifest_list);
}

namespace {

ojson descriptor_json(const Descriptor& d) {
  ojson j;
  j["mediaType"] = d.media_type;
  j["digest"] = d.digest;
  j["size"] = d.size;
  if (!d.annotations.empty()) {
    ojson a = ojson::object();
    for (const auto& [k, v] : d.annotations) a[k] = v;
    j["annotations"] = a;
  }
  return j;
}

Result<Descriptor> parse_descriptor(const nlohmann::json& j, const char* what) {
  auto bad = [&](const std::string& why) {
    return fail(ErrorCategory::permanent,
                std::string("registry sent a manifest with an invalid ") + what + ": " + why);
  };
  if (!j.is_object()) return bad("not an object");
  Descriptor d;
  auto mt = j.find("mediaType");
  auto dg = j.find("digest");
  auto sz = j.find("size");
  if (mt == j.end() || !mt->is_string()) return bad("mediaType missing");
  if (dg == j.end() || !dg->is_string() || !is_valid_digest(dg->get<std::string>()))
    return bad("digest missing or not sha256");
  if (sz == j.end() || !sz->is_number_unsigned()) return bad("size missing or negative");
  d.media_type = mt->get<std::string>();
  d.digest = dg->get<std::string>();
  d.size = sz->get<uint64_t>();
  if (auto an = j.find("annotations"); an != j.end() && an->is_object()) {
    for (auto it = an->begin(); it != an->end(); ++it)
      if (it.value().is_string()) d.annotations[it.key()] = it.value().get<std::string>();
  }
  return d;
}

bool has_suffix(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// The last path component, ASCII-lowered: media types are chosen by the file's own name.
std::string lower_file_name(std::string_view path) {
  if (size_t slash = path.rfind('/'); slash != std::string_view::npos)
    path = path.substr(slash + 1);
  return ascii_lower(path);
}

std::string weight_format(const Lockfile& lock) {
  for (const auto& m : lock.models)
    for (const auto& f : m.files) {
      std::string p = ascii_lower(f.path);
      if (has_suffix(p, ".safetensors")) return "safetensors";
      if (has_suffix(p, ".gguf")) return "gguf";
      if (has_suffix(p, ".onnx")) return "onnx";
      if (has_suffix(p, ".bin") || has_suffix(p, ".pt") || has_suffix(p, ".pth")) return "pt";
    }
  return "";
}

// A layer that is one file: CRI-O mounts it as <title>, ModelPack and DMR extract it to
// <filepath>; the metadata is fixed (mode 0644, owner 0, mtime 0) so digests are reproducible.
Descriptor file_layer(std::string_view media_type, std::string digest, uint64_t size,
                      const std::string& filepath) {
  Descriptor d;
  d.media_type = std::string(media_type);
  d.digest = std::move(digest);
  d.size = size;
  d.annotations[std::string(annotation::filepath)] = filepath;
  d.annotations[std::string(annotation::title)] = filepath;
  ojson meta;
  meta["name"] = filepath;
  meta["mode"] = 0644;
  meta["uid"] = 0;
  meta["gid"] = 0;
  meta["size"] = size;
  meta["mtime"] = "1970-01-01T00:00:00Z";
  meta["typeflag"] = 48;  // '0': regular file
  d.annotations[std::string(annotation::file_metadata)] = meta.dump();
  d.annotations[std::string(annotation::untested)] = "false";
  return d;
}

std::string_view docker_model_media_type(std::string_view path) {
  const std::string base = lower_file_name(path);
  if (has_suffix(base, ".gguf")) return media::dmr_gguf;
  if (has_suffix(base, ".safetensors")) return media::dmr_safetensors;
  if (base.rfind("license", 0) == 0) return media::dmr_license;
  return media::dmr_file;
}

}  // namespace

std::string serialize_manifest(const Manifest& m) {
  ojson j;
  j["schemaVersion"] = 2;
  j["mediaType"] = m.media_type;
  if (!m.artifact_type.empty()) j["artifactType"] = m.artifact_type;
  j["config"] = descriptor_json(m.config);
  j["layers"] = ojson::array();
  for (const auto& l : m.layers) j["layers"].push_back(descriptor_json(l));
  if (!m.annotations.empty()) {
    ojson a = ojson::object();
    for (const auto& [k, v] : m.annotations) a[k] = v;
    j["annotations"] = a;
  }
  return j.dump();
}

Result<Manifest> parse_manifest(std::string_view text) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return fail(ErrorCategory::permanent, "registry sent a manifest that is not a JSON object");
  Manifest m;
  if (auto mt = j.find("mediaType"); mt != j.end() && mt->is_string())
    m.media_type = mt->get<std::string>();
  if (m.media_type == media::oci_index || m.media_type == media::docker_manifest_list ||
      j.contains("manifests")) {
    return fail(ErrorCategory::usage,
                "the reference names an image index (multi-platform image), not a modelbake bundle",
                "push the bundle with 'modelbake push' and pull that tag");
  }
  if (m.media_type != media::oci_manifest && m.media_type != media::docker_manifest) {
    return fail(ErrorCategory::permanent, "unsupported manifest media type '" + m.media_type + "'");
  }
  if (auto sv = j.find("schemaVersion"); sv == j.end() || *sv != 2) {
    return fail(ErrorCategory::permanent, "registry sent a manifest without schemaVersion 2");
  }
  if (auto at = j.find("artifactType"); at != j.end() && at->is_string())
    m.artifact_type = at->get<std::string>();
  auto cfg = j.find("config");
  if (cfg == j.end())
    return fail(ErrorCategory::permanent, "registry sent a manifest without config");
  MB_ASSIGN(m.config, parse_descriptor(*cfg, "config"));
  auto layers = j.find("layers");
  if (layers == j.end() || !layers->is_array())
    return fail(ErrorCategory::permanent, "registry sent a manifest without layers");
  for (const auto& l : *layers) {
    MB_ASSIGN(auto d, parse_descriptor(l, "layer"));
    m.layers.push_back(std::move(d));
  }
  if (auto an = j.find("annotations"); an != j.end() && an->is_object()) {
    for (auto it = an->begin(); it != an->end(); ++it)
      if (it.value().is_string()) m.annotations[it.key()] = it.value().get<std::string>();
  }
  return m;
}

std::string_view modelpack_media_type(std::string_view path) {
  const std::string base = lower_file_name(path);
  for (std::string_view ext :
       {".safetensors", ".gguf", ".bin", ".pt", ".pth", ".onnx", ".onnx_data", ".h5", ".msgpack",
        ".ckpt", ".tflite", ".ot", ".pb", ".npz", ".mlmodel"}) {
    if (has_suffix(base, ext)) return media::model_weight;
  }
  if (has_suffix(base, ".md") || has_suffix(base, ".rst") || base.rfind("license", 0) == 0 ||
      base.rfind("readme", 0) == 0 || base == ".gitattributes") {
    return media::model_doc;
  }
  if (has_suffix(base, ".py") || has_suffix(base, ".ipynb")) return media::model_code;
  // config.json, tokenizer.json, vocab.txt, merges.txt, *.model (sentencepiece), ...
  return media::model_weight_config;
}

RawArtifact build_modelpack(const Lockfile& lock) {
  RawArtifact art;
  art.lock_json = serialize_lock(lock);
  Manifest& m = art.manifest;
  m.artifact_type = std::string(media::model_artifact);
  ojson diff_ids = ojson::array();
  for (const auto& model : lock.models) {
    for (const auto& f : model.files) {
      Descriptor d = file_layer(modelpack_media_type(f.path), "sha256:" + f.sha256, f.size,
                                model.name + "/" + f.path);
      diff_ids.push_back(d.digest);
      m.layers.push_back(std::move(d));
    }
  }
  Descriptor lock_layer = file_layer(media::model_doc, "sha256:" + sha256_hex(art.lock_json),
                                     art.lock_json.size(), "modelbake.lock");
  lock_layer.annotations[std::string(annotation::lock_layer)] = "true";
  diff_ids.push_back(lock_layer.digest);
  m.layers.push_back(lock_layer);

  ojson cfg;
  ojson desc;
  std::string names, revisions;
  for (const auto& model : lock.models) {
    names += (names.empty() ? "" : ",") + model.repo;
    revisions += (revisions.empty() ? "" : ",") + model.commit;
  }
  desc["name"] = names;
  desc["revision"] = revisions;
  cfg["descriptor"] = desc;
  ojson config_block = ojson::object();
  if (std::string fmt = weight_format(lock); !fmt.empty()) config_block["format"] = fmt;
  cfg["config"] = config_block;
  cfg["modelfs"] = {{"type", "layers"}, {"diffIds", diff_ids}};
  art.config_json = cfg.dump();
  m.config.media_type = std::string(media::model_config);
  m.config.digest = "sha256:" + sha256_hex(art.config_json);
  m.config.size = art.config_json.size();
  m.annotations[std::string(annotation::lock_layer)] = lock_layer.digest;
  art.manifest_json = serialize_manifest(m);
  return art;
}

LayerTarget find_modelpack_target(const Lockfile& lock, const Descriptor& layer) {
  auto it = layer.annotations.find(std::string(annotation::filepath));
  if (it == layer.annotations.end()) it = layer.annotations.find("org.cnai.model.filepath");
  if (it == layer.annotations.end()) return {};
  const std::string& fp = it->second;
  auto matches = [&](const LockedModel* model, const std::string& path) -> LayerTarget {
    const LockedFile* file = model ? model->find_file(path) : nullptr;
    if (!file || layer.digest != "sha256:" + file->sha256 || layer.size != file->size) return {};
    return {model, file};
  };
  if (lock.models.size() == 1) {
    if (LayerTarget t = matches(&lock.models[0], fp); t.file) return t;
  }
  size_t slash = fp.find('/');
  if (slash == std::string::npos) return {};
  return matches(lock.find_model(fp.substr(0, slash)), fp.substr(slash + 1));
}

std::string raw_artifact_kind(const Manifest& m) {
  if (m.artifact_type == media::model_artifact || m.config.media_type == media::model_config ||
      m.config.media_type == "application/vnd.cnai.model.config.v1+json") {
    return "modelpack";
  }
  if (m.config.media_type == media::dmr_config || m.config.media_type == media::dmr_config_v01)
    return "docker-model";
  return "";
}

Result<RawArtifact> build_docker_model(const Lockfile& lock) {
  if (lock.models.size() != 1) {
    return fail(ErrorCategory::usage,
                "a Docker Model Runner artifact holds one model; the lock has " +
                    std::to_string(lock.models.size()),
                "make a manifest with that one model, or use --format modelpack / oci");
  }
  const LockedModel& model = lock.models[0];
  std::string format;
  for (const auto& f : model.files) {
    std::string_view t = docker_model_media_type(f.path);
    if (t == media::dmr_gguf) format = "gguf";
    if (t == media::dmr_safetensors && format.empty()) format = "safetensors";
  }
  if (format.empty()) {
    return fail(ErrorCategory::usage,
                "model '" + model.name +
                    "' has no .gguf or .safetensors file: Docker Model "
                    "Runner serves only those",
                "use --format modelpack or oci for other models");
  }
  RawArtifact art;
  art.lock_json = serialize_lock(lock);
  Manifest& m = art.manifest;
  ojson files = ojson::array();
  ojson diff_ids = ojson::array();
  uint64_t total = 0;
  auto add = [&](Descriptor d) {
    files.push_back({{"diffID", d.digest}, {"type", d.media_type}});
    diff_ids.push_back(d.digest);
    total += d.size;
    m.layers.push_back(std::move(d));
  };
  for (const auto& f : model.files)
    add(file_layer(docker_model_media_type(f.path), "sha256:" + f.sha256, f.size, f.path));
  Descriptor lock_layer = file_layer(media::dmr_file, "sha256:" + sha256_hex(art.lock_json),
                                     art.lock_json.size(), "modelbake.lock");
  lock_layer.annotations[std::string(annotation::lock_layer)] = "true";
  std::string lock_digest = lock_layer.digest;
  add(std::move(lock_layer));
  ojson cfg;
  cfg["config"] = {{"format", format}, {"size", std::to_string(total)}};
  cfg["files"] = files;
  cfg["rootfs"] = {{"type", "layers"}, {"diff_ids", diff_ids}};
  art.config_json = cfg.dump();
  m.config.media_type = std::string(media::dmr_config);
  m.config.digest = "sha256:" + sha256_hex(art.config_json);
  m.config.size = art.config_json.size();
  m.annotations[std::string(annotation::lock_layer)] = lock_digest;
  art.manifest_json = serialize_manifest(m);
  return art;
}

}  // namespace mb::oci
