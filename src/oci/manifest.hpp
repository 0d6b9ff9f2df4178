// OCI manifests as modelbake writes and reads them, media types, and the CNCF ModelPack
// artifact built from a lock (one raw layer per file: the layer digest is the file's
// sha256 from the lock, so nothing is re-hashed or re-packed to push).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "lock/lockfile.hpp"

namespace mb::oci {

namespace media {
inline constexpr std::string_view oci_manifest = "application/vnd.oci.image.manifest.v1+json";
inline constexpr std::string_view oci_index = "application/vnd.oci.image.index.v1+json";
inline constexpr std::string_view docker_manifest =
    "application/vnd.docker.distribution.manifest.v2+json";
inline constexpr std::string_view docker_manifest_list =
    "application/vnd.docker.distribution.manifest.list.v2+json";
inline constexpr std::string_view oci_config = "application/vnd.oci.image.config.v1+json";
inline constexpr std::string_view oci_layer_tar = "application/vnd.oci.image.layer.v1.tar";
inline constexpr std::string_view model_artifact = "application/vnd.cncf.model.manifest.v1+json";
inline constexpr std::string_view model_config = "application/vnd.cncf.model.config.v1+json";
inline constexpr std::string_view model_weight = "application/vnd.cncf.model.weight.v1.raw";
inline constexpr std::string_view model_weight_config =
    "application/vnd.cncf.model.weight.config.v1.raw";
inline constexpr std::string_view model_doc = "application/vnd.cncf.model.doc.v1.raw";
inline constexpr std::string_view model_code = "application/vnd.cncf.model.code.v1.raw";
// Docker Model Runner (docker/model-runner pkg/distribution/types/config.go)
inline constexpr std::string_view dmr_config_v01 =
    "application/vnd.docker.ai.model.config.v0.1+json";
inline constexpr std::string_view dmr_config = "application/vnd.docker.ai.model.config.v0.2+json";
inline constexpr std::string_view dmr_gguf = "application/vnd.docker.ai.gguf.v3";
inline constexpr std::string_view dmr_safetensors = "application/vnd.docker.ai.safetensors";
inline constexpr std::string_view dmr_license = "application/vnd.docker.ai.license";
inline constexpr std::string_view dmr_file = "application/vnd.docker.ai.model.file";
}  // namespace media

// The Accept header of every manifest GET: without the OCI types distribution answers 404.
std::string manifest_accept_header();

namespace annotation {
inline constexpr std::string_view filepath = "org.cncf.model.filepath";
inline constexpr std::string_view file_metadata = "org.cncf.model.file.metadata+json";
inline constexpr std::string_view untested = "org.cncf.model.file.mediatype.untested";
// CRI-O names an artifact layer's mounted file by this first (then filepath).
inline constexpr std::string_view title = "org.opencontainers.image.title";
// modelbake's own: which layer is the lock; on the manifest, the lock layer's digest.
inline constexpr std::string_view lock_layer = "io.modelbake.lock";
}  // namespace annotation

struct Descriptor {
  std::string media_type;
  std::string digest;  // "sha256:<hex>"
  uint64_t size = 0;
  std::map<std::string, std::string> annotations;
};

struct Manifest {
  std::string media_type{media::oci_manifest};
  std::string artifact_type;  // empty = absent
  Descriptor config;
  std::vector<Descriptor> layers;
  std::map<std::string, std::string> annotations;
};

// Compact JSON with a fixed key order: the same manifest always has the same digest.
std::string serialize_manifest(const Manifest& m);
// Accepts OCI and Docker schema2 image manifests; validates digests and sizes. An index or
// a manifest list is a usage error (modelbake pushes single manifests). Errors: permanent.
Result<Manifest> parse_manifest(std::string_view text);

// The ModelPack layer media type for a file (weights, configs/tokenizers, docs, code).
std::string_view modelpack_media_type(std::string_view path);

// An artifact whose layers are the locked files themselves (ModelPack, Docker Model Runner).
struct RawArtifact {
  Manifest manifest;
  std::string config_json;    // bytes of the config blob (manifest.config)
  std::string lock_json;      // bytes of the lock layer (serialize_lock)
  std::string manifest_json;  // serialize_manifest(manifest)
};

// Builds the artifact for `lock`: one layer per distinct (model, file) with filepath
// "<model name>/<file path>" (so a ModelPack extractor yields the flat layout), then the lock
// as a layer "modelbake.lock". Fixed metadata, no timestamps: same lock => same digest.
RawArtifact build_modelpack(const Lockfile& lock);
using ModelpackArtifact = RawArtifact;

// The Docker Model Runner artifact of a one-model lock (config v0.2, one layer per file with
// its repo path as filepath; GGUF and safetensors weights get DMR's media types). Usage error
// for a lock of several models or without GGUF/safetensors weights.
Result<RawArtifact> build_docker_model(const Lockfile& lock);

// Whether a manifest is one of these artifacts, and which ("modelpack", "docker-model").
std::string raw_artifact_kind(const Manifest& m);

// Where an artifact layer's file goes: (model, file) in the lock, by filepath annotation
// ("<model>/<path>", or "<path>" in a one-model lock) and digest. Returns nullptr for layers
// that are not one of the lock's files.
struct LayerTarget {
  const LockedModel* model = nullptr;
  const LockedFile* file = nullptr;
};
LayerTarget find_modelpack_target(const Lockfile& lock, const Descriptor& layer);

}  // namespace mb::oci
