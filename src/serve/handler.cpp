#include "serve/handler.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "serve/hub_json.hpp"
#include "serve/range.hpp"

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

bool truthy(const std::map<std::string, std::string>& q, const char* key) {
  auto it = q.find(key);
  return it != q.end() && (it->second == "true" || it->second == "True" || it->second == "1");
}

}  // namespace

Reply error_reply(int status, const std::string& code, const std::string& message) {
  Reply r = json_reply(status, json{{"error", message}});
  if (!code.empty()) r.header("X-Error-Code", code);
  r.header("X-Error-Message", header_safe(message));
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
  if (m_access.requires_token() && !m_access.token_ok(req.authorization)) {
    bool sent = !req.authorization.empty();
    Reply r = error_reply(401, "",
                          sent ? "Invalid credentials in Authorization header"
                               : "Authentication required: send Authorization: Bearer <token>");
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

Reply Handler::from_cache(const Request& req, const Route& route) {
  std::string commit;
  if (auto err = m_catalog.resolve(route.type, route.repo, route.revision, commit))
    return from_hub_error(*err);
  if (route.kind != RouteKind::resolve) {
    return listing_reply(req, route, commit, m_catalog.list(route.type, route.repo, commit));
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
                             const std::vector<Entry>& files) {
  if (route.kind == RouteKind::tree) return tree(req, route, commit, files);
  if (route.kind == RouteKind::paths_info) {
    std::vector<std::string> paths;
    bool expand = false;
    if (!parse_paths_body(req.body, paths, expand))
      return error_reply(400, "", "expected a 'paths' list");
    return json_reply(200, serve::paths_info(files, paths, expand, commit));
  }
  bool blobs = truthy(parse_query(req.target), "blobs");
  return json_reply(200, revision_json(RepoId{route.type, route.repo}, commit, files, blobs));
}

Reply Handler::pull_through(const Request& req, const Route& route) {
  // The mirror's own token may open gated or private repos upstream: those go only to clients
  // that proved themselves with a mirror token.
  if (!m_access.requires_token() && !m_upstream->is_public(route.type, route.repo)) {
    // Absent upstream, or only visible with the mirror's token?
    auto listing = m_upstream->listing(route.type, route.repo, route.revision);
    if (!listing.ok() && listing.error().category != ErrorCategory::transient) {
      return from_hub_error(hub_error_from(listing.error()));
    }
    return error_reply(
        401, "GatedRepo",
        "Access to " + route.repo +
            " is restricted: this mirror serves it only to clients with a mirror token");
  }
  if (route.kind == RouteKind::resolve) return pull_file(req, route);
  auto listing = m_upstream->listing(route.type, route.repo, route.revision);
  if (!listing.ok()) {
    // Upstream unreachable: answer from what the cache has.
    if (listing.error().category == ErrorCategory::transient) return from_cache(req, route);
    return from_hub_error(hub_error_from(listing.error()));
  }
  return listing_reply(req, route, listing->commit, listing->files);
}

Reply Handler::pull_file(const Request& req, const Route& route) {
  std::string commit;
  OpenedFile file;
  if (!m_catalog.resolve(route.type, route.repo, route.revision, commit) &&
      !m_catalog.open_verified(route.type, route.repo, commit, route.path, file)) {
    if (!req.finished_job) m_metrics.cache_hit();
    return resolve(req, route, commit, file);
  }
  if (req.finished_job) {  // waited for a download, and the file is still not servable
    Status st = req.finished_job->result();
    if (!st.ok()) return from_hub_error(hub_error_from(st.error()));
    return error_reply(500, "", "the file is not in the cache after its download");
  }
  auto listing = m_upstream->listing(route.type, route.repo, route.revision);
  if (!listing.ok()) {
    if (listing.error().category == ErrorCategory::transient) return from_cache(req, route);
    return from_hub_error(hub_error_from(listing.error()));
  }
  auto it = std::find_if(listing->files.begin(), listing->files.end(),
                         [&](const Entry& e) { return e.path == route.path; });
  if (it == listing->files.end()) {
    Reply r =
        error_reply(404, "EntryNotFound", route.path + " does not exist at " + listing->commit);
    r.header("X-Repo-Commit", listing->commit);
    return r;
  }
  // A branch whose cached ref is older than upstream's: the new commit's file may be cached.
  if (!m_catalog.open_verified(route.type, route.repo, listing->commit, route.path, file)) {
    m_metrics.cache_hit();
    return resolve(req, route, listing->commit, file);
  }
  m_metrics.cache_miss();
  Reply r;
  r.route = "resolve";
  r.wait = m_upstream->fetch(route.type, route.repo, route.revision, listing->commit, *it);
  return r;
}

std::string Handler::base_url(const Request& req) const {
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

Reply Handler::resolve(const Request& req, const Route&, const std::string& commit,
                       OpenedFile& file) {
  const Entry& e = file.entry;
  Reply r;
  r.header("X-Repo-Commit", commit);
  r.header("ETag", "\"" + e.etag + "\"");
  if (e.is_lfs()) {
    r.header("X-Linked-Etag", "\"" + e.etag + "\"");
    r.header("X-Linked-Size", std::to_string(e.size));
  }
  r.header("Accept-Ranges", "bytes");
  ByteRange range;
  switch (parse_range(req.range, e.size, range)) {
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
  r.fd = std::move(file.fd);
  r.offset = range.start;
  r.length = range.length;
  return r;
}

Reply Handler::health() const {
  json repos = json::array();
  for (const auto& id : m_catalog.repos()) {
    repos.push_back(json{{"type", to_string(id.type)}, {"repo", id.repo}});
  }
  json doc{{"ready", true}, {"cache", m_config.cache_path}, {"repos", std::move(repos)}};
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
