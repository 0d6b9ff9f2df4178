#include "hub/client.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

#include "core/hash.hpp"
#include "core/log.hpp"
#include "core/paths.hpp"
#include "core/text.hpp"
#include "net/url.hpp"

namespace mb::hub {
namespace {

using nlohmann::json;

// Upper bounds that stop a hostile or broken server from looping us forever.
constexpr size_t k_max_pages = 10'000;
constexpr size_t k_max_entries = 5'000'000;

Error hostile(std::string_view what, const std::string& why) {
  return make_error(
      ErrorCategory::permanent, std::string(what) + ": invalid response from the hub: " + why,
      "the endpoint does not behave like a Hugging Face hub; check --endpoint/HF_ENDPOINT");
}

// Decimal size within k_max_file_size; nullopt otherwise.
std::optional<uint64_t> parse_size(std::string_view s) {
  if (s.empty() || s.size() > 16) return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  if (v > k_max_file_size) return std::nullopt;
  return v;
}

std::optional<uint64_t> json_size(const json& j) {
  if (!j.is_number_unsigned()) return std::nullopt;
  uint64_t v = j.get<uint64_t>();
  if (v > k_max_file_size) return std::nullopt;
  return v;
}

// URL of Link rel="next" among all Link headers, or nullopt.
// The URL of the first Link relation `rel` (RFC 8288; rel may list several values).
std::optional<std::string> find_link(const net::Headers& headers, std::string_view wanted) {
  for (const std::string& value : headers.get_all("Link")) {
    size_t pos = 0;
    while (pos < value.size()) {
      size_t open = value.find('<', pos);
      if (open == std::string::npos) break;
      size_t close = value.find('>', open);
      if (close == std::string::npos) break;
      std::string url = value.substr(open + 1, close - open - 1);
      size_t next_open = value.find('<', close);
      std::string params = ascii_lower(value.substr(
          close + 1, next_open == std::string::npos ? std::string::npos : next_open - close - 1));
      size_t rel = params.find("rel=");
      if (rel != std::string::npos) {
        std::string v = params.substr(rel + 4);
        v = v.substr(0, v.find(';'));
        if (!v.empty() && v[0] == '"') v = v.substr(1, v.find('"', 1) - 1);
        // rel may hold several space-separated values ("next last").
        size_t p = 0;
        while (p <= v.size()) {
          size_t sp = v.find(' ', p);
          std::string token = v.substr(p, sp == std::string::npos ? std::string::npos : sp - p);
          if (token == wanted) return url;
          if (sp == std::string::npos) break;
          p = sp + 1;
        }
      }
      pos = close + 1;
    }
  }
  return std::nullopt;
}

Result<FileEntry> parse_entry(const json& item, std::string_view what) {
  FileEntry f;
  const std::string& path = item["path"].get_ref<const std::string&>();
  Status valid = validate_repo_file_path(path, "file name from server");
  if (!valid.ok()) {
    Error e = valid.take_error();
    e.category = ErrorCategory::permanent;
    return e.with_context(std::string(what));
  }
  f.path = path;
  const std::string shown = "entry '" + path + "'";
  if (!item.contains("oid") || !item["oid"].is_string() ||
      !is_lower_hex(ascii_lower(item["oid"].get<std::string>()), 40)) {
    return hostile(what, shown + " has no valid 40-hex oid");
  }
  f.git_oid = ascii_lower(item["oid"].get<std::string>());
  if (item.contains("xetHash") && item["xetHash"].is_string()) {
    std::string xet = ascii_lower(item["xetHash"].get<std::string>());
    // A redacted or malformed hash is ignored (huggingface_hub does the same): the file
    // is then downloaded through /resolve/, which names its hash again.
    if (is_lower_hex(xet, 64)) f.xet_hash = xet;
  }
  auto size = item.contains("size") ? json_size(item["size"]) : std::nullopt;
  if (!size) return hostile(what, shown + " has a missing or absurd size");
  f.size = *size;
  if (item.contains("lfs") && !item["lfs"].is_null()) {
    const json& lfs = item["lfs"];
    if (!lfs.is_object() || !lfs.contains("oid") || !lfs["oid"].is_string() ||
        !is_lower_hex(ascii_lower(lfs["oid"].get<std::string>()), 64)) {
      return hostile(what, shown + " has an LFS pointer without a 64-hex sha256");
    }
    f.lfs_sha256 = ascii_lower(lfs["oid"].get<std::string>());
    if (lfs.contains("size")) {
      auto lsize = json_size(lfs["size"]);
      if (!lsize) return hostile(what, shown + " has an absurd LFS size");
      f.lfs_size = *lsize;
      f.size = *lsize;  // the real content size; top-level size is usually the same
    }
  }
  return f;
}

// Appends the files of one tree page to `out`.
Status parse_tree_page(const std::string& body, std::string_view what,
                       std::vector<FileEntry>& out) {
  json page = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (page.is_discarded()) return hostile(what, "tree listing is not valid JSON");
  if (!page.is_array()) return hostile(what, "tree listing is not a JSON array");
  try {
    for (const json& item : page) {
      if (!item.is_object() || !item.contains("type") || !item["type"].is_string() ||
          !item.contains("path") || !item["path"].is_string()) {
        return hostile(what, "tree entry without type or path");
      }
      const std::string& type = item["type"].get_ref<const std::string&>();
      if (type == "directory") continue;
      if (type != "file") {
        log::debug(std::string(what) + ": skipping tree entry of type '" + type + "'");
        continue;
      }
      MB_ASSIGN(FileEntry f, parse_entry(item, what));
      out.push_back(std::move(f));
      if (out.size() > k_max_entries) return hostile(what, "more than 5 million files");
    }
  } catch (const json::exception& e) {
    return hostile(what, std::string("malformed tree listing: ") + e.what());
  }
  return {};
}

// Sorted, no duplicates, and no path that is also a parent directory of another path.
Status check_listing(std::vector<FileEntry>& files, std::string_view what) {
  std::sort(files.begin(), files.end(),
            [](const FileEntry& a, const FileEntry& b) { return a.path < b.path; });
  std::set<std::string_view> paths;
  for (const auto& f : files) {
    if (!paths.insert(f.path).second) return hostile(what, "file '" + f.path + "' listed twice");
  }
  for (const auto& f : files) {
    for (size_t slash = f.path.find('/'); slash != std::string::npos;
         slash = f.path.find('/', slash + 1)) {
      if (paths.count(std::string_view(f.path).substr(0, slash)) != 0) {
        return hostile(
            what, "'" + f.path.substr(0, slash) + "' is listed both as a file and as a folder");
      }
    }
  }
  return {};
}

}  // namespace

bool is_commit_hash(std::string_view s) { return is_lower_hex(s, 40); }

std::string normalize_etag(std::string_view etag) {
  if (etag.substr(0, 2) == "W/") etag.remove_prefix(2);
  while (!etag.empty() && etag.front() == '"') etag.remove_prefix(1);
  while (!etag.empty() && etag.back() == '"') etag.remove_suffix(1);
  return std::string(etag);
}

HubClient::HubClient(net::Transport& transport, Clock& clock, ClientOptions options)
    : m_transport(transport), m_clock(clock), m_options(std::move(options)) {
  while (!m_options.endpoint.empty() && m_options.endpoint.back() == '/')
    m_options.endpoint.pop_back();
  if (auto url = net::parse_url(m_options.endpoint); url.ok()) {
    m_endpoint_scope = url->credential_scope();
    m_endpoint_origin = url->origin();
    m_endpoint_path = url->path() == "/" ? "" : url->path();
  }
  if (m_options.token) log::add_secret(*m_options.token);
}

std::string HubClient::api_url(RepoType type, const std::string& repo) const {
  return endpoint() + "/api/" + to_string(type) + "s/" + repo;
}

std::string HubClient::resolve_url(RepoType type, const std::string& repo,
                                   const std::string& revision, const std::string& path) const {
  return endpoint() + "/" + (type == RepoType::dataset ? "datasets/" : "") + repo + "/resolve/" +
         net::encode_revision(revision) + "/" + net::encode_path(path);
}

net::Request HubClient::base_request(net::Method method, std::string url) const {
  net::Request r;
  r.method = method;
  r.url = std::move(url);
  r.connect_timeout = m_options.connect_timeout;
  r.total_timeout = m_options.metadata_timeout;
  if (m_options.token) r.bearer = net::BearerToken{*m_options.token, m_endpoint_scope};
  return r;
}

net::Request HubClient::download_request(const std::string& location,
                                         std::optional<net::ByteRange> range) const {
  net::Request r = base_request(net::Method::get, location);
  r.range = range;
  r.total_timeout = std::chrono::milliseconds(0);
  if (range && range->last && *range->last >= range->first && m_options.download_min_rate > 0) {
    uint64_t bytes = *range->last - range->first + 1;
    uint64_t ms = bytes / m_options.download_min_rate * 1000 +
                  (bytes % m_options.download_min_rate) * 1000 / m_options.download_min_rate;
    r.total_timeout = m_options.download_base + std::chrono::milliseconds(ms);
  }
  return r;
}

Result<net::Response> HubClient::send(const net::Request& request) const {
  return net::perform_with_retry(m_transport, request, m_options.retry, m_clock);
}

Result<net::Response> HubClient::get_api(std::string url, RepoType type, const std::string& repo,
                                         std::string_view what) const {
  std::string current = repo;
  const std::string head = "/api/" + std::string(to_string(type)) + "s/";
  for (int hops = 0;; ++hops) {
    MB_ASSIGN(net::Response r, send(base_request(net::Method::get, url)));
    if (!r.is_redirect()) return r;
    auto location = r.headers.get("Location");
    if (!location || location->empty()) return hostile(what, "redirect without a Location");
    auto next = net::resolve_reference(url, *location);
    if (!next.ok()) return hostile(what, "bad redirect Location: " + next.error().message);
    auto parsed = net::parse_url(*next);
    if (!parsed.ok() || parsed->origin() != m_endpoint_origin) {
      return hostile(what, "the hub redirected an API call to another server (" +
                               net::redact_url(*next) + "); refusing to follow it");
    }
    if (hops >= m_options.max_redirects) return hostile(what, "too many redirects");
    if (auto renamed = note_redirect(type, repo, current, url, *next, head)) current = *renamed;
    url = *next;
  }
}

std::optional<std::string> HubClient::note_redirect(RepoType type, const std::string& original,
                                                    const std::string& current,
                                                    const std::string& from, const std::string& to,
                                                    const std::string& head) const {
  auto f = net::parse_url(from), t = net::parse_url(to);
  if (!f.ok() || !t.ok()) return std::nullopt;
  const std::string fp = f->path(), tp = t->path(), prefix = m_endpoint_path + head;
  if (fp.rfind(prefix + current + "/", 0) != 0 || tp.rfind(prefix, 0) != 0) return std::nullopt;
  const std::string suffix = fp.substr(prefix.size() + current.size());
  if (tp.size() <= prefix.size() + suffix.size() ||
      tp.compare(tp.size() - suffix.size(), suffix.size(), suffix) != 0) {
    return std::nullopt;
  }
  std::string renamed = tp.substr(prefix.size(), tp.size() - prefix.size() - suffix.size());
  if (renamed == current || !validate_repo_id(renamed).ok()) return std::nullopt;
  std::lock_guard lock(m_renames_mutex);
  std::string& slot = m_renames[std::string(to_string(type)) + ":" + original];
  if (slot != renamed)
    log::info(std::string(to_string(type)) + " " + original + " was renamed to " + renamed);
  slot = renamed;
  return renamed;
}

std::optional<std::string> HubClient::renamed_to(RepoType type, const std::string& repo) const {
  std::lock_guard lock(m_renames_mutex);
  auto it = m_renames.find(std::string(to_string(type)) + ":" + repo);
  if (it == m_renames.end()) return std::nullopt;
  return it->second;
}

Result<std::string> HubClient::resolve_revision(RepoType type, const std::string& repo,
                                                const std::string& revision) const {
  MB_TRY(validate_repo_id(repo));
  if (is_commit_hash(revision)) return revision;
  MB_TRY(validate_revision(revision));
  const std::string what = repo + "@" + revision;
  MB_ASSIGN(net::Response r,
            get_api(api_url(type, repo) + "/revision/" + net::encode_revision(revision), type, repo,
                    what));
  if (!r.is_success()) return error_from_response(r, type, repo, what);
  json j = json::parse(r.body, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return hostile(what, "revision info is not a JSON object");
  if (!j.contains("sha") || !j["sha"].is_string() || !is_commit_hash(j["sha"].get<std::string>())) {
    return hostile(what, "revision info has no valid 40-hex 'sha'");
  }
  return j["sha"].get<std::string>();
}

Result<RepoAccess> HubClient::repo_access(RepoType type, const std::string& repo,
                                          const std::string& revision) const {
  MB_TRY(validate_repo_id(repo));
  if (!is_commit_hash(revision)) MB_TRY(validate_revision(revision));
  const std::string what = repo + "@" + revision;
  MB_ASSIGN(net::Response r,
            get_api(api_url(type, repo) + "/revision/" + net::encode_revision(revision), type, repo,
                    what));
  if (!r.is_success()) return error_from_response(r, type, repo, what);
  json j = json::parse(r.body, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("sha") || !j["sha"].is_string() ||
      !is_commit_hash(j["sha"].get<std::string>())) {
    return hostile(what, "revision info has no valid 40-hex 'sha'");
  }
  RepoAccess a;
  a.commit = j["sha"].get<std::string>();
  a.is_private = j.contains("private") && j["private"].is_boolean() && j["private"].get<bool>();
  if (j.contains("gated")) {
    const json& g = j["gated"];
    // Anything but `false` (or absent) counts as gated: fail closed on an unknown shape.
    if (g.is_string()) {
      a.gated = sanitize_for_display(g.get<std::string>(), 16);
      if (a.gated.empty()) a.gated = "yes";
    } else if (g.is_boolean() ? g.get<bool>() : !g.is_null()) {
      a.gated = "yes";
    }
  }
  return a;
}

Result<std::vector<FileEntry>> HubClient::list_files(RepoType type, const std::string& repo,
                                                     const std::string& commit) const {
  MB_TRY(validate_repo_id(repo));
  if (!is_commit_hash(commit)) {
    return fail(ErrorCategory::usage, "list_files needs a 40-hex commit, got '" + commit + "'");
  }
  const std::string what = repo + "@" + commit;
  std::vector<FileEntry> files;
  std::set<std::string> seen;
  std::string url = api_url(type, repo) + "/tree/" + commit + "?recursive=true&expand=false";
  for (size_t page = 0;; ++page) {
    if (page >= k_max_pages || !seen.insert(url).second) {
      return hostile(what, "tree pagination does not end");
    }
    MB_ASSIGN(net::Response r, get_api(url, type, repo, what));
    if (!r.is_success()) return error_from_response(r, type, repo, what);
    MB_TRY(parse_tree_page(r.body, what, files));
    auto next = find_link(r.headers, "next");
    if (!next) break;
    // Relative links resolve against the page that carried them (redirects included). A page
    // on another origin is followed, as huggingface_hub does, but never gets the token: the
    // transport binds it to the endpoint's scheme, host and port.
    auto resolved = net::resolve_reference(r.effective_url.empty() ? url : r.effective_url, *next);
    if (!resolved.ok()) return hostile(what, "bad pagination link: " + resolved.error().message);
    url = *resolved;
  }
  MB_TRY(check_listing(files, what));
  return files;
}

// A /resolve/ redirect is a hop to follow (a renamed repo), not the download location, when
// its Location is relative (huggingface_hub's rule), or absolute on the endpoint's origin and
// without any file metadata (a CDN redirect always carries X-Repo-Commit/X-Linked-Etag).
// X-Xet-Hash and the Link relations of a Xet-backed file (docs/hub-protocol.md, "Xet").
void HubClient::read_xet_headers(const net::Response& r, const std::string& url,
                                 FileMetadata& meta) const {
  auto hash = r.headers.get("X-Xet-Hash");
  if (!hash || !is_lower_hex(ascii_lower(*hash), 64)) return;
  meta.xet_hash = ascii_lower(*hash);
  if (auto auth = find_link(r.headers, "xet-auth")) {
    if (auto u = net::resolve_reference(url, *auth); u.ok()) meta.xet_auth_url = *u;
  }
  if (auto info = find_link(r.headers, "xet-reconstruction-info")) {
    if (auto u = net::resolve_reference(url, *info); u.ok()) meta.xet_reconstruction_url = *u;
  }
}

bool HubClient::is_rename_hop(const net::Response& r, const std::string& next) const {
  auto parsed = net::parse_url(next);
  return parsed.ok() && parsed->origin() == m_endpoint_origin && !r.headers.has("X-Repo-Commit") &&
         !r.headers.has("X-Linked-Etag") && !r.headers.has("X-Linked-Size");
}

Result<FileMetadata> HubClient::file_metadata(RepoType type, const std::string& repo,
                                              const std::string& revision,
                                              const std::string& path) const {
  MB_TRY(validate_repo_id(repo));
  if (!is_commit_hash(revision)) MB_TRY(validate_revision(revision));
  MB_TRY(validate_repo_file_path(path, "file path"));
  const std::string what = repo + "@" + revision + ": " + path;
  std::string url = resolve_url(type, repo, revision, path);
  std::string current = repo;
  const std::string head = type == RepoType::dataset ? "/datasets/" : "/";
  net::Response r;
  FileMetadata meta;
  for (int hops = 0;; ++hops) {
    net::Request req = base_request(net::Method::head, url);
    req.headers.add("Accept-Encoding", "identity");  // we want the real size
    MB_ASSIGN(r, send(req));
    if (!r.is_redirect()) break;
    auto location = r.headers.get("Location");
    if (!location || location->empty()) return hostile(what, "redirect without a Location");
    auto next = net::resolve_reference(url, *location);
    if (!next.ok()) return hostile(what, "bad redirect Location: " + next.error().message);
    if (!net::is_relative_reference(*location) && !is_rename_hop(r, *next)) {
      meta.location = *next;  // the download location (CDN), described by this response
      meta.redirected = true;
      break;
    }
    // A renamed repo: the redirect stays on the hub; follow it, token included.
    if (hops >= m_options.max_redirects) return hostile(what, "too many redirects");
    if (auto renamed = note_redirect(type, repo, current, url, *next, head)) current = *renamed;
    url = *next;
  }
  if (!r.is_success() && !meta.redirected) return error_from_response(r, type, repo, what);
  if (!meta.redirected) meta.location = url;

  auto commit = r.headers.get("X-Repo-Commit");
  if (!commit || !is_commit_hash(ascii_lower(*commit))) {
    return hostile(what, "no valid X-Repo-Commit header (is this a Hugging Face hub?)");
  }
  meta.commit = ascii_lower(*commit);
  if (is_commit_hash(revision) && meta.commit != revision) {
    return hostile(what,
                   "asked for commit " + revision + " but the hub answered for " + meta.commit);
  }
  auto etag = r.headers.get("X-Linked-Etag");
  if (!etag) etag = r.headers.get("ETag");
  if (!etag) return hostile(what, "no ETag or X-Linked-Etag header");
  meta.etag = ascii_lower(normalize_etag(*etag));
  if (!is_lower_hex(meta.etag, 40) && !is_lower_hex(meta.etag, 64)) {
    return hostile(what, "etag is neither a git sha1 nor a sha256");
  }
  auto size_text = r.headers.get("X-Linked-Size");
  // A redirect's own Content-Length describes the redirect body, not the file.
  if (!size_text && !meta.redirected) size_text = r.headers.get("Content-Length");
  if (!size_text) return hostile(what, "no X-Linked-Size or Content-Length header");
  auto size = parse_size(*size_text);
  if (!size) return hostile(what, "absurd file size '" + size_text->substr(0, 32) + "'");
  meta.size = *size;
  read_xet_headers(r, url, meta);
  return meta;
}

Result<XetToken> HubClient::xet_read_token(RepoType type, const std::string& repo,
                                           const std::string& revision) const {
  MB_TRY(validate_repo_id(repo));
  const std::string what = repo + "@" + revision + " (Xet token)";
  MB_ASSIGN(net::Response r,
            get_api(api_url(type, repo) + "/xet-read-token/" + net::encode_revision(revision), type,
                    repo, what));
  if (!r.is_success()) return error_from_response(r, type, repo, what);
  json j = json::parse(r.body, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("accessToken") ||
      !j["accessToken"].is_string() || !j.contains("casUrl") || !j["casUrl"].is_string() ||
      !j.contains("exp") || !j["exp"].is_number()) {
    return hostile(what, "the Xet token answer lacks accessToken, exp or casUrl");
  }
  XetToken t;
  t.access_token = j["accessToken"].get<std::string>();
  t.exp = j["exp"].is_number_integer() ? j["exp"].get<int64_t>()
                                       : static_cast<int64_t>(j["exp"].get<double>());
  t.cas_url = j["casUrl"].get<std::string>();
  bool clean = !t.access_token.empty() && t.access_token.size() <= 64000;
  for (char c : t.access_token) clean = clean && c > ' ' && c < 127;
  if (!clean) return hostile(what, "the Xet token is empty, too long or not printable");
  while (!t.cas_url.empty() && t.cas_url.back() == '/') t.cas_url.pop_back();
  auto cas = net::parse_url(t.cas_url);
  if (!cas.ok() || !cas->userinfo.empty()) {
    return hostile(what, "the Xet CAS URL is not an http(s) URL without credentials");
  }
  log::add_secret(t.access_token);
  return t;
}

}  // namespace mb::hub
