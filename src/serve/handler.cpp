#include "serve/handler.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "serve/hub_json.hpp"
#include "serve/range.hpp"
#include "store/store.hpp"

namespace mb::serve {

namespace {

using json = nlohmann::ordered_json;

// Header values must stay printable ASCII whatever a file name holds.
std::string header_safe(const std::string& s) {
  std::string out = s.substr(0, 512);
  for (char& c : out) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7f) c = '?';
  }
  return out;
}

Reply json_reply(int status, const json& doc) {
  Reply r;
  r.status = status;
  r.body = doc.dump(-1, ' ', false, json::error_handler_t::replace);
  r.header("Content-Type", "application/json; charset=utf-8");
  return r;
}

Reply from_hub_error(const HubError& e) { return error_reply(e.status, e.code, e.message); }

bool host_ok(const std::string& h) {
  if (h.empty() || h.size() > 255) return false;
  for (char c : h) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '-' || c == ':' || c == '[' || c == ']';
    if (!ok) return false;
  }
  return true;
}

// "/mirror" or "/a/b": a path prefix to put before our own paths ("" and "/" add nothing).
bool prefix_ok(std::string& p) {
  while (!p.empty() && p.back() == '/') p.pop_back();
  if (p.empty()) return true;
  if (p.front() != '/' || p.size() > 255) return false;
  for (char c : p) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '/' || c == '-' || c == '_' || c == '.' || c == '~';
    if (!ok) return false;
  }
  return p.find("..") == std::string::npos;
}

bool truthy(const std::map<std::string, std::string>& q, const char* key) {
  auto it = q.find(key);
  return it != q.end() && (it->second == "true" || it->second == "True" || it->second == "1");
}

}  // namespace

Reply error_reply(int status, const std::string& code, const std::string& message) {
  Reply r = json_reply(status, json{{"error", message}});
  if (!code.empty()) r.header("X-Error-Code", code);
  r.header("X-Error-Message", header_safe(message));
  r.header("Cache-Control", "no-store");  // a shared cache in front must ask again
  return r;
}

Reply Handler::handle(const Request& req) {
  bool read = req.method == "GET" || req.method == "HEAD";
  if (!read && req.method != "POST") {
    Reply r = error_reply(405, "", "method not allowed: this mirror is read-only");
    r.header("Allow", "GET, HEAD, POST");
    return r;
  }
  auto route = parse_route(req.target);
  if (!route.ok()) {
    Reply r = error_reply(400, "", route.error().message);
    r.route = "bad_request";
    return r;
  }
  Reply r = dispatch(req, *route);
  if (r.route == "unknown") r.route = to_string(route->kind);
  return r;
}

Reply Handler::dispatch(const Request& req, const Route& route) {
  bool post = req.method == "POST";
  if (post != (route.kind == RouteKind::paths_info) && route.kind != RouteKind::unknown) {
    Reply r = error_reply(405, "", "method not allowed");
    r.header("Allow", route.kind == RouteKind::paths_info ? "POST" : "GET, HEAD");
    return r;
  }
  if (route.kind == RouteKind::health) return health();
  if (route.revision == "HEAD") {  // the hub's name for the default branch (@huggingface/hub)
    Route main_route = route;
    main_route.revision = "main";
    return dispatch(req, main_route);
  }
  if (m_access.requires_token() && !m_access.token_ok(req.authorization)) {
    bool sent = !req.authorization.empty();
    // huggingface_hub reads "Invalid credentials in Authorization header" as a bad token;
    // a missing one gets the hub's code for "log in first".
    Reply r = sent ? error_reply(401, "", "Invalid credentials in Authorization header")
                   : error_reply(401, "GatedRepo",
                                 "Access is restricted: this mirror requires a token. Send "
                                 "Authorization: Bearer <token> (HF_TOKEN)");
    r.header("WWW-Authenticate", "Bearer realm=\"modelbake\"");
    return r;
  }
  if (route.kind == RouteKind::metrics) return metrics();
  if (route.kind == RouteKind::unknown) return error_reply(404, "", "Not found");
  if (!m_access.repo_allowed(route.type, route.repo)) {
    return error_reply(404, "RepoNotFound", "Repository Not Found: " + route.repo);
  }
  return m_upstream ? pull_through(req, route) : from_cache(req, route);
}

std::optional<Reply> Handler::wait_for_registry(const Request& req) {
  if (!m_fill || req.finished_job) return std::nullopt;
  auto job = m_fill->start();
  if (!job) return std::nullopt;
  Reply r;
  r.wait = std::move(job);
  return r;
}

Reply Handler::from_cache(const Request& req, const Route& route) {
  Reply r = cache_answer(req, route);
  if (r.status == 404) {  // a miss: the registries may hold a bundle with it
    if (auto wait = wait_for_registry(req)) return std::move(*wait);
  }
  return r;
}

Reply Handler::cache_answer(const Request& req, const Route& route) {
  std::string commit;
  if (auto err = m_catalog.resolve(route.type, route.repo, route.revision, commit))
    return from_hub_error(*err);
  // A fetch that needed a token recorded whether the repo is gated or private upstream.
  std::string access = recorded_access(route, commit);
  if (!access.empty() && access != "public" && !anonymous_ok()) return gated_reply(route);
  if (!is_file(route.kind)) {
    return listing_reply(req, route, commit, m_catalog.list(route.type, route.repo, commit),
                         access);
  }
  OpenedFile file;
  if (auto err = m_catalog.open_verified(route.type, route.repo, commit, route.path, file)) {
    Reply r = from_hub_error(*err);
    if (err->status == 404) r.header("X-Repo-Commit", commit);
    return r;
  }
  return resolve(req, route, commit, file);
}

Reply Handler::listing_reply(const Request& req, const Route& route, const std::string& commit,
                             const std::vector<Entry>& files, const std::string& access) {
  Reply r = listing_body(req, route, commit, files, access);
  if (r.status == 200) r.header("Cache-Control", cache_control(route, commit));
  return r;
}

Reply Handler::listing_body(const Request& req, const Route& route, const std::string& commit,
                            const std::vector<Entry>& files, const std::string& access) {
  if (route.kind == RouteKind::tree) return tree(req, route, commit, files);
  if (route.kind == RouteKind::paths_info) {
    std::vector<std::string> paths;
    bool expand = false;
    if (!parse_paths_body(req.body, paths, expand))
      return error_reply(400, "", "expected a 'paths' list");
    return json_reply(200, serve::paths_info(files, paths, expand, commit));
  }
  bool blobs = truthy(parse_query(req.target), "blobs");
  return json_reply(200,
                    revision_json(RepoId{route.type, route.repo}, commit, files, blobs, access));
}

bool Handler::anonymous_ok() const {
  // With --token-file every client that got this far has a mirror token.
  return m_access.requires_token() || m_config.serve_gated_anonymously;
}

std::string Handler::recorded_access(const Route& route, const std::string& commit) const {
  return snapshot_access(m_catalog.layout(), route.type, route.repo, commit);
}

Reply Handler::gated_reply(const Route& route) {
  return error_reply(
      401, "GatedRepo",
      "Access to " + route.repo +
          " is restricted: this mirror serves it only to clients with a mirror token");
}

Reply Handler::pull_through(const Request& req, const Route& route) {
  // The mirror's own token may open gated or private repos upstream: those go only to clients
  // that proved themselves with a mirror token. Upstream is asked on a job thread (the
  // connection waits suspended), never on this one.
  std::shared_ptr<const Lookup> looked = req.finished_job ? req.finished_job->lookup() : nullptr;
  if (req.finished_job && req.finished_job->kind() == JobKind::download) {
    const Job& job = *req.finished_job;
    return stream_or_wait(req, route, job.commit(), job.entry(), req.finished_job);
  }
  if (!looked) {
    if (auto hit = cached_hit(req, route)) return std::move(*hit);
    if (auto wait = wait_for_registry(req)) return std::move(*wait);  // before the hub
    Reply r;
    r.wait = m_upstream->lookup(route.type, route.repo, route.revision);
    return r;
  }
  const Lookup& lk = *looked;
  if (lk.access != "public" && !anonymous_ok()) {
    // Absent upstream, or only visible with the mirror's token?
    if (!lk.listing.ok() && lk.listing.error().category != ErrorCategory::transient)
      return from_hub_error(hub_error_from(lk.listing.error()));
    return gated_reply(route);
  }
  if (!lk.listing.ok()) {
    // Upstream unreachable: answer from what the cache has.
    if (lk.listing.error().category == ErrorCategory::transient) return from_cache(req, route);
    return from_hub_error(hub_error_from(lk.listing.error()));
  }
  if (is_file(route.kind)) return pull_file(req, route, *lk.listing);
  return listing_reply(req, route, lk.listing->commit, lk.listing->files, lk.access);
}

std::optional<Reply> Handler::cached_hit(const Request& req, const Route& route) {
  std::string commit;
  OpenedFile file;
  if (!is_file(route.kind) || m_catalog.resolve(route.type, route.repo, route.revision, commit) ||
      m_catalog.open_verified(route.type, route.repo, commit, route.path, file)) {
    return std::nullopt;
  }
  // What the fetch recorded, else what upstream said earlier; neither: ask upstream.
  std::string access = recorded_access(route, commit);
  if (access.empty() || access == "unknown")
    access = m_upstream->known_access(route.type, route.repo);
  if (access != "public" && !anonymous_ok()) {
    if (access.empty() || access == "unknown") return std::nullopt;
    return gated_reply(route);
  }
  m_metrics.cache_hit();
  return resolve(req, route, commit, file);
}

Reply Handler::after_download(const Request& req, const Route& route, const Job& job) {
  // The access check passed before the download started.
  std::string commit;
  OpenedFile file;
  if (!m_catalog.resolve(route.type, route.repo, route.revision, commit) &&
      !m_catalog.open_verified(route.type, route.repo, commit, route.path, file)) {
    return resolve(req, route, commit, file);
  }
  Status st = job.result();
  if (!st.ok()) return from_hub_error(hub_error_from(st.error()));
  return error_reply(500, "", "the file is not in the cache after its download");
}

Reply Handler::pull_file(const Request& req, const Route& route, const Listing& listing) {
  auto it = std::find_if(listing.files.begin(), listing.files.end(),
                         [&](const Entry& e) { return e.path == route.path; });
  if (it == listing.files.end()) {
    Reply r =
        error_reply(404, "EntryNotFound", route.path + " does not exist at " + listing.commit);
    r.header("X-Repo-Commit", listing.commit);
    return r;
  }
  // A branch whose cached ref is older than upstream's: the new commit's file may be cached.
  OpenedFile file;
  if (!m_catalog.open_verified(route.type, route.repo, listing.commit, route.path, file)) {
    m_metrics.cache_hit();
    return resolve(req, route, listing.commit, file);
  }
  m_metrics.cache_miss();
  auto job = m_upstream->fetch(route.type, route.repo, route.revision, listing.commit, *it);
  return stream_or_wait(req, route, listing.commit, *it, job);
}

namespace {

// Smaller files are sent once verified: they take no client's timeout even from a slow
// upstream, and a failed download then gets the hub's error codes rather than a cut body.
constexpr uint64_t k_stream_min = 1 << 20;

}  // namespace

Reply Handler::stream_or_wait(const Request& req, const Route& route, const std::string& commit,
                              const Entry& entry, const std::shared_ptr<Job>& job) {
  if (job->done()) return after_download(req, route, *job);
  Reply r;
  r.wait = job;
  const std::shared_ptr<LiveDownload>& live = job->live();
  // /raw/ of an LFS file is its pointer: served from the cache once there.
  if (!live || entry.size < k_stream_min || (route.kind == RouteKind::raw && entry.is_lfs()))
    return r;
  // Read the version first: an event after it wakes the request at once.
  uint64_t version = live->version();
  if (!live->started()) {
    // No byte yet: wait for the first (or the end, when it failed: the job's error answers).
    if (live->view(0).end == LiveDownload::End::running) r.wait_version = version;
    return r;
  }
  // The headers come from upstream's listing (size, etag); the body as the bytes land.
  Reply s = file_reply(req, route, commit, entry);
  if (s.status == 200 || s.status == 206) {
    s.stream = std::make_shared<StreamCursor>(
        live, m_catalog.layout().door(), s.offset + s.length,
        [this, route, commit]() -> Result<UniqueFd> {
          OpenedFile f;
          if (auto err = m_catalog.open_verified(route.type, route.repo, commit, route.path, f))
            return fail(ErrorCategory::io, err->message);
          return std::move(f.fd);
        });
  }
  return s;
}

std::string Handler::base_url(const Request& req) const {
  if (!m_config.public_url.empty()) return m_config.public_url;
  // X-Forwarded-* only from the proxies the operator named: anyone else could send them.
  if (std::find(m_config.trusted_proxies.begin(), m_config.trusted_proxies.end(), req.client_ip) !=
      m_config.trusted_proxies.end()) {
    std::string proto = req.forwarded_proto == "https" ? "https" : "http";
    std::string host = host_ok(req.forwarded_host) ? req.forwarded_host
                       : host_ok(req.host)         ? req.host
                                                   : m_config.fallback_host;
    std::string prefix = req.forwarded_prefix;
    return proto + "://" + host + (prefix_ok(prefix) ? prefix : "");
  }
  return "http://" + (host_ok(req.host) ? req.host : m_config.fallback_host);
}

Reply Handler::tree(const Request& req, const Route& route, const std::string& commit,
                    const std::vector<Entry>& files) {
  auto query = parse_query(req.target);
  auto entries =
      tree_entries(files, route.path, truthy(query, "recursive"), truthy(query, "expand"), commit);
  if (!entries) {
    Reply r = error_reply(404, "EntryNotFound", route.path + " does not exist at " + commit);
    r.header("X-Repo-Commit", commit);
    return r;
  }
  size_t offset = 0;
  if (auto it = query.find("cursor"); it != query.end()) {
    try {
      offset = std::stoull(it->second);
    } catch (...) {
      return error_reply(400, "", "bad cursor");
    }
  }
  size_t page = std::max<size_t>(1, m_config.page_size);
  json doc = json::array();
  for (size_t i = offset; i < entries->size() && i < offset + page; ++i)
    doc.push_back(std::move((*entries)[i]));
  Reply r = json_reply(200, doc);
  if (offset + page < entries->size()) {
    // Absolute: huggingface_hub requests the next URL as is. The raw path passed validation.
    std::string path = req.target.substr(0, req.target.find('?'));
    std::string next = fmt::format("{}{}?recursive={}&expand={}&cursor={}", base_url(req), path,
                                   truthy(query, "recursive") ? "true" : "false",
                                   truthy(query, "expand") ? "true" : "false", offset + page);
    r.header("Link", "<" + next + ">; rel=\"next\"");
  }
  return r;
}

namespace {

// RFC 9110 §13.1.2: a list of entity tags (weak ones compare weakly) or "*".
bool etag_matches(const std::string& header, const std::string& etag) {
  if (header.find('*') != std::string::npos) return true;
  std::string quoted = "\"" + etag + "\"";
  size_t pos = 0;
  while ((pos = header.find(quoted, pos)) != std::string::npos) {
    char after = pos + quoted.size() < header.size() ? header[pos + quoted.size()] : ',';
    if (after == ',' || after == ' ' || after == '\t') return true;
    pos += quoted.size();
  }
  return false;
}

}  // namespace

std::string Handler::cache_control(const Route& route, const std::string& commit) const {
  // Behind a shared cache (nginx proxy_cache, a CDN): what needed a token must not be stored
  // for others; a commit's content never changes; a branch moves.
  if (m_access.requires_token()) return "private, no-store";
  if (route.revision == commit) return "public, max-age=31536000, immutable";
  return "public, max-age=60";
}

Reply Handler::resolve(const Request& req, const Route& route, const std::string& commit,
                       OpenedFile& file) {
  const Entry& e = file.entry;
  if (route.kind == RouteKind::raw && e.is_lfs()) {
    // /raw/ of an LFS file is its pointer, as on the hub.
    Reply r;
    r.header("X-Repo-Commit", commit);
    r.header("Cache-Control", cache_control(route, commit));
    r.body = lfs_pointer(e.etag, e.size);
    r.header("ETag", "\"" + lfs_pointer_oid(e.etag, e.size) + "\"");
    r.header("Content-Type", "text/plain; charset=utf-8");
    return r;
  }
  Reply r = file_reply(req, route, commit, e);
  if (r.status == 200 || r.status == 206) r.fd = std::move(file.fd);
  return r;
}

Reply Handler::file_reply(const Request& req, const Route& route, const std::string& commit,
                          const Entry& e) {
  Reply r;
  r.header("X-Repo-Commit", commit);
  r.header("Cache-Control", cache_control(route, commit));
  r.header("ETag", "\"" + e.etag + "\"");
  if (e.is_lfs()) {
    r.header("X-Linked-Etag", "\"" + e.etag + "\"");
    r.header("X-Linked-Size", std::to_string(e.size));
  }
  r.header("Accept-Ranges", "bytes");
  if (!req.if_none_match.empty() && etag_matches(req.if_none_match, e.etag)) {
    r.status = 304;  // the client's copy is current (a branch URL may have moved since)
    return r;
  }
  ByteRange range;
  // If-Range with another validator: the file changed since the client's first part, so
  // the whole new file, not a range of it (a /resolve/main/ URL follows the branch).
  bool range_ok = req.if_range.empty() || req.if_range == "\"" + e.etag + "\"";
  switch (range_ok ? parse_range(req.range, e.size, range) : RangeKind::none) {
    case RangeKind::unsatisfiable: {
      Reply bad = error_reply(416, "", "Requested range not satisfiable");
      for (auto& h : r.headers) bad.headers.push_back(h);
      bad.header("Content-Range", "bytes */" + std::to_string(e.size));
      return bad;
    }
    case RangeKind::partial:
      r.status = 206;
      r.header("Content-Range",
               fmt::format("bytes {}-{}/{}", range.start, range.start + range.length - 1, e.size));
      break;
    case RangeKind::none: range = {0, e.size}; break;
  }
  r.header("Content-Type", "application/octet-stream");
  r.offset = range.start;
  r.length = range.length;
  return r;
}

Reply Handler::health() const {
  json repos = json::array();
  for (const auto& id : m_catalog.repos()) {
    // Hidden repos look absent everywhere; the cache's path is the operator's business.
    if (!m_access.repo_allowed(id.type, id.repo)) continue;
    repos.push_back(json{{"type", to_string(id.type)}, {"repo", id.repo}});
  }
  json doc{{"ready", true}, {"repos", std::move(repos)}};
  if (m_access.requires_token()) doc.erase("repos");  // the inventory is for clients with a token
  return json_reply(200, doc);
}

Reply Handler::metrics() const {
  std::string extra =
      "# HELP modelbake_serve_verify_hashes_total Blobs hashed to prove their content before "
      "serving.\n"
      "# TYPE modelbake_serve_verify_hashes_total counter\n"
      "modelbake_serve_verify_hashes_total " +
      std::to_string(m_catalog.hashes_done()) + "\n";
  if (m_upstream) {
    extra +=
        "# HELP modelbake_serve_upstream_downloads_total Files fetched from the upstream hub.\n"
        "# TYPE modelbake_serve_upstream_downloads_total counter\n"
        "modelbake_serve_upstream_downloads_total " +
        std::to_string(m_upstream->downloads_started()) + "\n";
  }
  Reply r;
  r.body = m_metrics.render(extra);
  r.header("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
  return r;
}

}  // namespace mb::serve
