// push and pull of bundles (issue 5) on top of RegistryClient.
//  * push --artifact image: the exact image `export --format oci` writes (bundle::build_image),
//    its blobs streamed to the registry; --artifact modelpack: a CNCF ModelPack artifact whose
//    layers are the cache's objects themselves (digest = locked sha256, nothing re-hashed).
//  * pull: blobs are verified while streaming; a ModelPack artifact's files are checked
//    against its bundled lock and adopted into the store, an image goes through
//    bundle::import_bundle (same checks as `import`). Nothing becomes visible before all of it
//    is verified.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "bundle/base_image.hpp"
#include "bundle/oci_image.hpp"
#include "core/error.hpp"
#include "lock/lockfile.hpp"
#include "oci/client.hpp"
#include "oci/manifest.hpp"
#include "oci/reference.hpp"
#include "store/store.hpp"

namespace mb::oci {

enum class Artifact { image, modelpack, docker_model };

struct PushOptions {
  Artifact artifact = Artifact::image;
  bundle::ImageOptions image;
  int parallel = 4;                    // concurrent blob uploads
  bundle::BaseSource* base = nullptr;  // image only (--base): stack the models on this image
};

struct TransferSummary {
  std::string digest;          // manifest digest
  std::string artifact;        // "image" or "modelpack"
  uint64_t blobs = 0;          // distinct blobs referenced
  uint64_t blobs_present = 0;  // already in the registry (HEAD) or the cache (pull)
  uint64_t blobs_transferred = 0;
  uint64_t blobs_mounted = 0;
  uint64_t bytes_transferred = 0;
  ClientStats requests;
  Lockfile lock;  // pull: the bundled lock
};

Result<TransferSummary> push_bundle(RegistryClient& client, const Reference& ref,
                                    const Lockfile& lock, const Store& store,
                                    const PushOptions& opts);

struct PullOptions {
  int parallel = 4;
  int64_t unix_now = 0;
};

// Where the blobs of an artifact whose layers are files (ModelPack, Docker Model Runner) come
// from: a registry repository or an OCI layout on disk. Both check what they hand over
// against the descriptor.
class ArtifactBlobs {
 public:
  virtual ~ArtifactBlobs() = default;
  virtual std::string describe() const = 0;
  virtual Result<std::string> small(const Descriptor& d) = 0;
  // Into `fd`: an empty file the caller made in the cache's tmp/ through the cache door (so
  // never through a planted link); `name` is for messages. The caller removes it on failure.
  virtual Status download(const Descriptor& d, int fd, const std::string& name) = 0;
};

// Reads the artifact's bundled lock, requires every layer to be a file of it (path and
// digest) and every locked file to have a layer, puts what the store lacks into the object
// store (verified) and only then publishes the models.
Status receive_raw_artifact(ArtifactBlobs& blobs, const Manifest& m, const Store& store,
                            const PullOptions& opts, TransferSummary& summary);

Result<TransferSummary> pull_bundle(RegistryClient& client, const Reference& ref,
                                    const Store& store, const PullOptions& opts);

// fetch --from: puts into the store whatever content of `lock` the registry artifact has
// (matched by sha256) and publishes those files; returns how many files it provided. Files
// the artifact lacks are left for the hub.
Result<uint64_t> prefill_from_registry(RegistryClient& client, const Reference& ref,
                                       const Lockfile& lock, const Store& store,
                                       const PullOptions& opts);

// fetch --from asks the registry first. Which failures leave everything to the hub (which has
// all the content): an unreachable, refusing or unauthorised registry (transient, permanent,
// auth). Corrupt content (integrity), a wrong reference (usage), local disk trouble (io) and
// cancellation stop the run: the hub would not fix them.
bool registry_failure_falls_back(ErrorCategory category);

struct PrefillOutcome {
  uint64_t files = 0;              // files the registry provided
  std::optional<Error> fell_back;  // the registry's failure, when the hub takes over everything
};

// prefill_from_registry with that rule applied: an error only when the run must stop.
Result<PrefillOutcome> prefill_or_fall_back(RegistryClient& client, const Reference& ref,
                                            const Lockfile& lock, const Store& store,
                                            const PullOptions& opts);

// Runs up to `parallel` tasks at a time (core::parallel_for, run_all: every blob is tried);
// returns the first failure in task order. An interruption (cancelled) stops the rest.
Status run_parallel(std::vector<std::function<Status()>> tasks, int parallel);

}  // namespace mb::oci
