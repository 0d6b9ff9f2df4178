// `export --base` / `push --base`: the model layers stacked on another image, so the result
// runs (KServe's modelcar needs a shell in it) or mounts (ImageVolume) with the models under
// /models. The base's layers, config, env, entrypoint and platform are kept; the model layers
// and their diff_ids (and history entries, when the base has history) are appended. A
// multi-platform base (an image index) gives an index with one image per platform, all
// sharing the same model layers. Same base + same lock => same bytes.
//
// Where the base comes from is a BaseSource: an OCI image layout on disk (here) or a registry
// (oci/base_source.hpp).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "bundle/oci_image.hpp"
#include "core/error.hpp"
#include "lock/lockfile.hpp"
#include "store/store.hpp"

namespace mb::bundle {

class BaseSource {
 public:
  virtual ~BaseSource() = default;
  // "oci:/path:tag" or "registry/repo:tag", for messages.
  virtual std::string describe() const = 0;
  // The bytes of the manifest or index the reference names.
  virtual Result<std::string> root() = 0;
  // A manifest or config blob, checked against its descriptor.
  virtual Result<std::string> small_blob(const Descriptor& d) = 0;
  // Puts a layer blob into `sink` unless the sink has it, checked against its descriptor.
  virtual Status copy_blob(const Descriptor& d, BlobSink& sink) = 0;
};

// Whether a --base value names an OCI layout ("oci:DIR[:TAG]") rather than a registry.
bool is_layout_base(std::string_view spec);

// "oci:DIR[:TAG]": TAG is the org.opencontainers.image.ref.name in the layout's index.json;
// without it the layout must hold exactly one manifest or index.
Result<std::unique_ptr<BaseSource>> open_layout_base(std::string_view spec);

// Streams the file at `path` into `sink` as the blob `d` (size and sha256 checked; a
// mismatch is an integrity error naming `what` and leaves nothing in the sink).
Status copy_file_to_sink(const std::string& path, const Descriptor& d, BlobSink& sink,
                         const std::string& what);
// The same from an open file (from its current offset); `name` is for messages.
Status copy_fd_to_sink(int fd, const std::string& name, const Descriptor& d, BlobSink& sink,
                       const std::string& what);

// The image of `lock` on `base`. The manifest (or index) is the last blob put into `sink`.
Result<OciImage> build_image_on_base(const Lockfile& lock, const Store& store,
                                     const ImageOptions& opts, BaseSource& base, BlobSink& sink);

}  // namespace mb::bundle
