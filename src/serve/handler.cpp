#include "serve/handler.hpp"

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

Reply from_hub_error(const HubError& e) {
  return error_reply(e.status, e.code, e.message);
}

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
  std::string commit;
  if (auto err = m_catalog.resolve(route.type, route.repo, route.revision, commit))
    return from_hub_error(*err);
  switch (route.kind) {
    case RouteKind::revision:
      return revision(req, route, commit);
    case RouteKind::tree:
      return tree(req, route, commit);
    case RouteKind::paths_info:
      return paths_info(req, route, commit);
    case RouteKind::resolve:
      return resolve(req, route, commit);
    default:
      return error_reply(404, "", "Not found");
  }
}

Reply Handler::revision(const Request& req, const Route& route, const std::string& commit) {
  auto files = m_catalog.list(route.type, route.repo, commit);
  bool blobs = truthy(parse_query(req.target), "blobs");
  return json_reply(200, revision_json(RepoId{route.type, route.repo}, commit, files, blobs));
}

std::string Handler::base_url(const Request& req) const {
  return "http://" + (host_ok(req.host) ? req.host : m_config.fallback_host);
}

Reply Handler::tree(const Request& req, const Route& route, const std::string& commit) {
  auto query = parse_query(req.target);
  auto entries = tree_entries(m_catalog.list(route.type, route.repo, commit), route.path,
                              truthy(query, "recursive"), truthy(query, "expand"), commit);
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
    std::string next = base_url(req) + path +
                       "?recursive=" + (truthy(query, "recursive") ? "true" : "false") +
                       "&expand=" + (truthy(query, "expand") ? "true" : "false") +
                       "&cursor=" + std::to_string(offset + page);
    r.header("Link", "<" + next + ">; rel=\"next\"");
  }
  return r;
}

Reply Handler::paths_info(const Request& req, const Route& route, const std::string& commit) {
  std::vector<std::string> paths;
  bool expand = false;
  if (!parse_paths_body(req.body, paths, expand))
    return error_reply(400, "", "expected a 'paths' list");
  return json_reply(200, serve::paths_info(m_catalog.list(route.type, route.repo, commit), paths,
                                           expand, commit));
}

Reply Handler::resolve(const Request& req, const Route& route, const std::string& commit) {
  OpenedFile file;
  if (auto err = m_catalog.open_verified(route.type, route.repo, commit, route.path, file)) {
    Reply r = from_hub_error(*err);
    if (err->status == 404) r.header("X-Repo-Commit", commit);
    return r;
  }
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
      r.header("Content-Range", "bytes " + std::to_string(range.start) + "-" +
                                    std::to_string(range.start + range.length - 1) + "/" +
                                    std::to_string(e.size));
      break;
    case RangeKind::none:
      range = {0, e.size};
      break;
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
  Reply r;
  r.body = m_metrics.render(extra);
  r.header("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
  return r;
}

}  // namespace mb::serve
