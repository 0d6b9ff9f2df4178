#include <fcntl.h>

#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>

#include "bundle/admission.hpp"
#include "bundle/import.hpp"
#include "bundle/reader.hpp"
#include "core/file.hpp"
#include "core/hash.hpp"
#include "core/log.hpp"
#include "oci/manifest.hpp"
#include "oci/transfer.hpp"

namespace mb::oci {

namespace {

bool is_lock_layer(const Descriptor& l) {
  auto role = l.annotations.find(std::string(annotation::lock_layer));
  auto path = l.annotations.find(std::string(annotation::filepath));
  return (role != l.annotations.end() && role->second == "true") ||
         (path != l.annotations.end() && path->second == "modelbake.lock");
}

bool is_model_layer(const Descriptor& l) { return l.annotations.count("io.modelbake.model") > 0; }

// An image built on a base (export/push --base) marks its own layers; the base's are not
// needed to read the models back.
bool wanted_layer(const Manifest& m, const Descriptor& l) {
  bool marked = false;
  for (const auto& x : m.layers) marked = marked || is_model_layer(x);
  return !marked || is_model_layer(l);
}

bool is_raw_artifact(const Manifest& m) { return !raw_artifact_kind(m).empty(); }

// A registry repository as the source of an artifact's blobs.
class RegistryBlobs final : public ArtifactBlobs {
 public:
  RegistryBlobs(RegistryClient& client, const Reference& ref) : m_client(client), m_ref(ref) {}
  std::string describe() const override { return m_ref.str(); }
  Result<std::string> small(const Descriptor& d) override {
    return m_client.fetch_small_blob(m_ref.repository, d.digest, d.size);
  }
  Status download(const Descriptor& d, int fd, const std::string& name) override {
    return m_client.download_blob_fd(m_ref.repository, d.digest, d.size, fd, name);
  }

 private:
  RegistryClient& m_client;
  const Reference& m_ref;
};

Result<Lockfile> fetch_bundled_lock(ArtifactBlobs& blobs, const Manifest& m) {
  const Descriptor* lock_layer = nullptr;
  for (const auto& l : m.layers)
    if (is_lock_layer(l)) lock_layer = &l;
  if (!lock_layer) {
    return fail(
        ErrorCategory::usage,
        blobs.describe() +
            " is a ModelPack or Docker Model Runner artifact without a modelbake.lock layer",
        "pull artifacts pushed by 'modelbake push --artifact modelpack'");
  }
  if (lock_layer->size > bundle::LockFinder::k_lock_limit) {
    return fail(ErrorCategory::integrity,
                "the lock layer of " + blobs.describe() + " is larger than a lock may be");
  }
  MB_ASSIGN(auto text, blobs.small(*lock_layer));
  auto lock = parse_lock(text, "the lock bundled in " + blobs.describe());
  if (!lock.ok()) {
    Error e = lock.take_error();
    e.category = ErrorCategory::integrity;
    return e;
  }
  return std::move(lock).value();
}

// Downloads every distinct content of `wanted` that the store lacks into the object store
// (verified by the client against its digest = the locked sha256).
Status download_objects(ArtifactBlobs& blobs, const Store& store,
                        const std::map<std::string, uint64_t>& wanted, const PullOptions& opts,
                        TransferSummary& summary) {
  std::mutex mutex;
  std::vector<std::function<Status()>> tasks;
  for (const auto& [hex, size] : wanted) {
    if (store.has_object(hex)) {
      ++summary.blobs_present;
      continue;
    }
    tasks.emplace_back([&, hex = hex, size = size]() -> Status {
      MB_ASSIGN(auto content_lock, store.lock_content(hex));
      if (store.has_object(hex)) return {};  // another process got it meanwhile
      std::string temp = store.new_temp_path(hex);
      const CacheDoor& door = store.layout().door();
      MB_ASSIGN(UniqueFd fd, door.open_file(temp, O_RDWR | O_CREAT | O_EXCL));
      Status s = blobs.download(Descriptor{"", "sha256:" + hex, size, {}}, fd.get(), temp);
      if (s.ok()) s = fd.close_checked(temp);
      if (s.ok()) s = store.adopt_object(temp, hex);
      if (!s.ok()) {
        (void)door.unlink(temp);
        return s;
      }
      std::lock_guard<std::mutex> g(mutex);
      ++summary.blobs_transferred;
      summary.bytes_transferred += size;
      return {};
    });
  }
  return run_parallel(std::move(tasks), opts.parallel);
}

Status publish_lock(const Lockfile& lock, const Store& store, int64_t now) {
  for (const auto& m : lock.models) {
    for (const auto& f : m.files) MB_TRY(store.publish_file(m, f));
    MB_TRY(store.write_ref(m));
    MB_TRY(store.record_snapshot_use(m, now, true));
  }
  return {};
}

}  // namespace

Status receive_raw_artifact(ArtifactBlobs& blobs, const Manifest& m, const Store& store,
                            const PullOptions& opts, TransferSummary& summary) {
  MB_ASSIGN(summary.lock, fetch_bundled_lock(blobs, m));
  const Lockfile& lock = summary.lock;
  std::set<std::pair<std::string, std::string>> covered;
  std::map<std::string, uint64_t> wanted;
  for (const auto& layer : m.layers) {
    if (is_lock_layer(layer)) continue;
    LayerTarget t = find_modelpack_target(lock, layer);
    if (!t.file) {
      auto fp = layer.annotations.find(std::string(annotation::filepath));
      return fail(ErrorCategory::integrity,
                  "layer " + layer.digest + " (" +
                      (fp == layer.annotations.end() ? "no file path" : fp->second) + ") of " +
                      blobs.describe() + " is not a file of its bundled lock");
    }
    covered.insert({t.model->name, t.file->path});
    wanted[t.file->sha256] = t.file->size;
  }
  for (const auto& model : lock.models)
    for (const auto& f : model.files)
      if (!covered.count({model.name, f.path})) {
        return fail(ErrorCategory::integrity, blobs.describe() + " lacks " + model.name + "/" +
                                                  f.path + " named by its lock");
      }
  summary.blobs = wanted.size();
  MB_TRY(download_objects(blobs, store, wanted, opts, summary));
  return publish_lock(lock, store, opts.unix_now);
}

namespace {

// A blob into pull's temp folder in the cache: the file is made through the cache door
// (O_EXCL, no link followed on the way) and removed through it when the download fails.
Status download_into(RegistryClient& client, const Reference& ref, const CacheDoor& door,
                     const Descriptor& d, const std::string& dest) {
  MB_ASSIGN(UniqueFd fd, door.open_file(dest, O_RDWR | O_CREAT | O_EXCL));
  Status st = client.download_blob_fd(ref.repository, d.digest, d.size, fd.get(), dest);
  if (st.ok()) st = fd.close_checked(dest);
  if (!st.ok()) (void)door.unlink(dest);
  return st;
}

// A hostile registry must not make us download more than the image's own lock explains. Our
// images carry the lock in a small layer annotated io.modelbake.model=modelbake.lock: that
// one is fetched first (bounded), and the other layers' declared sizes must fit the lock.
// Images without such a layer (built by other tools) are bounded only by the import.
Status check_layer_sizes(RegistryClient& client, const Reference& ref, const Manifest& m,
                         const CacheDoor& door, const std::string& blobs,
                         std::set<std::string>& fetched, TransferSummary& summary) {
  const Descriptor* lock_layer = nullptr;
  for (const auto& l : m.layers) {
    auto it = l.annotations.find("io.modelbake.model");
    if (it != l.annotations.end() && it->second == "modelbake.lock") lock_layer = &l;
  }
  if (!lock_layer) return {};
  if (lock_layer->size > bundle::LockFinder::k_lock_limit + (1 << 20)) {
    return fail(ErrorCategory::integrity, "the lock layer of " + ref.str() + " declares " +
                                              std::to_string(lock_layer->size) +
                                              " bytes, more than a lock may be");
  }
  std::string path = blobs + "/" + digest_hex(lock_layer->digest);
  MB_TRY(download_into(client, ref, door, *lock_layer, path));
  fetched.insert(lock_layer->digest);
  ++summary.blobs_transferred;
  summary.bytes_transferred += lock_layer->size;
  MB_ASSIGN(auto lock, bundle::lock_in_tar(path, &door));
  if (!lock)
    return fail(ErrorCategory::integrity,
                "the lock layer of " + ref.str() + " holds no modelbake.lock");
  uint64_t declared = m.config.size;
  std::set<std::string> distinct;
  for (const auto& l : m.layers) {
    if (wanted_layer(m, l) && distinct.insert(l.digest).second) declared += l.size;
  }
  uint64_t limit =
      bundle::max_image_layer_bytes(*lock) + lock_layer->size + (4 << 20);  // + the config
  if (declared > limit) {
    return fail(ErrorCategory::integrity,
                ref.str() + " declares " + std::to_string(declared) +
                    " bytes of layers, more than its lock's files can take (" +
                    std::to_string(limit) + ")",
                "the registry serves something else than a modelbake image; nothing was downloaded "
                "but the lock");
  }
  return {};
}

// An image: its blobs become a private OCI layout in the cache's tmp dir, which then goes
// through the same verified import as `modelbake import`.
Status pull_image(RegistryClient& client, const Reference& ref, const Manifest& m,
                  const std::string& manifest_bytes, const Store& store, const PullOptions& opts,
                  TransferSummary& summary) {
  MB_ASSIGN(DoorTempTree dir,
            DoorTempTree::create(store.layout().door(),
                                 temp_path_for(store.layout().tmp_dir() + "/pull")));
  const CacheDoor& door = store.layout().door();
  std::string blobs = dir.path() + "/blobs/sha256";
  MB_TRY(door.make_dirs(blobs));
  std::vector<std::function<Status()>> tasks;
  std::set<std::string> seen;
  MB_TRY(check_layer_sizes(client, ref, m, door, blobs, seen, summary));
  std::mutex mutex;
  std::vector<const Descriptor*> all{&m.config};
  for (const auto& l : m.layers)
    if (wanted_layer(m, l)) all.push_back(&l);
  for (const Descriptor* d : all) {
    if (!seen.insert(d->digest).second) continue;
    tasks.emplace_back([&, d]() -> Status {
      MB_TRY(download_into(client, ref, door, *d, blobs + "/" + digest_hex(d->digest)));
      std::lock_guard<std::mutex> g(mutex);
      ++summary.blobs_transferred;
      summary.bytes_transferred += d->size;
      return {};
    });
  }
  summary.blobs = seen.size();
  MB_TRY(run_parallel(std::move(tasks), opts.parallel));
  std::string digest = "sha256:" + sha256_hex(manifest_bytes);
  MB_TRY(door.write_file_atomic(blobs + "/" + digest_hex(digest), manifest_bytes));
  MB_TRY(door.write_file_atomic(dir.path() + "/oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}"));
  nlohmann::ordered_json index;
  index["schemaVersion"] = 2;
  index["mediaType"] = std::string(media::oci_index);
  index["manifests"] =
      nlohmann::ordered_json::array({{{"mediaType", std::string(media::oci_manifest)},
                                      {"digest", digest},
                                      {"size", manifest_bytes.size()}}});
  MB_TRY(door.write_file_atomic(dir.path() + "/index.json", index.dump()));
  bundle::ImportOptions io;
  io.unix_now = opts.unix_now;
  auto imported = bundle::import_bundle(dir.path(), store, io);
  if (!imported.ok()) return imported.take_error().with_context("importing " + ref.str());
  summary.lock = imported->lock;
  return {};
}

// An image index (an image built on a multi-platform base: every platform's image shares the
// model layers) -> the digest of the host platform's image, else of the first image.
std::optional<std::string> platform_image(const std::string& bytes) {
  auto j = nlohmann::json::parse(bytes, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("manifests") || !j["manifests"].is_array())
    return std::nullopt;
  std::optional<std::string> first;
  for (const auto& e : j["manifests"]) {
    if (!e.is_object() || e.value("mediaType", "") != media::oci_manifest ||
        !e.contains("digest") || !e["digest"].is_string())
      continue;
    std::string arch, os;
    if (e.contains("platform") && e["platform"].is_object()) {
      arch = e["platform"].value("architecture", "");
      os = e["platform"].value("os", "");
    }
    if (os == "unknown") continue;
    if (arch == bundle::host_architecture()) return e["digest"].get<std::string>();
    if (!first) first = e["digest"].get<std::string>();
  }
  return first;
}

// The manifest the reference names; for an index, its platform image's (the digest reported
// stays the index's: that is what the tag names).
Result<std::pair<Manifest, FetchedManifest>> fetch_manifest(RegistryClient& client,
                                                            const Reference& ref) {
  MB_ASSIGN(auto fetched, client.get_manifest(ref.repository, ref.manifest_ref()));
  if (auto image = platform_image(fetched.bytes); image && is_valid_digest(*image)) {
    MB_ASSIGN(auto child, client.get_manifest(ref.repository, *image));
    child.digest = fetched.digest;
    fetched = std::move(child);
  }
  MB_ASSIGN(auto manifest, parse_manifest(fetched.bytes));
  return std::make_pair(std::move(manifest), std::move(fetched));
}

}  // namespace

Result<TransferSummary> pull_bundle(RegistryClient& client, const Reference& ref,
                                    const Store& store, const PullOptions& opts) {
  MB_TRY(store.init());
  MB_ASSIGN(auto cache_lock, store.lock_cache(LockMode::shared));
  MB_ASSIGN(auto got, fetch_manifest(client, ref));
  auto& [manifest, fetched] = got;
  TransferSummary summary;
  summary.digest = fetched.digest;
  if (is_raw_artifact(manifest)) {
    summary.artifact = raw_artifact_kind(manifest);
    RegistryBlobs blobs(client, ref);
    MB_TRY(receive_raw_artifact(blobs, manifest, store, opts, summary));
  } else if (manifest.config.media_type == media::oci_config ||
             manifest.config.media_type == "application/vnd.docker.container.image.v1+json") {
    summary.artifact = "image";
    MB_TRY(pull_image(client, ref, manifest, fetched.bytes, store, opts, summary));
  } else {
    return fail(ErrorCategory::usage,
                ref.str() + " is neither a modelbake image nor a ModelPack artifact (config " +
                    manifest.config.media_type + ")");
  }
  summary.requests = client.stats();
  return summary;
}

Result<uint64_t> prefill_from_registry(RegistryClient& client, const Reference& ref,
                                       const Lockfile& lock, const Store& store,
                                       const PullOptions& opts) {
  MB_TRY(store.init());
  MB_ASSIGN(auto cache_lock, store.lock_cache(LockMode::shared));
  MB_ASSIGN(auto got, fetch_manifest(client, ref));
  auto& [manifest, fetched] = got;
  TransferSummary summary;
  if (is_raw_artifact(manifest)) {
    // Layers are raw files: take exactly the contents our lock wants, by digest.
    std::map<std::string, uint64_t> offered;
    for (const auto& l : manifest.layers) offered[digest_hex(l.digest)] = l.size;
    std::map<std::string, uint64_t> wanted;
    for (const auto& m : lock.models)
      for (const auto& f : m.files)
        if (auto it = offered.find(f.sha256); it != offered.end() && it->second == f.size)
          wanted[f.sha256] = f.size;
    RegistryBlobs blobs(client, ref);
    MB_TRY(download_objects(blobs, store, wanted, opts, summary));
  } else {
    // An image's layers are tars of whole models: import it (verified against its own lock).
    MB_TRY(pull_image(client, ref, manifest, fetched.bytes, store, opts, summary));
  }
  uint64_t provided = 0;
  for (const auto& m : lock.models) {
    bool complete = true;
    for (const auto& f : m.files) {
      if (!store.has_object(f.sha256)) {
        complete = false;
        continue;
      }
      MB_TRY(store.publish_file(m, f));
      ++provided;
    }
    if (complete) {
      MB_TRY(store.write_ref(m));
      MB_TRY(store.record_snapshot_use(m, opts.unix_now, true));
    }
  }
  return provided;
}

bool registry_failure_falls_back(ErrorCategory category) {
  switch (category) {
    case ErrorCategory::transient:
    case ErrorCategory::permanent:
    case ErrorCategory::auth: return true;
    default: return false;
  }
}

Result<PrefillOutcome> prefill_or_fall_back(RegistryClient& client, const Reference& ref,
                                            const Lockfile& lock, const Store& store,
                                            const PullOptions& opts) {
  auto provided = prefill_from_registry(client, ref, lock, store, opts);
  PrefillOutcome out;
  if (provided.ok()) {
    out.files = *provided;
  } else if (registry_failure_falls_back(provided.error().category)) {
    out.fell_back = provided.take_error();
  } else {
    return provided.take_error();
  }
  return out;
}

}  // namespace mb::oci
