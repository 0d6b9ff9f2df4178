// The base image of `export --base` / `push --base` when it lives in a registry: manifests and
// configs are read into memory (verified), layers are downloaded (verified, resumable) into
// the cache's tmp dir and handed to the sink, unless the sink already has them.
#pragma once

#include <memory>

#include "bundle/base_image.hpp"
#include "oci/client.hpp"
#include "oci/reference.hpp"
#include "store/store.hpp"

namespace mb::oci {

// `client` and `store` must outlive the returned source.
std::unique_ptr<bundle::BaseSource> registry_base(RegistryClient& client, Reference ref,
                                                  const Store& store);

}  // namespace mb::oci
