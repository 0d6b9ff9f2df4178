#include "oci/artifact_layout.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <set>

#include "bundle/base_image.hpp"
#include "core/file.hpp"
#include "core/hash.hpp"

namespace mb::oci {

namespace {

constexpr uint64_t k_small_limit = 64ull << 20;

Failure refuse(const std::string& what) {
  return fail(ErrorCategory::integrity, what,
              "the layout is damaged or was not made by 'modelbake export'");
}

// The blobs of an OCI layout directory, each checked against its descriptor when read.
class LayoutBlobs final : public ArtifactBlobs {
 public:
  explicit LayoutBlobs(std::string dir) : m_dir(std::move(dir)) {}
  std::string describe() const override { return m_dir; }

  Result<std::string> small(const Descriptor& d) override {
    if (!is_valid_digest(d.digest) || d.size > k_small_limit)
      return refuse("unsupported blob descriptor " + d.digest.substr(0, 80));
    MB_ASSIGN(std::string text, read_file(path(d), k_small_limit));
    if (text.size() != d.size || "sha256:" + sha256_hex(text) != d.digest)
      return refuse("blob " + d.digest + " does not match its digest");
    return text;
  }

  Status download(const Descriptor& d, int fd, const std::string& name) override {
    if (!is_valid_digest(d.digest)) return refuse("unsupported blob digest");
    std::string src = path(d);
    UniqueFd in(::open(src.c_str(), O_RDONLY | O_CLOEXEC));
    if (!in.valid()) return errno_error("opening " + src, errno);
    MB_TRY(copy_fd(in.get(), fd, src, name));
    if (::lseek(fd, 0, SEEK_SET) != 0) return errno_error("rewinding " + name, errno);
    MB_ASSIGN(FileDigests got, hash_fd(fd, name));
    if (got.size != d.size || "sha256:" + got.sha256 != d.digest)
      return refuse("blob " + d.digest + " does not match its digest");
    return {};
  }

 private:
  std::string path(const Descriptor& d) const {
    return m_dir + "/blobs/sha256/" + digest_hex(d.digest);
  }
  std::string m_dir;
};

// The manifest the layout's one index.json entry names, if it is a raw-file artifact.
Result<std::optional<Manifest>> artifact_manifest(const std::string& dir) {
  MB_ASSIGN(std::string text, read_file(dir + "/index.json", 4u << 20));
  auto index = nlohmann::json::parse(text, nullptr, false);
  if (index.is_discarded() || !index.is_object() || !index.contains("manifests") ||
      !index["manifests"].is_array() || index["manifests"].size() != 1) {
    return std::optional<Manifest>();
  }
  const auto& e = index["manifests"][0];
  if (!e.is_object() || e.value("mediaType", "") != media::oci_manifest || !e.contains("digest") ||
      !e["digest"].is_string() || !e.contains("size") || !e["size"].is_number_unsigned()) {
    return std::optional<Manifest>();
  }
  LayoutBlobs blobs(dir);
  MB_ASSIGN(std::string bytes, blobs.small(Descriptor{e["mediaType"].get<std::string>(),
                                                      e["digest"].get<std::string>(),
                                                      e["size"].get<uint64_t>(),
                                                      {}}));
  auto parsed = parse_manifest(bytes);
  if (!parsed.ok() || raw_artifact_kind(*parsed).empty()) return std::optional<Manifest>();
  return std::optional<Manifest>(std::move(*parsed));
}

}  // namespace

Result<RawArtifact> export_artifact(const Lockfile& lock, const Store& store, Artifact kind,
                                    bundle::LayoutExport layout) {
  MB_TRY(bundle::check_store_has_lock(lock, store));
  RawArtifact art;
  if (kind == Artifact::docker_model) {
    MB_ASSIGN(art, build_docker_model(lock));
  } else {
    art = build_modelpack(lock);
  }
  layout.artifact_type = art.manifest.artifact_type;
  auto fill = [&](bundle::BlobSink& sink) -> Result<bundle::Descriptor> {
    std::set<std::string> done;
    for (const auto& m : lock.models)
      for (const auto& f : m.files) {
        if (!done.insert(f.sha256).second) continue;
        bundle::Descriptor d{"", "sha256:" + f.sha256, f.size};
        MB_TRY(bundle::copy_file_to_sink(store.layout().object_path(f.sha256), d, sink,
                                         "cached file " + m.name + ":" + f.path));
      }
    const Descriptor& lock_layer = art.manifest.layers.back();
    MB_TRY(bundle::put_blob_bytes(sink, lock_layer.media_type, art.lock_json));
    MB_TRY(bundle::put_blob_bytes(sink, art.manifest.config.media_type, art.config_json));
    return bundle::put_blob_bytes(sink, std::string(media::oci_manifest), art.manifest_json);
  };
  MB_TRY(bundle::export_layout(layout, fill));
  return art;
}

bool is_artifact_layout(const std::string& dir) {
  struct stat st {};
  if (::stat((dir + "/oci-layout").c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return false;
  auto m = artifact_manifest(dir);
  return m.ok() && m->has_value();
}

Result<TransferSummary> import_artifact_layout(const std::string& dir, const Store& store,
                                               const PullOptions& opts) {
  MB_ASSIGN(auto manifest, artifact_manifest(dir));
  if (!manifest) return refuse(dir + " holds no ModelPack or Docker Model Runner artifact");
  MB_TRY(store.init());
  MB_ASSIGN(auto cache_lock, store.lock_cache(LockMode::shared));
  TransferSummary summary;
  summary.artifact = raw_artifact_kind(*manifest);
  LayoutBlobs blobs(dir);
  MB_TRY(receive_raw_artifact(blobs, *manifest, store, opts, summary));
  return summary;
}

}  // namespace mb::oci
