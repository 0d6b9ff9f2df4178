// `modelbake export`: writes the models a lock names, from the cache, as a bundle:
// a directory, a tar (optionally zstd), or an OCI image layout. The output appears under its
// final name only when it is complete and every byte in it has been checked.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "bundle/base_image.hpp"
#include "bundle/oci_image.hpp"
#include "core/error.hpp"
#include "lock/lockfile.hpp"
#include "store/store.hpp"

namespace mb::bundle {

enum class Format { dir, tar, tar_zst, oci };
const char* to_string(Format f);
std::optional<Format> parse_format(std::string_view s);
std::optional<Layout> parse_layout(std::string_view s);

struct ExportOptions {
  std::string output;
  Format format = Format::dir;
  Layout layout = Layout::hub;
  std::string prefix;                 // normalised; "" = bundle root (not allowed for oci)
  int64_t epoch = 0;                  // SOURCE_DATE_EPOCH
  std::string tag = "models:latest";  // oci only
  bool force = false;                 // replace an existing output
  bool use_layer_cache = true;
  Sync sync = Sync::yes;       // Sync::no: skip flushing the output to disk (--no-sync)
  BaseSource* base = nullptr;  // oci only (--base): stack the model layers on this image
};

struct ExportResult {
  uint64_t files = 0;             // locked files written
  uint64_t bytes = 0;             // locked bytes
  uint64_t entries = 0;           // entries in the bundle (dir/tar)
  std::optional<OciImage> image;  // oci only
};

// Every locked file must be in the store with its locked size (checked before anything is
// written; ErrorCategory::integrity, hint: fetch --locked).
Status check_store_has_lock(const Lockfile& lock, const Store& store);

// An OCI layout of an artifact built outside this module (ModelPack, Docker Model Runner):
// `fill` puts every blob into the sink and returns the manifest the tag names. Published
// like every export: complete and checked, or not at all.
using LayoutFiller = std::function<Result<Descriptor>(BlobSink& sink)>;
struct LayoutExport {
  std::string output;
  std::string tag = "models:latest";
  std::string artifact_type;  // for the index.json entry
  bool force = false;
  Sync sync = Sync::yes;
};
Status export_layout(const LayoutExport& opts, const LayoutFiller& fill);

Result<ExportResult> export_bundle(const Lockfile& lock, const Store& store,
                                   const ExportOptions& opts);

}  // namespace mb::bundle
