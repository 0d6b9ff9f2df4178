#include "oci/manifest.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "core/hash.hpp"
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

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string weight_format(const Lockfile& lock) {
  for (const auto& m : lock.models)
    for (const auto& f : m.files) {
      std::string p = lower(f.path);
      if (has_suffix(p, ".safetensors")) return "safetensors";
      if (has_suffix(p, ".gguf")) return "gguf";
      if (has_suffix(p, ".onnx")) return "onnx";
      if (has_suffix(p, ".bin") || has_suffix(p, ".pt") || has_suffix(p, ".pth")) return "pt";
    }
  return "";
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
  std::string p = lower(path);
  std::string_view base = p;
  if (size_t slash = base.rfind('/'); slash != std::string_view::npos)
    base = base.substr(slash + 1);
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

ModelpackArtifact build_modelpack(const Lockfile& lock) {
  ModelpackArtifact art;
  art.lock_json = serialize_lock(lock);
  Manifest& m = art.manifest;
  m.artifact_type = std::string(media::model_artifact);
  ojson diff_ids = ojson::array();
  for (const auto& model : lock.models) {
    for (const auto& f : model.files) {
      Descriptor d;
      d.media_type = std::string(modelpack_media_type(f.path));
      d.digest = "sha256:" + f.sha256;
      d.size = f.size;
      std::string filepath = model.name + "/" + f.path;
      d.annotations[std::string(annotation::filepath)] = filepath;
      ojson meta;
      meta["name"] = filepath;
      meta["mode"] = 0644;
      meta["uid"] = 0;
      meta["gid"] = 0;
      meta["size"] = f.size;
      meta["mtime"] = "1970-01-01T00:00:00Z";
      meta["typeflag"] = 48;  // '0': regular file
      d.annotations[std::string(annotation::file_metadata)] = meta.dump();
      d.annotations[std::string(annotation::untested)] = "false";
      diff_ids.push_back(d.digest);
      m.layers.push_back(std::move(d));
    }
  }
  Descriptor lock_layer;
  lock_layer.media_type = std::string(media::model_doc);
  lock_layer.digest = "sha256:" + sha256_hex(art.lock_json);
  lock_layer.size = art.lock_json.size();
  lock_layer.annotations[std::string(annotation::filepath)] = "modelbake.lock";
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
  size_t slash = fp.find('/');
  if (slash == std::string::npos) return {};
  const LockedModel* model = lock.find_model(fp.substr(0, slash));
  if (!model) return {};
  const LockedFile* file = model->find_file(fp.substr(slash + 1));
  if (!file || layer.digest != "sha256:" + file->sha256 || layer.size != file->size) return {};
  return {model, file};
}

}  // namespace mb::oci
