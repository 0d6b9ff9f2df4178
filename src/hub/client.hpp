// Hugging Face hub protocol client (docs/hub-protocol.md): revision resolution, recursive
// tree listing with Link pagination, /resolve/ metadata (HEAD, manual relative redirects)
// and download requests for resolved locations. Every value from the server is validated
// before it is returned (paths, commits, etags, sizes); errors carry the category and a hint.
// Thread-safe: one HubClient can serve all fetch workers (the Transport must be thread-safe,
// and so must the Clock when used from several threads; SystemClock is).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/env.hpp"
#include "core/error.hpp"
#include "core/repo_type.hpp"
#include "hub/config.hpp"
#include "net/retry.hpp"
#include "net/transport.hpp"

namespace mb::hub {

using mb::RepoType;  // core/repo_type.hpp: one type for the lock, the hub and the cache

// Largest file size we believe (2^50 bytes = 1 PiB); anything above is a hostile server.
inline constexpr uint64_t k_max_file_size = uint64_t{1} << 50;

// One file of a repo at a commit (tree API "type":"file" entries; directories are skipped).
struct FileEntry {
  std::string path;     // validated relative path
  uint64_t size = 0;    // real content size (lfs.size for LFS files)
  std::string git_oid;  // 40-hex git blob sha1 (of the pointer file for LFS files)
  std::optional<std::string> lfs_sha256;  // 64-hex content sha256 for LFS files
  std::optional<uint64_t> lfs_size;
  std::string xet_hash;  // tree `xetHash` (64 hex) of a Xet-backed file, else empty

  bool is_lfs() const { return lfs_sha256.has_value(); }
  // The hub etag / cache blob name: sha256 for LFS files, git sha1 otherwise.
  const std::string& etag() const { return lfs_sha256 ? *lfs_sha256 : git_oid; }
};

// Result of HEAD /resolve/.
struct FileMetadata {
  std::string commit;  // X-Repo-Commit, 40-hex
  std::string etag;    // X-Linked-Etag or ETag, normalised (no W/, no quotes), 40 or 64 hex
  uint64_t size = 0;   // X-Linked-Size, or Content-Length of a 200
  // Where to GET the bytes: the absolute Location of a redirect (CDN, signed) or, for a 200,
  // the /resolve/ URL that answered (after relative redirects).
  std::string location;
  bool redirected = false;  // location came from an absolute redirect
  // A Xet-backed file (docs/hub-protocol.md "Xet"): X-Xet-Hash and the Link relations; all
  // empty otherwise. The URLs are informational: the token is asked for at the endpoint.
  std::string xet_hash;
  std::string xet_auth_url;
  std::string xet_reconstruction_url;
};

// GET /api/{type}s/{repo}/xet-read-token/{rev}: a short-lived token for the CAS.
struct XetToken {
  std::string access_token;  // registered as a secret; sent only to cas_url
  int64_t exp = 0;           // unix seconds
  std::string cas_url;       // no trailing '/'
};

// Who may read a repo, from its revision info ("private", "gated": false | "auto" | "manual").
// On the hub a gated repo's API is public; only its files need an accepted token.
struct RepoAccess {
  std::string commit;  // the revision's 40-hex commit
  bool is_private = false;
  std::string gated;  // "" when not gated, else the hub's mode ("auto", "manual")
  bool restricted() const { return is_private || !gated.empty(); }
};

struct ClientOptions {
  std::string endpoint = k_default_endpoint;  // from resolve_endpoint()
  std::optional<std::string> token;           // from resolve_token(); sent to endpoint host only
  net::RetryPolicy retry;                     // for API calls and HEADs
  // Same-origin redirects followed per request (renamed repos answer API calls and /resolve/
  // with a 307 to the new path); more is a loop.
  int max_redirects = 5;
  std::chrono::milliseconds connect_timeout{15'000};
  // Deadline of each API call and HEAD (a tree page is at most 16 MiB; one dripping slowly
  // must not hang the run). Downloads of a closed byte range get download_base plus the
  // range's size at download_min_rate; open-ended downloads only the low-speed limit.
  std::chrono::milliseconds metadata_timeout{60'000};
  std::chrono::milliseconds download_base{120'000};
  uint64_t download_min_rate = 32 * 1024;  // bytes per second
};

class HubClient {
 public:
  HubClient(net::Transport& transport, Clock& clock, ClientOptions options);

  const std::string& endpoint() const { return m_options.endpoint; }
  const ClientOptions& options() const { return m_options; }
  net::Transport& transport() const { return m_transport; }
  Clock& clock() const { return m_clock; }

  // Branch, tag, "refs/pr/N" or commit -> 40-hex commit via
  // GET /api/{type}s/{repo}/revision/{quote(rev, safe="")}. A lower-case 40-hex `revision`
  // is returned as is without a request (as huggingface_hub does): list_files() on it fails
  // with RevisionNotFound if it does not exist, so nothing is lost and a locked fetch costs
  // one request less per model.
  Result<std::string> resolve_revision(RepoType type, const std::string& repo,
                                       const std::string& revision) const;

  // GET /api/{type}s/{repo}/revision/{rev} (always sent, even for a commit): the commit and
  // the repo's private/gated flags, as this client's token sees them.
  Result<RepoAccess> repo_access(RepoType type, const std::string& repo,
                                 const std::string& revision) const;

  // All files at `commit` (GET /api/{type}s/{repo}/tree/{commit}?recursive=true&expand=false,
  // following Link rel="next" as huggingface_hub does; a page on another origin is fetched
  // without the token). Sorted by path; duplicate paths and invalid entries are permanent
  // errors naming the entry.
  Result<std::vector<FileEntry>> list_files(RepoType type, const std::string& repo,
                                            const std::string& commit) const;

  // The new id of `repo` when an earlier call on this client was redirected to another repo
  // path (a renamed repo, e.g. "distilbert-base-uncased" -> "distilbert/distilbert-base-uncased").
  // Requests keep using the id they were given, as huggingface_hub does.
  std::optional<std::string> renamed_to(RepoType type, const std::string& repo) const;

  // HEAD {endpoint}/{prefix}{repo}/resolve/{rev}/{path} with relative redirects followed.
  Result<FileMetadata> file_metadata(RepoType type, const std::string& repo,
                                     const std::string& revision, const std::string& path) const;

  // The Xet read token of a repo at a revision (hub token sent as for any API call).
  Result<XetToken> xet_read_token(RepoType type, const std::string& repo,
                                  const std::string& revision) const;

  // A GET for `location` (from FileMetadata), optionally a byte range (its deadline scales
  // with the range's size, see ClientOptions). The bearer token is
  // bound to the endpoint's scheme, host and port, so it is sent only when the location is
  // on the endpoint itself (never to a CDN, never over a downgraded http:// URL). Timeouts from
  // ClientOptions.
  net::Request download_request(const std::string& location,
                                std::optional<net::ByteRange> range = std::nullopt) const;

  // URL builders (exposed for the fetch engine and tests).
  std::string resolve_url(RepoType type, const std::string& repo, const std::string& revision,
                          const std::string& path) const;
  std::string api_url(RepoType type, const std::string& repo) const;  // {E}/api/{type}s/{repo}

  // Maps a non-2xx hub response to an Error with a clear message and hint (X-Error-Code
  // RepoNotFound / GatedRepo / RevisionNotFound / EntryNotFound, 401/403 -> auth, 429/5xx ->
  // transient). `what` names the object ("org/model@main: config.json"). Never includes the
  // token. Useful for a GET of a /resolve/ location that fails.
  Error error_from_response(const net::Response& response, RepoType type, const std::string& repo,
                            std::string_view what) const;

 private:
  // error_from_response without the machine-readable code.
  Error describe_response(const net::Response& response, RepoType type, const std::string& repo,
                          std::string_view what) const;
  net::Request base_request(net::Method method, std::string url) const;
  Result<net::Response> send(const net::Request& request) const;
  // GET of an API URL under retry, following same-origin redirects (relative or absolute,
  // up to max_redirects); a redirect to another origin is refused (the token would follow).
  Result<net::Response> get_api(std::string url, RepoType type, const std::string& repo,
                                std::string_view what) const;
  bool is_rename_hop(const net::Response& r, const std::string& next) const;
  void read_xet_headers(const net::Response& r, const std::string& url, FileMetadata& meta) const;
  // After a redirect from `from` to `to` (URLs of the same kind: `head` is what precedes the
  // repo id in their paths, "/api/models/" or "/" or "/datasets/"): when `to` is `from` with
  // only the repo id changed, that is a rename of `original`; it is recorded and the new id
  // returned (so chains of renames are followed to the last one).
  std::optional<std::string> note_redirect(RepoType type, const std::string& original,
                                           const std::string& current, const std::string& from,
                                           const std::string& to, const std::string& head) const;

  net::Transport& m_transport;
  Clock& m_clock;
  ClientOptions m_options;
  std::string m_endpoint_scope;  // scheme://host:port the token is bound to
  std::string m_endpoint_origin;
  std::string m_endpoint_path;  // path prefix of the endpoint ("" or "/hf")
  mutable std::mutex m_renames_mutex;
  mutable std::map<std::string, std::string> m_renames;  // "type:old" -> new id
};

// ETag normalisation as huggingface_hub: strip a leading W/ and surrounding quotes.
std::string normalize_etag(std::string_view etag);
bool is_commit_hash(std::string_view s);  // exactly 40 lower-case hex

}  // namespace mb::hub
