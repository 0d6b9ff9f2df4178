#include "serve/route.hpp"

#include <vector>

#include "core/hash.hpp"
#include "core/paths.hpp"

namespace mb::serve {

namespace {

std::vector<std::string_view> split_segments(std::string_view path) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (start <= path.size()) {
    size_t pos = path.find('/', start);
    if (pos == std::string_view::npos) pos = path.size();
    out.push_back(path.substr(start, pos - start));
    start = pos + 1;
  }
  return out;
}

Failure bad_target(const std::string& why) {
  return fail(ErrorCategory::usage, "bad request target: " + why);
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Joins decoded segments [from, to) with '/'.
Result<std::string> join_decoded(const std::vector<std::string_view>& segs, size_t from,
                                 size_t to) {
  std::string out;
  for (size_t i = from; i < to; ++i) {
    MB_ASSIGN(std::string part, percent_decode(segs[i]));
    if (i > from) out += '/';
    out += part;
  }
  return out;
}

bool is_api_action(std::string_view s) {
  return s == "revision" || s == "tree" || s == "paths-info";
}

// The revision is one (encoded) segment, except refs/pr/N that some clients send unencoded.
size_t revision_segments(const std::vector<std::string_view>& segs, size_t at) {
  if (segs.size() >= at + 3 && segs[at] == "refs" && segs[at + 1] == "pr") return 3;
  return 1;
}

Status check_names(const Route& r) {
  MB_TRY(validate_repo_id(r.repo));
  if (!is_lower_hex(r.revision, 40)) MB_TRY(validate_revision(r.revision));
  if (r.kind == RouteKind::resolve || r.kind == RouteKind::raw || !r.path.empty())
    MB_TRY(validate_relative_path(r.path, "request path"));
  return {};
}

// Whatever the validator's category, a bad name in a request is the client's mistake (400).
Status validate_route(const Route& r) {
  Status st = check_names(r);
  if (st.ok()) return st;
  Error e = st.take_error();
  e.category = ErrorCategory::usage;
  return e;
}

// segs: what follows /api/{models,datasets}/
Result<Route> parse_api(Route r, const std::vector<std::string_view>& segs) {
  size_t repo_len = 0;
  if (segs.size() >= 3 && is_api_action(segs[2])) {
    repo_len = 2;
  } else if (segs.size() >= 2 && is_api_action(segs[1])) {
    repo_len = 1;
  } else if (segs.size() == 1 || segs.size() == 2) {
    repo_len = segs.size();  // /api/models/{repo}: repo info at main
  } else {
    return r;  // unknown
  }
  MB_ASSIGN(r.repo, join_decoded(segs, 0, repo_len));
  std::string_view action = repo_len < segs.size() ? segs[repo_len] : "revision";
  size_t rev_at = repo_len + 1;
  if (rev_at >= segs.size()) {
    if (action != "revision") return bad_target("missing revision");
    r.kind = RouteKind::revision;
    r.revision = "main";
    MB_TRY(validate_route(r));
    return r;
  }
  size_t n = revision_segments(segs, rev_at);
  MB_ASSIGN(r.revision, join_decoded(segs, rev_at, rev_at + n));
  size_t rest = rev_at + n;
  if (action == "tree") {
    r.kind = RouteKind::tree;
    // A trailing '/' (tree/main/) names the root.
    size_t end = segs.size();
    if (end > rest && segs[end - 1].empty()) --end;
    MB_ASSIGN(r.path, join_decoded(segs, rest, end));
  } else if (rest != segs.size()) {
    return r;  // revision/{rev}/extra or paths-info/{rev}/extra: unknown
  } else {
    r.kind = action == "revision" ? RouteKind::revision : RouteKind::paths_info;
  }
  MB_TRY(validate_route(r));
  return r;
}

// segs: the whole path, datasets/ prefix removed.
Result<Route> parse_resolve(Route r, const std::vector<std::string_view>& segs) {
  auto file_action = [](std::string_view s) { return s == "resolve" || s == "raw"; };
  size_t repo_len = 0;
  if (segs.size() >= 4 && file_action(segs[2])) {
    repo_len = 2;
  } else if (segs.size() >= 3 && file_action(segs[1])) {
    repo_len = 1;
  } else {
    return r;
  }
  r.kind = segs[repo_len] == "raw" ? RouteKind::raw : RouteKind::resolve;
  MB_ASSIGN(r.repo, join_decoded(segs, 0, repo_len));
  size_t rev_at = repo_len + 1;
  size_t n = revision_segments(segs, rev_at);
  if (rev_at + n >= segs.size()) return bad_target("missing file path");
  MB_ASSIGN(r.revision, join_decoded(segs, rev_at, rev_at + n));
  MB_ASSIGN(r.path, join_decoded(segs, rev_at + n, segs.size()));
  MB_TRY(validate_route(r));
  return r;
}

}  // namespace

const char* to_string(RouteKind kind) {
  switch (kind) {
    case RouteKind::health: return "health";
    case RouteKind::metrics: return "metrics";
    case RouteKind::revision: return "revision";
    case RouteKind::tree: return "tree";
    case RouteKind::paths_info: return "paths_info";
    case RouteKind::resolve: return "resolve";
    case RouteKind::raw: return "raw";
    case RouteKind::unknown: return "unknown";
  }
  return "unknown";
}

Result<std::string> percent_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '%') {
      int hi = i + 1 < s.size() ? hex_value(s[i + 1]) : -1;
      int lo = i + 2 < s.size() ? hex_value(s[i + 2]) : -1;
      if (hi < 0 || lo < 0) return bad_target("bad percent escape");
      c = static_cast<char>(hi * 16 + lo);
      i += 2;
    }
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return bad_target("control character");
    out += c;
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> parse_form(std::string_view text) {
  std::vector<std::pair<std::string, std::string>> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t amp = text.find('&', start);
    if (amp == std::string_view::npos) amp = text.size();
    std::string pair(text.substr(start, amp - start));
    start = amp + 1;
    for (char& c : pair) {
      if (c == '+') c = ' ';
    }
    size_t eq = pair.find('=');
    auto k = percent_decode(std::string_view(pair).substr(0, eq));
    auto v = percent_decode(eq == std::string::npos ? std::string_view()
                                                    : std::string_view(pair).substr(eq + 1));
    if (k.ok() && v.ok() && !k->empty()) out.emplace_back(std::move(*k), std::move(*v));
  }
  return out;
}

std::map<std::string, std::string> parse_query(std::string_view target) {
  std::map<std::string, std::string> out;
  size_t q = target.find('?');
  if (q == std::string_view::npos) return out;
  for (auto& [k, v] : parse_form(target.substr(q + 1))) out[k] = std::move(v);
  return out;
}

Result<Route> parse_route(std::string_view target) {
  if (target.size() > 8192) return bad_target("too long");
  std::string_view path = target.substr(0, target.find('?'));
  if (path.empty() || path.front() != '/') return bad_target("not an absolute path");
  Route r;
  if (path == "/health") {
    r.kind = RouteKind::health;
    return r;
  }
  if (path == "/metrics") {
    r.kind = RouteKind::metrics;
    return r;
  }
  std::vector<std::string_view> segs = split_segments(path.substr(1));
  if (segs.size() >= 2 && segs[0] == "api" && (segs[1] == "models" || segs[1] == "datasets")) {
    r.type = segs[1] == "models" ? RepoType::model : RepoType::dataset;
    return parse_api(r, std::vector<std::string_view>(segs.begin() + 2, segs.end()));
  }
  if (!segs.empty() && segs[0] == "datasets") {
    r.type = RepoType::dataset;
    return parse_resolve(r, std::vector<std::string_view>(segs.begin() + 1, segs.end()));
  }
  return parse_resolve(r, segs);
}

}  // namespace mb::serve
