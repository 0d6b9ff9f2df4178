// Maps a request target of the Hugging Face hub protocol to what it asks for. Pure: no I/O,
// no HTTP library. The target arrives percent-encoded (the server turns the library's own
// unescaping off) so that "refs%2Fpr%2F1" stays one revision segment; every segment is decoded
// here and every name is validated before anything touches the disk.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/error.hpp"
#include "lock/lockfile.hpp"

namespace mb::serve {

enum class RouteKind {
  health,      // GET /health
  metrics,     // GET /metrics
  revision,    // GET /api/{models,datasets}/{repo}[/revision/{rev}]
  tree,        // GET /api/.../{repo}/tree/{rev}[/{path}]
  paths_info,  // POST /api/.../{repo}/paths-info/{rev}
  resolve,     // HEAD/GET /[datasets/]{repo}/resolve/{rev}/{path}
  raw,         // HEAD/GET /[datasets/]{repo}/raw/{rev}/{path} (an LFS file: its pointer)
  unknown,     // anything else: 404
};
const char* to_string(RouteKind kind);
inline bool is_file(RouteKind kind) { return kind == RouteKind::resolve || kind == RouteKind::raw; }

struct Route {
  RouteKind kind = RouteKind::unknown;
  RepoType type = RepoType::model;
  std::string repo;      // "org/name" or "name", validated
  std::string revision;  // branch, tag, refs/pr/N or 40-hex commit, validated
  std::string path;      // repo-relative file (resolve) or folder (tree, may be empty), validated
};

// `target` is the raw request target, query included. A malformed or hostile target
// (traversal, bad escapes, control characters, invalid repo/revision/path) is a usage error:
// the server answers 400.
Result<Route> parse_route(std::string_view target);

// Query parameters of the raw target, decoded (later duplicates win).
std::map<std::string, std::string> parse_query(std::string_view target);
// "a=1&b=x+y&a=2" -> decoded pairs in order ('+' is a space); malformed pairs are skipped.
std::vector<std::pair<std::string, std::string>> parse_form(std::string_view text);

// "%41+b" -> "A+b" ('+' is literal in paths). Fails on a bad escape or a decoded NUL.
Result<std::string> percent_decode(std::string_view s);

}  // namespace mb::serve
