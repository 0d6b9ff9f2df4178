// Builds a real OCI container image from a lock and the cache: an image config
// (application/vnd.oci.image.config.v1+json, os linux, rootfs.diff_ids), one uncompressed tar
// layer per locked model plus a small layer holding modelbake.lock, and the image manifest.
// `COPY --from=<image> /models /models` works with it, and changing one model leaves the
// other models' layer digests unchanged.
//
// Used by `export --format oci` (an image layout on disk) and by `push --artifact image`
// (blobs go to a registry). Where the bytes go is the caller's choice: a BlobSink.
//
// Layers are deterministic tars (see bundle/tar_writer.hpp). Each layer is hashed while it is
// written (one pass). Layer digests are remembered in the cache (.locks/modelbake/layers/) keyed by
// the model's files, layout, prefix and epoch: a warm build knows every layer's digest before
// writing it, so a sink that already holds the blob skips it, and a regenerated layer is
// checked against the remembered digest instead of re-hashing each file.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "lock/lockfile.hpp"
#include "store/store.hpp"

namespace mb::bundle {

inline constexpr const char* k_media_oci_manifest = "application/vnd.oci.image.manifest.v1+json";
inline constexpr const char* k_media_oci_index = "application/vnd.oci.image.index.v1+json";
inline constexpr const char* k_media_oci_config = "application/vnd.oci.image.config.v1+json";
inline constexpr const char* k_media_oci_layer_tar = "application/vnd.oci.image.layer.v1.tar";
inline constexpr const char* k_media_oci_layer_gzip = "application/vnd.oci.image.layer.v1.tar+gzip";

// How models are arranged below the prefix.
enum class Layout {
  hub,   // models--org--name/{blobs,refs,snapshots} with relative symlinks (HF_HUB_CACHE)
  flat,  // <lock name>/<file path>, real files (from_pretrained("/models/<name>"))
};
const char* to_string(Layout l);

struct Descriptor {
  std::string media_type;
  std::string digest;  // "sha256:<64 hex>"
  uint64_t size = 0;
};

struct ImageOptions {
  Layout layout = Layout::hub;
  // Directory inside the image's root filesystem, relative, no leading or trailing '/'.
  std::string prefix = "models";
  // mtime of every tar entry (SOURCE_DATE_EPOCH, default 0).
  int64_t epoch = 0;
  // Image platform; empty = the host's GOARCH name (amd64, arm64, ...).
  std::string architecture;
  // Remember layer digests under the cache's .locks/modelbake/layers/ and reuse them.
  bool use_layer_cache = true;
};

struct ImageLayer {
  std::string model_name;  // empty for the lock layer
  Descriptor blob;         // uncompressed: digest == diff_id
  bool written = false;    // false when the sink already held the blob
};

// One platform's image of a multi-platform image built on a base index (export --base).
struct PlatformImage {
  std::string platform;  // "linux/amd64", "linux/arm64/v8"
  Descriptor config;
  std::string config_json;
  Descriptor manifest;
  std::string manifest_json;
  std::vector<Descriptor> base_layers;
};

struct OciImage {
  std::vector<ImageLayer> layers;  // models sorted by name, then the lock layer
  Descriptor config;
  std::string config_json;  // exact bytes of the config blob
  // The manifest, or with `platforms` the image index the tag names.
  Descriptor manifest;
  std::string manifest_json;  // exact bytes of that blob
  // --base: the base image's layers, below `layers` (a single-platform base).
  std::vector<Descriptor> base_layers;
  // --base with a multi-platform base: one image per platform, all sharing `layers`.
  std::vector<PlatformImage> platforms;
};

// Receives a blob being produced. Closing without commit() discards it.
class BlobWriter {
 public:
  virtual ~BlobWriter() = default;
  virtual Status write(const void* data, size_t len) = 0;
  // `digest` ("sha256:...") and `size` were computed by the producer while writing.
  virtual Status commit(const std::string& digest, uint64_t size) = 0;
};

// Destination of image blobs: a directory (DirBlobSink), a registry upload, ...
class BlobSink {
 public:
  virtual ~BlobSink() = default;
  // Whether the destination already has this blob (then it is not produced again).
  virtual bool has_blob(const Descriptor& d) = 0;
  virtual Result<std::unique_ptr<BlobWriter>> begin_blob() = 0;
};

// Writes blobs to <dir>/blobs/sha256/<hex> atomically (temp file + rename).
class DirBlobSink final : public BlobSink {
 public:
  explicit DirBlobSink(std::string layout_dir, Sync sync = Sync::yes)
      : m_dir(std::move(layout_dir)), m_sync(sync) {}
  bool has_blob(const Descriptor& d) override;
  Result<std::unique_ptr<BlobWriter>> begin_blob() override;
  std::string blob_path(const std::string& digest) const;

 private:
  std::string m_dir;
  Sync m_sync;
};

// The model layers alone (one per model, then the lock layer), as build_image makes them.
Result<std::vector<ImageLayer>> build_model_layers(const Lockfile& lock, const Store& store,
                                                   const ImageOptions& opts, BlobSink& sink);

// What a model layer holds, as its io.modelbake.model annotation says: the model's name, or
// "modelbake.lock" for the lock layer.
std::string layer_role(const ImageLayer& l);

// "1970-01-01T00:00:00Z" for SOURCE_DATE_EPOCH values.
std::string rfc3339(int64_t epoch);

// Stores `bytes` as a blob (unless the sink has it) and returns its descriptor.
Result<Descriptor> put_blob_bytes(BlobSink& sink, const std::string& media_type,
                                  const std::string& bytes);

// Builds the image for every model in `lock`, reading content from `store`. Every locked
// file must be present in the store with its locked size; content is hashed while streaming
// and any mismatch fails with ErrorCategory::integrity (the sink's partial blob is dropped).
Result<OciImage> build_image(const Lockfile& lock, const Store& store, const ImageOptions& opts,
                             BlobSink& sink);

// Writes oci-layout, index.json (ref.name = tag, io.containerd.image.name) and a docker-load
// manifest.json into `layout_dir`, whose blobs the sink has written. `tag` is "name:tag".
Status write_oci_layout_files(const std::string& layout_dir, const OciImage& image,
                              const std::string& tag);

// oci-layout and an index.json whose one entry is `manifest`, named by `tag` ("name:tag"),
// with `artifactType` when not empty.
Status write_layout_index(const std::string& layout_dir, const Descriptor& manifest,
                          const std::string& tag, const std::string& artifact_type);

// "name:tag" -> checks the tag is a valid docker reference (lower-case name, tag charset).
Status validate_image_tag(const std::string& tag);

// Host architecture in OCI/GOARCH spelling.
std::string host_architecture();

}  // namespace mb::bundle
