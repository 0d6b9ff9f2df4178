// OCI distribution client for one registry: blobs (HEAD, mount, monolithic or chunked
// upload, resumable verified download) and manifests, with the registry auth flow:
// anonymous first; on 401 a Basic challenge gets the user's credentials, a Bearer challenge
// gets a token from the realm (per scope, cached). Credentials and tokens only ever go to
// the registry's own authority (and to the token realm): a redirect to storage on another
// host is followed without Authorization (net::authorization_for enforces it).
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/env.hpp"
#include "core/error.hpp"
#include "net/retry.hpp"
#include "net/transport.hpp"
#include "oci/auth.hpp"

namespace mb::oci {

struct ClientOptions {
  bool plain_http = false;  // http:// instead of https://
  bool insecure = false;    // https without certificate verification
  net::RetryPolicy retry;
  // Blobs at least this big are uploaded in PATCH chunks of chunk_size; smaller ones with one PUT.
  uint64_t chunk_threshold = 256ull << 20;
  uint64_t chunk_size = 64ull << 20;
};

// Where the bytes of a blob to upload come from: memory, or an open file (not owned).
struct BlobSource {
  const std::string* data = nullptr;
  int fd = -1;
  uint64_t size = 0;
};

struct FetchedManifest {
  std::string bytes;
  std::string media_type;  // Content-Type of the response
  std::string digest;      // "sha256:" + sha256(bytes)
};

// Counters for reports and tests (re-push = HEADs only).
struct ClientStats {
  uint64_t heads = 0, gets = 0, posts = 0, puts = 0, patches = 0;
  uint64_t blobs_uploaded = 0, blobs_mounted = 0, bytes_uploaded = 0, bytes_downloaded = 0;
};

class RegistryClient {
 public:
  RegistryClient(net::Transport& transport, Clock& clock, std::string registry,
                 std::optional<Credentials> credentials, ClientOptions options);

  const std::string& registry() const { return m_registry; }
  std::string base_url() const;

  // Size of the blob if the repository has it, nullopt if not (404).
  Result<std::optional<uint64_t>> blob_size(const std::string& repo, const std::string& digest);
  // Cross-repository mount; false when the registry started a normal upload instead (the
  // session is cancelled) or refused.
  Result<bool> mount_blob(const std::string& repo, const std::string& digest,
                          const std::string& from_repo);
  // Uploads a blob whose digest and size the caller knows (monolithic PUT, or PATCH chunks
  // at/above chunk_threshold), retrying transient failures from a fresh session.
  Status upload_blob(const std::string& repo, const std::string& digest, const BlobSource& source);
  // Downloads a blob into `dest` (created/truncated), verifying size and digest while it
  // streams; a dropped connection resumes with Range. On failure `dest` is removed.
  Status download_blob(const std::string& repo, const std::string& digest, uint64_t size,
                       const std::string& dest);
  // The same into the open, empty file `fd` (made through the cache door); `name` is for
  // messages. The caller closes and, on failure, removes it.
  Status download_blob_fd(const std::string& repo, const std::string& digest, uint64_t size, int fd,
                          const std::string& name);
  // A small blob (config, lock) into memory, verified.
  Result<std::string> fetch_small_blob(const std::string& repo, const std::string& digest,
                                       uint64_t size);

  // PUT; returns the digest of `bytes` after checking the registry agrees.
  Result<std::string> put_manifest(const std::string& repo, const std::string& ref,
                                   const std::string& media_type, const std::string& bytes);
  Result<FetchedManifest> get_manifest(const std::string& repo, const std::string& ref);
  // HEAD of a manifest: its digest (Docker-Content-Digest), nullopt when absent.
  Result<std::optional<std::string>> manifest_digest(const std::string& repo,
                                                     const std::string& ref);

  ClientStats stats() const;

 private:
  struct Auth {
    std::string scheme;  // "Basic"/"Bearer"; empty = anonymous
    std::string token;
  };
  // One exchange with auth handling (401 -> challenge -> retry once) and redirects for
  // GET/HEAD. `scopes` are the token scopes the request needs.
  Result<net::Response> send(net::Request request, const std::vector<std::string>& scopes,
                             net::BodySink* sink = nullptr);
  Result<net::Response> send_once(net::Request& request, const std::vector<std::string>& scopes,
                                  net::BodySink* sink);
  Status authenticate(const net::Response& unauthorized, const std::vector<std::string>& scopes);
  Result<std::string> fetch_token(const Challenge& challenge,
                                  const std::vector<std::string>& scopes);
  void apply_auth(net::Request& request, const std::vector<std::string>& scopes);
  Result<std::string> start_upload(const std::string& repo, const std::string& query,
                                   const std::vector<std::string>& scopes, bool* mounted);
  Status upload_once(const std::string& repo, const std::string& digest, const BlobSource& source);
  Result<std::string> upload_chunks(std::string location, const BlobSource& source,
                                    const std::vector<std::string>& scopes);
  void count(net::Method m);

  net::Transport& m_transport;
  Clock& m_clock;
  std::string m_registry;
  std::optional<Credentials> m_credentials;
  ClientOptions m_options;
  std::string m_authority;  // host:port of the registry
  std::string m_scope;      // scheme://host:port: what credentials are sent to

  mutable std::mutex m_mutex;  // guards the fields below
  bool m_use_basic = false;
  std::map<std::string, std::string> m_tokens;  // scope list -> bearer token
  ClientStats m_stats;
};

// The error for an unexpected registry response: the OCI error code and message from the
// body when present, category from the status (401/403 auth, 5xx/429 transient, else permanent).
Error registry_error(const net::Response& response, const std::string& what);

}  // namespace mb::oci
