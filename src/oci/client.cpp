#include "oci/client.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "core/file.hpp"
#include "core/hash.hpp"
#include "core/log.hpp"
#include "core/text.hpp"
#include "net/url.hpp"
#include "oci/manifest.hpp"

namespace mb::oci {

namespace {

constexpr int k_max_redirects = 5;

std::string scope_key(const std::vector<std::string>& scopes) {
  std::string k;
  for (const auto& s : scopes) k += s + " ";
  return k;
}

std::string pull_scope(const std::string& repo) { return "repository:" + repo + ":pull"; }
std::string push_scope(const std::string& repo) { return "repository:" + repo + ":pull,push"; }

std::string with_query(const std::string& url, const std::string& param) {
  return url + (url.find('?') == std::string::npos ? "?" : "&") + param;
}

// Streams a blob body into a file, hashing as it goes; survives several attempts (resume).
class VerifyingFileSink final : public net::BodySink {
 public:
  VerifyingFileSink(int fd, uint64_t expected_size)
      : m_fd(fd), m_expected(expected_size), m_hasher(HashAlgo::sha256) {}
  uint64_t written() const { return m_written; }
  Status on_response(int status, const net::Headers&) override {
    if (status == 206) return {};
    // A full body: start over (the server ignored Range or this is the first attempt).
    if (m_written > 0) {
      if (::ftruncate(m_fd, 0) != 0) return errno_error("truncating download", errno);
      m_written = 0;
      m_hasher = Hasher(HashAlgo::sha256);
    }
    return {};
  }
  Status on_data(const char* data, size_t size) override {
    if (m_written + size > m_expected) {
      return fail(ErrorCategory::integrity, "registry sent more bytes than the manifest's size " +
                                                std::to_string(m_expected));
    }
    MB_TRY(pwrite_all(m_fd, data, size, m_written, "writing blob"));
    m_hasher.update(data, size);
    m_written += size;
    return {};
  }
  std::string finish() { return "sha256:" + m_hasher.finish_hex(); }

 private:
  int m_fd;
  uint64_t m_expected;
  Hasher m_hasher;
  uint64_t m_written = 0;
};

}  // namespace

Error registry_error(const net::Response& response, const std::string& what) {
  std::string detail;
  auto doc = nlohmann::json::parse(response.body, nullptr, false);
  if (!doc.is_discarded() && doc.is_object() && doc.contains("errors") &&
      doc["errors"].is_array()) {
    for (const auto& e : doc["errors"]) {
      if (!e.is_object()) continue;
      std::string code = e.value("code", std::string());
      std::string msg =
          e.contains("message") && e["message"].is_string() ? e["message"].get<std::string>() : "";
      if (!detail.empty()) detail += "; ";
      detail += code + (msg.empty() ? "" : ": " + msg);
    }
  }
  detail =
      log::redact(sanitize_for_display(detail, 300));  // the registry's text, shown to the user
  ErrorCategory cat = net::category_for_status(response.status);
  std::string message = fmt::format("{}: HTTP {} from {}", what, response.status,
                                    net::redact_url(response.effective_url));
  if (!detail.empty()) message += " (" + detail + ")";
  std::string hint;
  if (response.status == 401) {
    hint = "set MODELBAKE_REGISTRY_USER and MODELBAKE_REGISTRY_PASSWORD or run 'docker login'";
  } else if (response.status == 403) {
    hint = "the credentials lack permission for this repository";
  } else if (cat == ErrorCategory::transient) {
    hint = "the registry is busy or failing; try again later";
  }
  return make_error(cat, message, hint);
}

RegistryClient::RegistryClient(net::Transport& transport, Clock& clock, std::string registry,
                               std::optional<Credentials> credentials, ClientOptions options)
    : m_transport(transport),
      m_clock(clock),
      m_registry(std::move(registry)),
      m_credentials(std::move(credentials)),
      m_options(options) {
  auto url = net::parse_url(base_url() + "/");
  m_authority = url.ok() ? url->authority() : m_registry;
  m_scope = url.ok() ? url->credential_scope() : base_url();
  if (m_credentials) register_secret(*m_credentials);
}

std::string RegistryClient::base_url() const {
  return (m_options.plain_http ? "http://" : "https://") + m_registry;
}

ClientStats RegistryClient::stats() const {
  std::lock_guard<std::mutex> g(m_mutex);
  return m_stats;
}

void RegistryClient::count(net::Method m) {
  std::lock_guard<std::mutex> g(m_mutex);
  switch (m) {
    case net::Method::head: ++m_stats.heads; break;
    case net::Method::get: ++m_stats.gets; break;
    case net::Method::post: ++m_stats.posts; break;
    case net::Method::put: ++m_stats.puts; break;
    case net::Method::patch: ++m_stats.patches; break;
    case net::Method::del: break;
  }
}

void RegistryClient::apply_auth(net::Request& request, const std::vector<std::string>& scopes) {
  request.verify_tls = !m_options.insecure;
  request.bearer.reset();
  std::lock_guard<std::mutex> g(m_mutex);
  if (auto it = m_tokens.find(scope_key(scopes)); it != m_tokens.end()) {
    request.bearer = net::BearerToken{it->second, m_scope, "Bearer"};
  } else if (m_use_basic && m_credentials) {
    request.bearer = net::BearerToken{
        base64_encode(m_credentials->username + ":" + m_credentials->password), m_scope, "Basic"};
  }
}

Result<std::string> RegistryClient::fetch_token(const Challenge& ch,
                                                const std::vector<std::string>& scopes) {
  std::string realm = ch.param("realm");
  auto realm_url = net::parse_url(realm);
  if (!realm_url.ok()) {
    return fail(ErrorCategory::auth, "registry " + m_registry +
                                         " asked for a token from an invalid realm '" +
                                         net::redact_url(realm) + "'");
  }
  std::string url = realm;
  if (!ch.param("service").empty())
    url = with_query(url, "service=" + net::percent_encode(ch.param("service"), ""));
  // Our scopes (which include a mount's source repository) rather than the challenge's.
  std::vector<std::string> wanted = scopes;
  if (wanted.empty() && !ch.param("scope").empty()) wanted.push_back(ch.param("scope"));
  for (const auto& s : wanted) url = with_query(url, "scope=" + net::percent_encode(s, ""));
  net::Request req;
  req.url = url;
  req.verify_tls = !m_options.insecure;
  // Credentials go to the realm only over https or when it is the registry itself.
  bool trusted_realm = realm_url->scheme == "https" || realm_url->authority() == m_authority;
  if (m_credentials && trusted_realm && !m_credentials->identity_token.empty()) {
    // An identity token (OAuth2 refresh token) is traded with a POST, as docker does.
    req.url = realm;
    req.method = net::Method::post;
    req.headers.set("Content-Type", "application/x-www-form-urlencoded");
    req.body = "grant_type=refresh_token&client_id=modelbake&refresh_token=" +
               net::percent_encode(m_credentials->identity_token, "");
    if (!ch.param("service").empty())
      req.body += "&service=" + net::percent_encode(ch.param("service"), "");
    if (!wanted.empty()) {
      std::string joined;
      for (const auto& s : wanted) joined += (joined.empty() ? "" : " ") + s;
      req.body += "&scope=" + net::percent_encode(joined, "");
    }
  } else if (m_credentials && trusted_realm) {
    req.bearer =
        net::BearerToken{base64_encode(m_credentials->username + ":" + m_credentials->password),
                         realm_url->credential_scope(), "Basic"};
  }
  count(req.method);
  MB_ASSIGN(auto resp, net::perform_with_retry(m_transport, req, m_options.retry, m_clock));
  if (resp.status == 401 || resp.status == 403) {
    return fail(
        ErrorCategory::auth,
        fmt::format("the token service of {} refused the credentials (HTTP {})", m_registry,
                    resp.status),
        "check MODELBAKE_REGISTRY_USER/MODELBAKE_REGISTRY_PASSWORD or ~/.docker/config.json");
  }
  if (!resp.is_success()) return registry_error(resp, "requesting a registry token");
  auto doc = nlohmann::json::parse(resp.body, nullptr, false);
  std::string token;
  if (!doc.is_discarded() && doc.is_object()) {
    if (doc.contains("token") && doc["token"].is_string()) token = doc["token"].get<std::string>();
    if (token.empty() && doc.contains("access_token") && doc["access_token"].is_string())
      token = doc["access_token"].get<std::string>();
  }
  if (token.empty())
    return fail(ErrorCategory::auth, "the token service of " + m_registry + " sent no token");
  log::add_secret(token);
  return token;
}

Status RegistryClient::authenticate(const net::Response& unauthorized,
                                    const std::vector<std::string>& scopes) {
  std::vector<Challenge> challenges;
  for (const auto& h : unauthorized.headers.get_all("WWW-Authenticate")) {
    auto parsed = parse_www_authenticate(h);
    challenges.insert(challenges.end(), parsed.begin(), parsed.end());
  }
  const Challenge* bearer = nullptr;
  const Challenge* basic = nullptr;
  for (const auto& c : challenges) {
    if (c.scheme == "bearer" && !bearer) bearer = &c;
    if (c.scheme == "basic" && !basic) basic = &c;
  }
  if (!bearer && !basic) {
    return fail(ErrorCategory::auth,
                "registry " + m_registry +
                    " answered 401 Unauthorized without a usable WWW-Authenticate challenge",
                "the registry (or a proxy in front of it) does not say how to authenticate; check "
                "the registry URL and its auth setup");
  }
  if (bearer) {
    MB_ASSIGN(auto token, fetch_token(*bearer, scopes));
    std::lock_guard<std::mutex> g(m_mutex);
    m_tokens[scope_key(scopes)] = token;
    return {};
  }
  if (!m_credentials ||
      m_credentials->password.empty()) {  // an identity token is no Basic password
    return fail(
        ErrorCategory::auth, "registry " + m_registry + " requires credentials (Basic auth)",
        "set MODELBAKE_REGISTRY_USER and MODELBAKE_REGISTRY_PASSWORD or run 'docker login " +
            m_registry + "'");
  }
  std::lock_guard<std::mutex> g(m_mutex);
  m_use_basic = true;
  return {};
}

Result<net::Response> RegistryClient::send_once(net::Request& request,
                                                const std::vector<std::string>& scopes,
                                                net::BodySink* sink) {
  apply_auth(request, scopes);
  count(request.method);
  MB_ASSIGN(auto resp, m_transport.perform(request, sink));
  log::debug(fmt::format("registry: {} {} -> {}", net::to_string(request.method),
                         net::redact_url(request.url), resp.status));
  return resp;
}

Result<net::Response> RegistryClient::send(net::Request request,
                                           const std::vector<std::string>& scopes,
                                           net::BodySink* sink) {
  MB_ASSIGN(auto resp, send_once(request, scopes, sink));
  if (resp.status == 401) {
    bool had_auth = request.bearer.has_value();
    if (had_auth && request.bearer->scheme == "Basic") {
      return fail(
          ErrorCategory::auth, "registry " + m_registry + " rejected the credentials",
          "check MODELBAKE_REGISTRY_USER/MODELBAKE_REGISTRY_PASSWORD or ~/.docker/config.json");
    }
    MB_TRY(authenticate(resp, scopes));
    MB_ASSIGN(resp, send_once(request, scopes, sink));
    if (resp.status == 401) {
      return fail(
          ErrorCategory::auth, "registry " + m_registry + " rejected the credentials",
          "check MODELBAKE_REGISTRY_USER/MODELBAKE_REGISTRY_PASSWORD or ~/.docker/config.json");
    }
  }
  // Blob downloads may be redirected to storage; the Authorization header stays behind
  // when the new location has another authority.
  for (int hops = 0; resp.is_redirect() &&
                     (request.method == net::Method::get || request.method == net::Method::head);
       ++hops) {
    auto location = resp.headers.get("Location");
    if (!location || hops >= k_max_redirects) break;
    MB_ASSIGN(auto next, net::resolve_reference(request.url, *location));
    request.url = next;
    MB_ASSIGN(resp, send_once(request, scopes, sink));
  }
  return resp;
}

Result<std::optional<uint64_t>> RegistryClient::blob_size(const std::string& repo,
                                                          const std::string& digest) {
  return net::with_retry(m_options.retry, m_clock,
                         [&](net::Attempt& attempt) -> Result<std::optional<uint64_t>> {
                           net::Request req;
                           req.method = net::Method::head;
                           req.url = base_url() + "/v2/" + repo + "/blobs/" + digest;
                           MB_ASSIGN(auto resp, send(req, {push_scope(repo)}));
                           if (resp.status == 404) return std::optional<uint64_t>();
                           if (!resp.is_success()) {
                             attempt.retry_after = net::retry_after_of(resp, m_clock);
                             return registry_error(resp, "checking blob " + digest);
                           }
                           uint64_t size = 0;
                           if (auto len = resp.headers.get("Content-Length"))
                             size = std::strtoull(len->c_str(), nullptr, 10);
                           return std::optional<uint64_t>(size);
                         });
}

Result<std::string> RegistryClient::start_upload(const std::string& repo, const std::string& query,
                                                 const std::vector<std::string>& scopes,
                                                 bool* mounted) {
  net::Request req;
  req.method = net::Method::post;
  req.url = base_url() + "/v2/" + repo + "/blobs/uploads/" + (query.empty() ? "" : "?" + query);
  MB_ASSIGN(auto resp, send(req, scopes));
  if (mounted != nullptr) *mounted = resp.status == 201;
  if (resp.status == 201 && mounted != nullptr) return std::string();
  if (resp.status != 202) return registry_error(resp, "starting a blob upload to " + repo);
  auto location = resp.headers.get("Location");
  if (!location || location->empty()) {
    return fail(ErrorCategory::permanent,
                "registry " + m_registry + " started an upload without a Location header");
  }
  // Location is used verbatim: absolute (distribution 2.8 adds a signed _state) or relative.
  return net::resolve_reference(req.url, *location);
}

Result<bool> RegistryClient::mount_blob(const std::string& repo, const std::string& digest,
                                        const std::string& from_repo) {
  bool mounted = false;
  std::string query =
      "mount=" + net::percent_encode(digest, "") + "&from=" + net::percent_encode(from_repo, "");
  auto location = start_upload(repo, query, {push_scope(repo), pull_scope(from_repo)}, &mounted);
  if (!location.ok()) {
    if (location.error().category == ErrorCategory::auth) return location.take_error();
    log::debug("mount of " + digest + " from " + from_repo +
               " failed: " + location.error().message);
    return false;
  }
  if (mounted) {
    std::lock_guard<std::mutex> g(m_mutex);
    ++m_stats.blobs_mounted;
    return true;
  }
  // The registry opened a normal upload session instead: cancel it.
  net::Request del;
  del.method = net::Method::del;
  del.url = *location;
  (void)send(del, {push_scope(repo)});
  return false;
}

Result<std::string> RegistryClient::upload_chunks(std::string location, const BlobSource& source,
                                                  const std::vector<std::string>& scopes) {
  uint64_t offset = 0;
  while (offset < source.size) {
    uint64_t len = std::min(m_options.chunk_size, source.size - offset);
    net::Request req;
    req.method = net::Method::patch;
    req.url = location;
    req.headers.set("Content-Type", "application/octet-stream");
    req.headers.set("Content-Range", fmt::format("{}-{}", offset, offset + len - 1));
    if (source.data) {
      req.body = source.data->substr(offset, len);
    } else {
      req.file_body = net::FileBody{source.fd, offset, len};
    }
    // Only push scope is needed; chunk PATCHes are not retried individually (the whole
    // upload restarts from a fresh session: a half-applied chunk cannot be trusted).
    MB_ASSIGN(auto resp, send(req, scopes));
    if (resp.status != 202) return registry_error(resp, "uploading a blob chunk");
    auto range = resp.headers.get("Range");
    std::string want = "0-" + std::to_string(offset + len - 1);
    if (range && *range != want && *range != "bytes=" + want) {
      return fail(ErrorCategory::transient,
                  fmt::format("registry acknowledged bytes {} after a chunk ending at {}", *range,
                              offset + len - 1));
    }
    if (auto next = resp.headers.get("Location"); next && !next->empty()) {
      MB_ASSIGN(location, net::resolve_reference(location, *next));
    }
    offset += len;
    std::lock_guard<std::mutex> g(m_mutex);
    m_stats.bytes_uploaded += len;
  }
  return location;
}

Status RegistryClient::upload_once(const std::string& repo, const std::string& digest,
                                   const BlobSource& source) {
  const std::vector<std::string> scopes{push_scope(repo)};
  MB_ASSIGN(auto location, start_upload(repo, "", scopes, nullptr));
  net::Request put;
  put.method = net::Method::put;
  put.headers.set("Content-Type", "application/octet-stream");
  if (source.size >= m_options.chunk_threshold) {
    MB_ASSIGN(location, upload_chunks(location, source, scopes));
  } else if (source.data) {
    put.body = *source.data;
  } else {
    put.file_body = net::FileBody{source.fd, 0, source.size};
  }
  put.url = with_query(location, "digest=" + net::percent_encode(digest, ""));
  MB_ASSIGN(auto resp, send(put, scopes));
  if (resp.status != 201) return registry_error(resp, "uploading blob " + digest);
  std::lock_guard<std::mutex> g(m_mutex);
  ++m_stats.blobs_uploaded;
  if (source.size < m_options.chunk_threshold) m_stats.bytes_uploaded += source.size;
  return {};
}

Status RegistryClient::upload_blob(const std::string& repo, const std::string& digest,
                                   const BlobSource& source) {
  return net::with_retry(m_options.retry, m_clock,
                         [&]() -> Status { return upload_once(repo, digest, source); });
}

Status RegistryClient::download_blob(const std::string& repo, const std::string& digest,
                                     uint64_t size, const std::string& dest) {
  UniqueFd fd(::open(dest.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644));
  if (!fd.valid()) return errno_error("creating " + dest, errno);
  Status status = download_blob_fd(repo, digest, size, fd.get(), dest);
  if (status.ok()) status = fd.close_checked(dest);
  if (!status.ok()) ::unlink(dest.c_str());
  return status;
}

Status RegistryClient::download_blob_fd(const std::string& repo, const std::string& digest,
                                        uint64_t size, int fd, const std::string& name) {
  VerifyingFileSink sink(fd, size);
  auto result = net::with_retry(m_options.retry, m_clock, [&](net::Attempt& attempt) -> Status {
    net::Request req;
    req.url = base_url() + "/v2/" + repo + "/blobs/" + digest;
    if (sink.written() > 0) req.range = net::ByteRange{sink.written(), std::nullopt};
    MB_ASSIGN(auto resp, send(req, {pull_scope(repo)}, &sink));
    if (!resp.is_success()) {
      attempt.retry_after = net::retry_after_of(resp, m_clock);
      if (resp.status == 404) {
        return fail(ErrorCategory::permanent,
                    "registry " + m_registry + " does not have blob " + digest + " of " + repo,
                    "the manifest points to a missing blob; push the bundle again");
      }
      return registry_error(resp, "downloading blob " + digest);
    }
    if (sink.written() < size) {
      // The body ended early (connection closed): resume from what we have.
      return fail(ErrorCategory::transient,
                  fmt::format("blob {} ended after {} of {} bytes", digest, sink.written(), size));
    }
    return {};
  });
  Status status = result;
  if (status.ok()) {
    std::string got = sink.finish();
    if (got != digest) {
      status = fail(ErrorCategory::integrity,
                    "blob from " + m_registry + " has digest " + got + ", expected " + digest,
                    "the registry serves corrupt data; push the bundle again");
    }
  }
  if (status.ok()) status = fsync_fd(fd, name);
  if (!status.ok()) return status;
  std::lock_guard<std::mutex> g(m_mutex);
  m_stats.bytes_downloaded += size;
  return {};
}

Result<std::string> RegistryClient::fetch_small_blob(const std::string& repo,
                                                     const std::string& digest, uint64_t size) {
  if (size > (64u << 20))
    return fail(ErrorCategory::permanent,
                fmt::format("blob {} is too large to be a config ({} bytes)", digest, size));
  return net::with_retry(
      m_options.retry, m_clock, [&](net::Attempt& attempt) -> Result<std::string> {
        net::Request req;
        req.url = base_url() + "/v2/" + repo + "/blobs/" + digest;
        req.max_body_bytes = size + 1;
        MB_ASSIGN(auto resp, send(req, {pull_scope(repo)}));
        if (!resp.is_success()) {
          attempt.retry_after = net::retry_after_of(resp, m_clock);
          if (resp.status == 404)
            return fail(ErrorCategory::permanent,
                        "registry " + m_registry + " does not have blob " + digest + " of " + repo,
                        "the manifest points to a missing blob; push the bundle again");
          return registry_error(resp, "downloading blob " + digest);
        }
        if (resp.body.size() < size)
          return fail(ErrorCategory::transient, "blob " + digest + " was truncated");
        if (resp.body.size() != size || "sha256:" + sha256_hex(resp.body) != digest) {
          return fail(ErrorCategory::integrity,
                      "blob from " + m_registry + " does not match its digest " + digest,
                      "the registry serves corrupt data; push the bundle again");
        }
        std::lock_guard<std::mutex> g(m_mutex);
        m_stats.bytes_downloaded += size;
        return std::move(resp.body);
      });
}

Result<std::string> RegistryClient::put_manifest(const std::string& repo, const std::string& ref,
                                                 const std::string& media_type,
                                                 const std::string& bytes) {
  std::string digest = "sha256:" + sha256_hex(bytes);
  return net::with_retry(
      m_options.retry, m_clock, [&](net::Attempt& attempt) -> Result<std::string> {
        net::Request req;
        req.method = net::Method::put;
        req.url = base_url() + "/v2/" + repo + "/manifests/" + ref;
        req.headers.set("Content-Type", media_type);
        req.body = bytes;
        MB_ASSIGN(auto resp, send(req, {push_scope(repo)}));
        if (resp.status != 201 && resp.status != 200) {
          attempt.retry_after = net::retry_after_of(resp, m_clock);
          return registry_error(resp, "pushing the manifest to " + repo + ":" + ref);
        }
        if (auto got = resp.headers.get("Docker-Content-Digest"); got && *got != digest) {
          return fail(ErrorCategory::integrity,
                      "registry stored the manifest as " + *got + " but its digest is " + digest);
        }
        return digest;
      });
}

Result<FetchedManifest> RegistryClient::get_manifest(const std::string& repo,
                                                     const std::string& ref) {
  return net::with_retry(
      m_options.retry, m_clock, [&](net::Attempt& attempt) -> Result<FetchedManifest> {
        net::Request req;
        req.url = base_url() + "/v2/" + repo + "/manifests/" + ref;
        req.headers.set("Accept", manifest_accept_header());
        req.max_body_bytes = 4u << 20;
        MB_ASSIGN(auto resp, send(req, {pull_scope(repo)}));
        if (resp.status == 404) {
          return fail(ErrorCategory::permanent, m_registry + "/" + repo + ":" + ref + " not found",
                      "check the repository and tag; push it first with 'modelbake push'");
        }
        if (!resp.is_success()) {
          attempt.retry_after = net::retry_after_of(resp, m_clock);
          return registry_error(resp, "fetching manifest " + repo + ":" + ref);
        }
        FetchedManifest m;
        m.digest = "sha256:" + sha256_hex(resp.body);
        m.media_type = resp.headers.get("Content-Type").value_or("");
        bool by_digest = ref.rfind("sha256:", 0) == 0;
        if (by_digest && m.digest != ref) {
          return fail(ErrorCategory::integrity,
                      "registry sent a manifest with digest " + m.digest + " for " + ref);
        }
        if (auto claimed = resp.headers.get("Docker-Content-Digest");
            claimed && *claimed != m.digest) {
          return fail(ErrorCategory::integrity,
                      "registry sent a manifest whose digest " + m.digest +
                          " differs from Docker-Content-Digest " + *claimed);
        }
        m.bytes = std::move(resp.body);
        return m;
      });
}

Result<std::optional<std::string>> RegistryClient::manifest_digest(const std::string& repo,
                                                                   const std::string& ref) {
  return net::with_retry(
      m_options.retry, m_clock, [&](net::Attempt& attempt) -> Result<std::optional<std::string>> {
        net::Request req;
        req.method = net::Method::head;
        req.url = base_url() + "/v2/" + repo + "/manifests/" + ref;
        req.headers.set("Accept", manifest_accept_header());
        MB_ASSIGN(auto resp, send(req, {push_scope(repo)}));
        if (resp.status == 404) return std::optional<std::string>();
        if (!resp.is_success()) {
          attempt.retry_after = net::retry_after_of(resp, m_clock);
          return registry_error(resp, "checking manifest " + repo + ":" + ref);
        }
        return std::optional<std::string>(resp.headers.get("Docker-Content-Digest").value_or(""));
      });
}

}  // namespace mb::oci
