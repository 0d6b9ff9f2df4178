#include <fcntl.h>
#include <unistd.h>

#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "core/file.hpp"
#include "core/hash.hpp"
#include "core/log.hpp"
#include "core/parallel.hpp"
#include "oci/manifest.hpp"
#include "oci/transfer.hpp"

namespace mb::oci {

Status run_parallel(std::vector<std::function<Status()>> tasks, int parallel) {
  ParallelOptions options{static_cast<unsigned>(std::max(1, parallel)), StopPolicy::run_all};
  return first_failure(parallel_for(tasks.size(), options, [&](size_t i) { return tasks[i](); }));
}

namespace {

// Which repository of a registry last received a blob, so a push to another repository can
// mount it instead of uploading (.locks/modelbake/registry-mounts.json in the cache).
class MountCache {
 public:
  MountCache(const Store& store, std::string registry)
      : m_store(store), m_registry(std::move(registry)) {
    auto text = m_store.layout().door().read_file(path(), 16u << 20);
    if (text.ok()) {
      auto doc = nlohmann::json::parse(*text, nullptr, false);
      if (!doc.is_discarded() && doc.is_object()) m_doc = doc;
    }
  }
  std::string source_for(const std::string& digest, const std::string& repo) const {
    auto reg = m_doc.find(m_registry);
    if (reg == m_doc.end() || !reg->is_object()) return {};
    auto it = reg->find(digest);
    if (it == reg->end() || !it->is_string() || *it == repo ||
        !is_valid_repository(it->get<std::string>()))
      return {};
    return it->get<std::string>();
  }
  void record(const std::string& digest, const std::string& repo) {
    std::lock_guard<std::mutex> g(m_mutex);
    m_doc[m_registry][digest] = repo;
  }
  Status save() {
    const CacheDoor& door = m_store.layout().door();
    MB_ASSIGN(auto lock,
              door.lock(m_store.layout().lock_path("registry-mounts"), LockMode::exclusive));
    // Merge with what other processes wrote meanwhile.
    nlohmann::json merged = nlohmann::json::object();
    if (auto text = door.read_file(path(), 16u << 20); text.ok()) {
      auto doc = nlohmann::json::parse(*text, nullptr, false);
      if (!doc.is_discarded() && doc.is_object()) merged = doc;
    }
    merged[m_registry].update(m_doc[m_registry]);
    return door.write_file_atomic(path(), merged.dump());
  }

 private:
  std::string path() const { return m_store.layout().private_dir() + "/registry-mounts.json"; }
  const Store& m_store;
  std::string m_registry;
  std::mutex m_mutex;
  nlohmann::json m_doc = nlohmann::json::object();
};

class Pusher {
 public:
  Pusher(RegistryClient& client, const Reference& ref, const Store& store, TransferSummary& summary)
      : m_client(client), m_ref(ref), m_mounts(store, client.registry()), m_summary(summary) {}

  // HEAD, then mount from the repository that last got it, else true = must upload. The
  // answer is remembered: a blob is checked once per push even when asked again (the image
  // builder asks before producing a layer, the uploader after).
  Result<bool> needs_upload(const std::string& digest) {
    {
      std::lock_guard<std::mutex> g(m_mutex);
      auto it = m_state.find(digest);
      if (it != m_state.end()) return it->second == State::absent;
      m_state[digest] = State::checking;
      ++m_summary.blobs;
    }
    auto decide = [&]() -> Result<State> {
      MB_ASSIGN(auto size, m_client.blob_size(m_ref.repository, digest));
      if (size) return State::present;
      if (std::string from = m_mounts.source_for(digest, m_ref.repository); !from.empty()) {
        MB_ASSIGN(bool mounted, m_client.mount_blob(m_ref.repository, digest, from));
        if (mounted) {
          log::debug("mounted " + digest + " from " + from);
          return State::mounted;
        }
      }
      return State::absent;
    };
    auto state = decide();
    std::lock_guard<std::mutex> g(m_mutex);
    if (!state.ok()) {
      m_state.erase(digest);
      --m_summary.blobs;
      return state.take_error();
    }
    m_state[digest] = *state;
    if (*state == State::present) ++m_summary.blobs_present;
    if (*state == State::mounted) ++m_summary.blobs_mounted;
    if (*state != State::absent) m_mounts.record(digest, m_ref.repository);
    return *state == State::absent;
  }

  Status upload(const std::string& digest, const BlobSource& source) {
    MB_TRY(m_client.upload_blob(m_ref.repository, digest, source));
    std::lock_guard<std::mutex> g(m_mutex);
    m_state[digest] = State::present;
    ++m_summary.blobs_transferred;
    m_summary.bytes_transferred += source.size;
    m_mounts.record(digest, m_ref.repository);
    return {};
  }

  Status ensure(const std::string& digest, const BlobSource& source) {
    MB_ASSIGN(bool needed, needs_upload(digest));
    if (!needed) return {};
    return upload(digest, source);
  }

  Status put_child(const std::string& manifest) {
    std::string digest = "sha256:" + sha256_hex(manifest);
    MB_ASSIGN(auto current, m_client.manifest_digest(m_ref.repository, digest));
    if (current) return {};
    MB_ASSIGN(auto put, m_client.put_manifest(m_ref.repository, digest,
                                              std::string(media::oci_manifest), manifest));
    (void)put;
    return {};
  }

  Status finish(const std::string& media_type, const std::string& manifest) {
    std::string digest = "sha256:" + sha256_hex(manifest);
    // An unchanged bundle: the tag already names this exact manifest, nothing to write.
    MB_ASSIGN(auto current, m_client.manifest_digest(m_ref.repository, m_ref.manifest_ref()));
    if (current && *current == digest) {
      m_summary.digest = digest;
    } else {
      MB_ASSIGN(m_summary.digest, m_client.put_manifest(m_ref.repository, m_ref.manifest_ref(),
                                                        media_type, manifest));
    }
    if (Status s = m_mounts.save(); !s.ok())
      log::warn("could not remember pushed blobs for mounts: " + s.error().message);
    m_summary.requests = m_client.stats();
    return {};
  }

 private:
  RegistryClient& m_client;
  const Reference& m_ref;
  MountCache m_mounts;
  TransferSummary& m_summary;
  enum class State { checking, absent, present, mounted };
  std::mutex m_mutex;
  std::map<std::string, State> m_state;
};

// A blob produced by bundle::build_image: kept in memory while small, spilled to a temp file
// in the cache's tmp dir beyond that, then uploaded (in the background for big ones).
class SpoolWriter final : public bundle::BlobWriter {
 public:
  using Done = std::function<Status(SpoolWriter&)>;
  SpoolWriter(const Store& store, Done done) : m_store(store), m_done(std::move(done)) {}
  ~SpoolWriter() override {
    if (!m_temp.empty() && !m_keep) (void)m_store.layout().door().unlink(m_temp);
  }
  Status write(const void* data, size_t len) override {
    if (!m_fd.valid() && m_memory.size() + len <= k_memory_limit) {
      m_memory.append(static_cast<const char*>(data), len);
      return {};
    }
    if (!m_fd.valid()) {
      // In the cache's tmp/, so made through its door (never through a planted link).
      m_temp = m_store.new_temp_path("push");
      MB_ASSIGN(m_fd, m_store.layout().door().open_file(m_temp, O_RDWR | O_CREAT | O_EXCL, 0600));
      MB_TRY(write_all(m_fd.get(), m_memory.data(), m_memory.size(), m_temp));
      m_memory.clear();
      m_memory.shrink_to_fit();
    }
    return write_all(m_fd.get(), data, len, m_temp);
  }
  Status commit(const std::string& digest, uint64_t size) override {
    digest_ = digest;
    size_ = size;
    return m_done(*this);
  }
  // Hands the spooled data over to whoever uploads it later.
  struct Spooled {
    std::string digest;
    uint64_t size = 0;
    std::string memory;
    std::string temp;
    std::shared_ptr<UniqueFd> fd;
  };
  Spooled take() {
    m_keep = true;
    return Spooled{digest_, size_, std::move(m_memory), m_temp,
                   std::make_shared<UniqueFd>(std::move(m_fd))};
  }

 private:
  static constexpr size_t k_memory_limit = 8u << 20;
  const Store& m_store;
  Done m_done;
  std::string m_memory;
  std::string m_temp;
  UniqueFd m_fd;
  bool m_keep = false;
  std::string digest_;
  uint64_t size_ = 0;
};

class RegistryBlobSink final : public bundle::BlobSink {
 public:
  RegistryBlobSink(Pusher& pusher, const Store& store) : m_pusher(pusher), m_store(store) {}
  ~RegistryBlobSink() override { wait(); }

  bool has_blob(const bundle::Descriptor& d) override {
    auto needed = m_pusher.needs_upload(d.digest);
    if (!needed.ok()) {
      remember(needed.take_error());
      return true;  // stop producing; the error is reported after build_image
    }
    return !*needed;
  }
  Result<std::unique_ptr<bundle::BlobWriter>> begin_blob() override {
    if (auto e = error()) return *e;
    return std::unique_ptr<bundle::BlobWriter>(
        new SpoolWriter(m_store, [this](SpoolWriter& w) { return committed(w); }));
  }
  // Blobs small enough to stay in memory (config, manifest, the lock layer), uploaded by
  // push_bundle.
  std::vector<SpoolWriter::Spooled>& small() { return m_small; }
  std::optional<Error> error() {
    std::lock_guard<std::mutex> g(m_mutex);
    return m_error;
  }
  void wait() {
    for (auto& t : m_threads) t.join();
    m_threads.clear();
  }

 private:
  void remember(Error e) {
    std::lock_guard<std::mutex> g(m_mutex);
    if (!m_error) m_error = std::move(e);
  }
  Status committed(SpoolWriter& w) {
    auto blob = w.take();
    if (blob.temp.empty()) {
      m_small.push_back(std::move(blob));
      return {};
    }
    // Upload big layers while the next one is being built (at most two in flight). Not
    // core::parallel_for: the jobs appear one by one while the image is being produced.
    if (m_threads.size() >= 2) wait();
    if (auto e = error()) return *e;
    m_threads.emplace_back([this, blob = std::move(blob)]() {
      Status s = m_pusher.ensure(blob.digest, BlobSource{nullptr, blob.fd->get(), blob.size});
      (void)m_store.layout().door().unlink(blob.temp);
      if (!s.ok()) remember(s.take_error());
    });
    return {};
  }

  Pusher& m_pusher;
  const Store& m_store;
  std::mutex m_mutex;
  std::optional<Error> m_error;
  std::vector<SpoolWriter::Spooled> m_small;
  std::vector<std::thread> m_threads;
};

Status check_cache_complete(const Lockfile& lock, const Store& store) {
  for (const auto& m : lock.models)
    for (const auto& f : m.files) {
      if (!store.has_object(f.sha256)) {
        // A planted folder or leaf on the way is named, not reported as missing content.
        const CacheDoor& door = store.layout().door();
        std::string object = store.layout().object_path(f.sha256);
        MB_ASSIGN(auto st, door.lstat(object));
        if (st) MB_TRY(door.open_file(object, O_RDONLY));
        return fail(ErrorCategory::usage,
                    "the cache lacks " + m.name + "/" + f.path + " (" + m.repo + ")",
                    "run 'modelbake fetch --locked' before pushing");
      }
    }
  return {};
}

// ModelPack and Docker Model Runner: the layers are the cache's objects themselves.
Status push_raw_artifact(Pusher& pusher, const Lockfile& lock, const RawArtifact& art,
                         const Store& store, const PushOptions& opts) {
  std::vector<std::function<Status()>> tasks;
  std::set<std::string> queued;
  for (const auto& m : lock.models)
    for (const auto& f : m.files) {
      if (!queued.insert(f.sha256).second) continue;
      tasks.emplace_back([&pusher, &store, &f]() -> Status {
        std::string digest = "sha256:" + f.sha256;
        MB_ASSIGN(bool needed, pusher.needs_upload(digest));
        if (!needed) return {};
        MB_ASSIGN(auto fd,
                  store.layout().door().open_file(store.layout().object_path(f.sha256), O_RDONLY));
        MB_ASSIGN(uint64_t size, file_size(fd.get(), f.path));
        if (size != f.size) {
          return fail(ErrorCategory::integrity,
                      "cached object for " + f.path + " has " + std::to_string(size) +
                          " bytes, the lock says " + std::to_string(f.size),
                      "run 'modelbake verify --repair' or 'modelbake fetch --locked'");
        }
        return pusher.upload(digest, BlobSource{nullptr, fd.get(), size});
      });
    }
  MB_TRY(run_parallel(std::move(tasks), opts.parallel));
  for (const auto* blob : {&art.lock_json, &art.config_json}) {
    std::string digest =
        blob == &art.lock_json ? art.manifest.layers.back().digest : art.manifest.config.digest;
    MB_TRY(pusher.ensure(digest, BlobSource{blob, -1, blob->size()}));
  }
  return pusher.finish(std::string(media::oci_manifest), art.manifest_json);
}

Status push_image(Pusher& pusher, const Lockfile& lock, const Store& store,
                  const PushOptions& opts) {
  RegistryBlobSink sink(pusher, store);
  auto image = opts.base ? bundle::build_image_on_base(lock, store, opts.image, *opts.base, sink)
                         : bundle::build_image(lock, store, opts.image, sink);
  sink.wait();
  if (auto e = sink.error()) return *e;
  if (!image.ok()) return image.take_error();
  std::set<std::string> manifests{image->manifest.digest};  // these go to /manifests/
  for (const auto& p : image->platforms) manifests.insert(p.manifest.digest);
  for (auto& blob : sink.small()) {
    if (manifests.count(blob.digest)) continue;
    MB_TRY(pusher.ensure(blob.digest, BlobSource{&blob.memory, -1, blob.size}));
  }
  // An index's images first, by digest: the registry checks that what it names exists.
  for (const auto& p : image->platforms) MB_TRY(pusher.put_child(p.manifest_json));
  return pusher.finish(image->manifest.media_type, image->manifest_json);
}

}  // namespace

Result<TransferSummary> push_bundle(RegistryClient& client, const Reference& ref,
                                    const Lockfile& lock, const Store& store,
                                    const PushOptions& opts) {
  MB_TRY(store.init());
  MB_ASSIGN(auto cache_lock, store.lock_cache(LockMode::shared));
  MB_TRY(check_cache_complete(lock, store));
  TransferSummary summary;
  Pusher pusher(client, ref, store, summary);
  switch (opts.artifact) {
    case Artifact::image:
      summary.artifact = "image";
      MB_TRY(push_image(pusher, lock, store, opts));
      break;
    case Artifact::modelpack:
      summary.artifact = "modelpack";
      MB_TRY(push_raw_artifact(pusher, lock, build_modelpack(lock), store, opts));
      break;
    case Artifact::docker_model: {
      summary.artifact = "docker-model";
      MB_ASSIGN(RawArtifact art, build_docker_model(lock));
      MB_TRY(push_raw_artifact(pusher, lock, art, store, opts));
      break;
    }
  }
  summary.lock = lock;
  return summary;
}

}  // namespace mb::oci
