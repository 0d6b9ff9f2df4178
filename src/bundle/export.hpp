// `modelbake export`: writes the models a lock names, from the cache, as a bundle:
// a directory, a tar (optionally zstd), or an OCI image layout. The output appears under its
// final name only when it is complete and every byte in it has been checked.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

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
  Sync sync = Sync::yes;  // Sync::no: skip flushing the output to disk (--no-sync)
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

Result<ExportResult> export_bundle(const Lockfile& lock, const Store& store,
                                   const ExportOptions& opts);

}  // namespace mb::bundle
