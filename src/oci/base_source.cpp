#include "oci/base_source.hpp"

#include <fcntl.h>
#include <unistd.h>

#include "core/file.hpp"
#include "store/cache_door.hpp"

namespace mb::oci {

namespace {

class RegistryBase final : public bundle::BaseSource {
 public:
  RegistryBase(RegistryClient& client, Reference ref, const Store& store)
      : m_client(client), m_ref(std::move(ref)), m_store(store) {}

  std::string describe() const override { return m_ref.str(); }

  Result<std::string> root() override {
    MB_ASSIGN(auto fetched, m_client.get_manifest(m_ref.repository, m_ref.manifest_ref()));
    return std::move(fetched.bytes);
  }

  Result<std::string> small_blob(const bundle::Descriptor& d) override {
    if (d.media_type.find("manifest") != std::string::npos) {
      // Manifests of an index live at /manifests/<digest>, not /blobs/.
      MB_ASSIGN(auto fetched, m_client.get_manifest(m_ref.repository, d.digest));
      if (fetched.digest != d.digest || fetched.bytes.size() != d.size) {
        return fail(ErrorCategory::integrity, "base " + m_ref.str() + ": manifest " + d.digest +
                                                  " does not match its digest");
      }
      return std::move(fetched.bytes);
    }
    return m_client.fetch_small_blob(m_ref.repository, d.digest, d.size);
  }

  Status copy_blob(const bundle::Descriptor& d, bundle::BlobSink& sink) override {
    if (sink.has_blob(d)) return {};
    // Made (and removed) through the cache door, as pull's temp folder.
    MB_ASSIGN(DoorTempTree dir,
              DoorTempTree::create(m_store.layout().door(),
                                   temp_path_for(m_store.layout().tmp_dir() + "/base")));
    std::string temp = dir.path() + "/blob";
    // The blob's file too: made and read back through the door, never through a link.
    MB_ASSIGN(UniqueFd fd, m_store.layout().door().open_file(temp, O_RDWR | O_CREAT | O_EXCL));
    MB_TRY(m_client.download_blob_fd(m_ref.repository, d.digest, d.size, fd.get(), temp));
    if (::lseek(fd.get(), 0, SEEK_SET) != 0) return errno_error("rewinding " + temp, errno);
    return bundle::copy_fd_to_sink(fd.get(), temp, d, sink,
                                   "base " + m_ref.str() + " blob " + d.digest);
  }

 private:
  RegistryClient& m_client;
  Reference m_ref;
  const Store& m_store;
};

}  // namespace

std::unique_ptr<bundle::BaseSource> registry_base(RegistryClient& client, Reference ref,
                                                  const Store& store) {
  return std::make_unique<RegistryBase>(client, std::move(ref), store);
}

}  // namespace mb::oci
