#include "bundle/oci_image.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>
#include <nlohmann/json.hpp>

#include "bundle/layer_cache.hpp"
#include "bundle/plan.hpp"
#include "bundle/tar_writer.hpp"
#include "core/async_hasher.hpp"
#include "core/file.hpp"
#include "core/hash.hpp"
#include "core/log.hpp"

using nlohmann::ordered_json;

namespace mb::bundle {

namespace {

// Temp file next to the blobs; renamed to blobs/sha256/<hex> once its digest is known.
class DirBlobWriter final : public BlobWriter {
 public:
  DirBlobWriter(std::string blobs_dir, std::string temp, UniqueFd fd, Sync sync)
      : m_blobs(std::move(blobs_dir)),
        m_temp(std::move(temp)),
        m_fd(std::move(fd)),
        m_sync(sync),
        m_writeback(m_fd.get(), sync) {}
  ~DirBlobWriter() override {
    if (!m_committed) ::unlink(m_temp.c_str());
  }
  Status write(const void* data, size_t len) override {
    MB_TRY(write_all(m_fd.get(), data, len, m_temp));
    m_writeback.wrote(len);
    return {};
  }
  Status commit(const std::string& digest, uint64_t size) override {
    if (digest.rfind("sha256:", 0) != 0 || !is_lower_hex(digest.substr(7), 64)) {
      return fail(ErrorCategory::integrity, "bad blob digest " + digest);
    }
    MB_ASSIGN(uint64_t actual, file_size(m_fd.get(), m_temp));
    if (actual != size) return fail(ErrorCategory::io, "blob " + digest + " is incomplete on disk");
    if (m_sync == Sync::yes) MB_TRY(fsync_fd(m_fd.get(), m_temp));
    MB_TRY(m_fd.close_checked(m_temp));
    std::string dest = m_blobs + "/" + digest.substr(7);
    ::chmod(m_temp.c_str(), 0644);
    if (::rename(m_temp.c_str(), dest.c_str()) != 0)
      return errno_error("publishing blob " + dest, errno);
    m_committed = true;
    return {};
  }

 private:
  std::string m_blobs;
  std::string m_temp;
  UniqueFd m_fd;
  Sync m_sync;
  WritebackPacer m_writeback;
  bool m_committed = false;
};

// Forwards the layer bytes to the blob writer and hashes them on the way: one pass, with the
// sha256 on its own thread.
class HashingSink final : public ByteSink {
 public:
  explicit HashingSink(BlobWriter& w) : m_writer(w) {}
  Status write(const void* data, size_t len) override {
    m_hasher.update(data, len);
    m_size += len;
    return m_writer.write(data, len);
  }
  std::string digest() { return "sha256:" + m_hasher.finish_hex(); }
  uint64_t size() const { return m_size; }

 private:
  BlobWriter& m_writer;
  AsyncHasher m_hasher{HashAlgo::sha256};
  uint64_t m_size = 0;
};

// One uncompressed layer. With a remembered digest the content is not hashed file by file:
// the layer digest itself is compared with the one computed (and content-checked) earlier.
Result<ImageLayer> put_layer(BlobSink& sink, const std::vector<Entry>& entries, int64_t epoch,
                             const std::optional<Descriptor>& known, const std::string& what) {
  ImageLayer layer;
  if (known && sink.has_blob(*known)) {
    layer.blob = *known;
    return layer;
  }
  MB_ASSIGN(auto writer, sink.begin_blob());
  HashingSink out(*writer);
  MB_ASSIGN(auto tar, TarWriter::open(out, Compression::none, epoch));
  CheckContent check = known ? CheckContent::no : CheckContent::yes;
  for (const auto& e : entries) MB_TRY(tar->add(e, check));
  MB_TRY(tar->close());
  layer.blob = Descriptor{k_media_oci_layer_tar, out.digest(), out.size()};
  if (known && (known->digest != layer.blob.digest || known->size != layer.blob.size)) {
    return fail(
        ErrorCategory::integrity,
        "the layer of " + what + " does not match the one built from the same lock earlier (" +
            known->digest + ", now " + layer.blob.digest + ")",
        "the cache changed underneath: run 'modelbake verify' and 'modelbake fetch --locked'");
  }
  MB_TRY(writer->commit(layer.blob.digest, layer.blob.size));
  layer.written = true;
  return layer;
}

ordered_json descriptor_json(const Descriptor& d) {
  return ordered_json{{"mediaType", d.media_type}, {"digest", d.digest}, {"size", d.size}};
}

}  // namespace

std::string rfc3339(int64_t epoch) {
  std::time_t t = static_cast<std::time_t>(epoch);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string layer_role(const ImageLayer& l) {
  return l.model_name.empty() ? std::string(k_lock_name) : l.model_name;
}

Result<Descriptor> put_blob_bytes(BlobSink& sink, const std::string& media_type,
                                  const std::string& bytes) {
  Descriptor d{media_type, "sha256:" + sha256_hex(bytes), bytes.size()};
  if (sink.has_blob(d)) return d;
  MB_ASSIGN(auto writer, sink.begin_blob());
  MB_TRY(writer->write(bytes.data(), bytes.size()));
  MB_TRY(writer->commit(d.digest, d.size));
  return d;
}

std::string host_architecture() {
#if defined(__x86_64__)
  return "amd64";
#elif defined(__aarch64__)
  return "arm64";
#elif defined(__powerpc64__)
  return "ppc64le";
#elif defined(__s390x__)
  return "s390x";
#elif defined(__riscv)
  return "riscv64";
#else
  return "amd64";
#endif
}

bool DirBlobSink::has_blob(const Descriptor& d) {
  struct stat st {};
  return ::stat(blob_path(d.digest).c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
         static_cast<uint64_t>(st.st_size) == d.size;
}

std::string DirBlobSink::blob_path(const std::string& digest) const {
  return m_dir + "/blobs/sha256/" + (digest.rfind("sha256:", 0) == 0 ? digest.substr(7) : digest);
}

Result<std::unique_ptr<BlobWriter>> DirBlobSink::begin_blob() {
  std::string blobs = m_dir + "/blobs/sha256";
  MB_TRY(make_dirs(blobs));
  std::string temp = temp_path_for(m_dir + "/.blob");
  int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return errno_error("creating " + temp, errno);
  return std::unique_ptr<BlobWriter>(new DirBlobWriter(blobs, temp, UniqueFd(fd), m_sync));
}

Result<std::vector<ImageLayer>> build_model_layers(const Lockfile& lock, const Store& store,
                                                   const ImageOptions& opts, BlobSink& sink) {
  MB_ASSIGN(std::string prefix, normalize_prefix(opts.prefix));
  if (prefix.empty()) {
    return fail(ErrorCategory::usage, "an image needs a --prefix folder such as /models",
                "the image root filesystem cannot be the model folder itself");
  }
  const CacheLayout& cache = store.layout();
  LayerCache layer_cache(cache, opts.use_layer_cache);
  std::vector<ImageLayer> layers;
  for (const auto& m : lock.models) {
    MB_ASSIGN(auto entries, finalize_entries(model_entries(m, cache, opts.layout, prefix), true));
    std::string key = LayerCache::key(m, opts.layout, prefix, opts.epoch);
    auto known = layer_cache.lookup(key);
    MB_ASSIGN(ImageLayer layer,
              put_layer(sink, entries, opts.epoch, known, "model '" + m.name + "'"));
    layer.model_name = m.name;
    if (!known) layer_cache.remember(key, layer.blob);
    layers.push_back(std::move(layer));
  }
  MB_ASSIGN(auto lock_entries, finalize_entries({lock_entry(lock, prefix)}, false));
  MB_ASSIGN(ImageLayer lock_layer,
            put_layer(sink, lock_entries, opts.epoch, std::nullopt, "the lock"));
  layers.push_back(std::move(lock_layer));
  return layers;
}

Result<OciImage> build_image(const Lockfile& lock, const Store& store, const ImageOptions& opts,
                             BlobSink& sink) {
  MB_ASSIGN(std::string prefix, normalize_prefix(opts.prefix));
  OciImage image;
  MB_ASSIGN(image.layers, build_model_layers(lock, store, opts, sink));

  ordered_json diff_ids = ordered_json::array();
  ordered_json history = ordered_json::array();
  for (const auto& l : image.layers) {
    diff_ids.push_back(l.blob.digest);
    history.push_back({{"created", rfc3339(opts.epoch)},
                       {"created_by", l.model_name.empty() ? "modelbake: " + layer_role(l)
                                                           : "modelbake: model " + l.model_name},
                       {"comment", "modelbake export"}});
  }
  ordered_json cfg;
  cfg["created"] = rfc3339(opts.epoch);
  cfg["architecture"] = opts.architecture.empty() ? host_architecture() : opts.architecture;
  cfg["os"] = "linux";
  ordered_json env = ordered_json::array({"HF_HUB_OFFLINE=1"});
  if (opts.layout == Layout::hub) env.push_back("HF_HUB_CACHE=/" + prefix);
  cfg["config"] = {
      {"Env", env},
      {"Labels",
       {{"io.modelbake.layout", to_string(opts.layout)}, {"io.modelbake.prefix", "/" + prefix}}}};
  cfg["rootfs"] = {{"type", "layers"}, {"diff_ids", diff_ids}};
  cfg["history"] = history;
  image.config_json = cfg.dump();
  MB_ASSIGN(image.config, put_blob_bytes(sink, k_media_oci_config, image.config_json));

  ordered_json man;
  man["schemaVersion"] = 2;
  man["mediaType"] = k_media_oci_manifest;
  man["config"] = descriptor_json(image.config);
  man["layers"] = ordered_json::array();
  for (const auto& l : image.layers) {
    ordered_json d = descriptor_json(l.blob);
    d["annotations"] = {{"io.modelbake.model", layer_role(l)}};
    man["layers"].push_back(std::move(d));
  }
  image.manifest_json = man.dump();
  MB_ASSIGN(image.manifest, put_blob_bytes(sink, k_media_oci_manifest, image.manifest_json));
  return image;
}

}  // namespace mb::bundle
