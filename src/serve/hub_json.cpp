#include "serve/hub_json.hpp"

#include <map>
#include <set>

#include "core/hash.hpp"
#include "serve/route.hpp"

namespace mb::serve {

namespace {

using json = nlohmann::ordered_json;

std::string oid_of(const Entry& e) { return e.is_lfs() ? lfs_pointer_oid(e.etag, e.size) : e.etag; }

json last_commit(const std::string& commit) {
  return json{{"id", commit}, {"title", ""}, {"date", "1970-01-01T00:00:00.000Z"}};
}

json file_entry(const Entry& e, bool expand, const std::string& commit) {
  json j{{"type", "file"}, {"oid", oid_of(e)}, {"size", e.size}, {"path", e.path}};
  if (e.is_lfs()) {
    j["lfs"] = {
        {"oid", e.etag}, {"size", e.size}, {"pointerSize", lfs_pointer_size(e.etag, e.size)}};
  }
  if (expand) j["lastCommit"] = last_commit(commit);
  return j;
}

json dir_entry(const std::string& path, bool expand, const std::string& commit) {
  // Not a git tree id (the cache has no trees): a stable name for the folder at this commit.
  json j{{"type", "directory"},
         {"oid", sha1_hex("tree " + commit + "/" + path)},
         {"size", 0},
         {"path", path}};
  if (expand) j["lastCommit"] = last_commit(commit);
  return j;
}

std::set<std::string> folders_of(const std::vector<Entry>& files) {
  std::set<std::string> dirs;
  for (const auto& f : files) {
    for (size_t pos = f.path.find('/'); pos != std::string::npos; pos = f.path.find('/', pos + 1)) {
      dirs.insert(f.path.substr(0, pos));
    }
  }
  return dirs;
}

}  // namespace

std::string lfs_pointer(const std::string& sha256, uint64_t size) {
  return "version https://git-lfs.github.com/spec/v1\noid sha256:" + sha256 + "\nsize " +
         std::to_string(size) + "\n";
}

std::string lfs_pointer_oid(const std::string& sha256, uint64_t size) {
  return git_blob_sha1_hex(lfs_pointer(sha256, size));
}

size_t lfs_pointer_size(const std::string& sha256, uint64_t size) {
  return lfs_pointer(sha256, size).size();
}

json revision_json(const RepoId& id, const std::string& commit, const std::vector<Entry>& files,
                   bool blobs, const std::string& access) {
  json siblings = json::array();
  for (const auto& f : files) {
    json s{{"rfilename", f.path}};
    if (blobs) {
      s["size"] = f.size;
      s["blobId"] = oid_of(f);
      if (f.is_lfs()) {
        s["lfs"] = {{"sha256", f.etag},
                    {"size", f.size},
                    {"pointerSize", lfs_pointer_size(f.etag, f.size)}};
      }
    }
    siblings.push_back(std::move(s));
  }
  size_t slash = id.repo.find('/');
  json doc{{"_id", sha1_hex(std::string(to_string(id.type)) + "/" + id.repo).substr(0, 24)},
           {"id", id.repo}};
  if (id.type == RepoType::model) doc["modelId"] = id.repo;
  doc["author"] = slash == std::string::npos ? json(nullptr) : json(id.repo.substr(0, slash));
  doc["sha"] = commit;
  doc["private"] = access == "private";
  // The cache does not keep the gating mode; "auto" is the hub's default.
  doc["gated"] = access == "gated" ? json("auto") : json(false);
  doc["disabled"] = false;
  doc["lastModified"] = "1970-01-01T00:00:00.000Z";
  doc["tags"] = json::array();
  doc["siblings"] = std::move(siblings);
  return doc;
}

std::optional<std::vector<json>> tree_entries(const std::vector<Entry>& files,
                                              const std::string& base, bool recursive, bool expand,
                                              const std::string& commit) {
  std::set<std::string> dirs = folders_of(files);
  if (!base.empty() && !dirs.count(base)) return std::nullopt;
  std::string prefix = base.empty() ? "" : base + "/";
  auto wanted = [&](const std::string& p) {
    if (p.compare(0, prefix.size(), prefix) != 0) return false;
    return recursive || p.find('/', prefix.size()) == std::string::npos;
  };
  std::map<std::string, json> sorted;
  for (const auto& d : dirs) {
    if (wanted(d)) sorted.emplace(d, dir_entry(d, expand, commit));
  }
  for (const auto& f : files) {
    if (wanted(f.path)) sorted.emplace(f.path, file_entry(f, expand, commit));
  }
  std::vector<json> out;
  out.reserve(sorted.size());
  for (auto& [_, j] : sorted) out.push_back(std::move(j));
  return out;
}

std::vector<json> paths_info(const std::vector<Entry>& files, const std::vector<std::string>& paths,
                             bool expand, const std::string& commit) {
  std::set<std::string> want(paths.begin(), paths.end());
  std::set<std::string> dirs = folders_of(files);
  std::map<std::string, json> sorted;
  for (const auto& d : dirs) {
    if (want.count(d)) sorted.emplace(d, dir_entry(d, expand, commit));
  }
  for (const auto& f : files) {
    if (want.count(f.path)) sorted.emplace(f.path, file_entry(f, expand, commit));
  }
  std::vector<json> out;
  out.reserve(sorted.size());
  for (auto& [_, j] : sorted) out.push_back(std::move(j));
  return out;
}

bool parse_paths_body(const std::string& body, std::vector<std::string>& paths, bool& expand) {
  paths.clear();
  expand = false;
  auto doc = nlohmann::json::parse(body, nullptr, false);
  if (!doc.is_discarded()) {
    if (!doc.is_object() || !doc.contains("paths")) return false;
    const auto& p = doc["paths"];
    if (p.is_string()) {
      paths.push_back(p.get<std::string>());
    } else if (p.is_array()) {
      for (const auto& x : p) {
        if (x.is_string()) paths.push_back(x.get<std::string>());
      }
    } else {
      return false;
    }
    if (doc.contains("expand") && doc["expand"].is_boolean()) expand = doc["expand"].get<bool>();
    return true;
  }
  // huggingface_hub sends a form: repeated "paths" keys.
  bool any = false;
  for (const auto& [k, v] : parse_form(body)) {
    if (k == "paths") {
      paths.push_back(v);
      any = true;
    } else if (k == "expand") {
      expand = v == "true" || v == "True" || v == "1";
    }
  }
  return any || body.empty();
}

}  // namespace mb::serve
