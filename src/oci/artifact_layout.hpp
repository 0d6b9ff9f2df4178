// ModelPack and Docker Model Runner artifacts as OCI image layouts on disk:
// `export --format modelpack|docker-model` writes exactly the artifact that
// `push --artifact modelpack|docker-model` sends (same manifest digest), and `import` reads
// such a layout back with the checks of `pull`: every layer a file of the bundled lock
// (path and digest), every locked file present, content verified before it is adopted.
#pragma once

#include <string>

#include "bundle/export.hpp"
#include "core/error.hpp"
#include "lock/lockfile.hpp"
#include "oci/manifest.hpp"
#include "oci/transfer.hpp"
#include "store/store.hpp"

namespace mb::oci {

// Every locked file is copied from the cache into blobs/sha256/ (its sha256 checked while it
// streams), then the lock, config and manifest blobs and index.json (with artifactType).
Result<RawArtifact> export_artifact(const Lockfile& lock, const Store& store, Artifact kind,
                                    bundle::LayoutExport layout);

// Whether `dir` is an OCI layout whose one entry is a ModelPack or Docker Model Runner
// artifact (then import_artifact_layout reads it; anything else is bundle::import_bundle's).
bool is_artifact_layout(const std::string& dir);

Result<TransferSummary> import_artifact_layout(const std::string& dir, const Store& store,
                                               const PullOptions& opts);

}  // namespace mb::oci
