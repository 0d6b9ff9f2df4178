#include "lock/lockfile.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

#include "core/file.hpp"
#include "core/hash.hpp"
#include "core/paths.hpp"

using nlohmann::ordered_json;

namespace mb {

uint64_t LockedModel::total_bytes() const {
  uint64_t n = 0;
  for (const auto& f : files) n += f.size;
  return n;
}

const LockedFile* LockedModel::find_file(std::string_view path) const {
  auto it = std::lower_bound(files.begin(), files.end(), path,
                             [](const LockedFile& f, std::string_view p) { return f.path < p; });
  return (it != files.end() && it->path == path) ? &*it : nullptr;
}

const LockedModel* Lockfile::find_model(std::string_view name) const {
  for (const auto& m : models) {
    if (m.name == name) return &m;
  }
  return nullptr;
}

namespace {

struct LockError {
  std::string source;
  Failure operator()(const std::string& what) const {
    return fail(ErrorCategory::usage, std::string(source) + ": invalid lock: " + what,
                "regenerate it with 'modelbake lock'");
  }
};

std::vector<std::string> string_list(const ordered_json& j) {
  std::vector<std::string> out;
  for (const auto& v : j) out.push_back(v.get<std::string>());
  return out;
}

// A lock nests 3 levels (root, models, a model) plus its expect block, whose manifest side
// is capped at 64 levels. Deeper text is hostile and must be refused before nlohmann sees it:
// ordered_json copies an object's members when its storage grows, recursively, so a lock of
// 100k '[' overflows the stack inside parse() (and dump() recurses once per level too).
constexpr int k_max_lock_depth = 3 + 64;

bool nesting_within(std::string_view text, int max_depth) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) return false;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return true;
}

Result<LockedFile> parse_file(const ordered_json& j, const LockError& err) {
  LockedFile f;
  f.path = j.at("path").get<std::string>();
  Status p = validate_repo_file_path(f.path, "file path in lock");
  if (!p.ok()) return err(p.error().message);
  // get<uint64_t>() takes -1 as 2^64-1 and 10.9 as 10: only a plain unsigned integer is a size.
  const ordered_json& size = j.at("size");
  if (!size.is_number_unsigned()) {
    return err("size of " + f.path + " must be a whole number of bytes, not " +
               size.dump().substr(0, 40));
  }
  f.size = size.get<uint64_t>();
  f.sha256 = j.at("sha256").get<std::string>();
  f.etag = j.at("etag").get<std::string>();
  if (!is_lower_hex(f.sha256, 64)) return err("bad sha256 for " + f.path);
  if (!etag_is_sha256(f.etag) && !etag_is_git_sha1(f.etag)) return err("bad etag for " + f.path);
  if (f.is_lfs() && f.etag != f.sha256) return err("LFS etag differs from sha256 for " + f.path);
  if (j.contains("xet_hash")) {  // optional: locks written before Xet have none
    const ordered_json& x = j.at("xet_hash");
    if (!x.is_string() || !is_lower_hex(x.get<std::string>(), 64) || !f.is_lfs()) {
      return err("bad xet_hash for " + f.path);
    }
    f.xet_hash = x.get<std::string>();
  }
  return f;
}

Result<LockedModel> parse_model(const ordered_json& j, const LockError& err) {
  LockedModel m;
  m.name = j.at("name").get<std::string>();
  m.repo = j.at("repo").get<std::string>();
  auto type = parse_repo_type(j.value("type", "model"));
  if (!type) return err("unknown repo type for " + m.name);
  m.type = *type;
  m.revision = j.at("revision").get<std::string>();
  m.commit = j.at("commit").get<std::string>();
  if (j.contains("include")) m.include = string_list(j.at("include"));
  if (j.contains("exclude")) m.exclude = string_list(j.at("exclude"));
  if (j.contains("expect") && !j.at("expect").is_null()) m.expect_json = j.at("expect").dump();
  if (!validate_repo_id(m.repo).ok()) return err("bad repo id '" + m.repo + "'");
  if (j.contains("renamed_to")) {
    m.renamed_to = j.at("renamed_to").get<std::string>();
    if (!validate_repo_id(m.renamed_to).ok()) return err("bad renamed_to '" + m.renamed_to + "'");
  }
  if (!validate_revision(m.revision).ok()) return err("bad revision for " + m.repo);
  if (!is_lower_hex(m.commit, 40)) return err("commit of " + m.repo + " is not 40 hex");
  if (m.name.empty() || !validate_repo_file_path(m.name, "name").ok() ||
      m.name.find('/') != std::string::npos) {
    return err("bad model name '" + m.name + "'");
  }
  std::set<std::string> seen;
  for (const auto& jf : j.at("files")) {
    MB_ASSIGN(LockedFile f, parse_file(jf, err));
    if (!seen.insert(f.path).second) return err("duplicate file " + f.path + " in " + m.repo);
    m.files.push_back(std::move(f));
  }
  std::sort(m.files.begin(), m.files.end(),
            [](const auto& a, const auto& b) { return a.path < b.path; });
  return m;
}

}  // namespace

Result<Lockfile> parse_lock(std::string_view text, std::string_view source) {
  LockError err{std::string(source)};
  if (!nesting_within(text, k_max_lock_depth)) {
    return err("nested deeper than " + std::to_string(k_max_lock_depth) + " levels");
  }
  try {
    ordered_json j = ordered_json::parse(text);
    Lockfile lock;
    const ordered_json& version = j.at("version");
    if (!version.is_number_unsigned() || version.get<uint64_t>() != 1) {
      return err("unsupported version " + version.dump().substr(0, 40) + " (expected 1)");
    }
    std::set<std::string> names;
    for (const auto& jm : j.at("models")) {
      MB_ASSIGN(LockedModel m, parse_model(jm, err));
      if (!names.insert(m.name).second) return err("duplicate model name " + m.name);
      lock.models.push_back(std::move(m));
    }
    std::sort(lock.models.begin(), lock.models.end(),
              [](const auto& a, const auto& b) { return a.name < b.name; });
    return lock;
  } catch (const nlohmann::json::exception& e) {
    return err(e.what());
  }
}

std::string serialize_lock(Lockfile lock) {
  std::sort(lock.models.begin(), lock.models.end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });
  ordered_json root;
  root["version"] = lock.version;
  root["models"] = ordered_json::array();
  for (auto& m : lock.models) {
    std::sort(m.files.begin(), m.files.end(),
              [](const auto& a, const auto& b) { return a.path < b.path; });
    ordered_json jm;
    jm["name"] = m.name;
    jm["repo"] = m.repo;
    if (!m.renamed_to.empty()) jm["renamed_to"] = m.renamed_to;
    jm["type"] = to_string(m.type);
    jm["revision"] = m.revision;
    jm["commit"] = m.commit;
    jm["include"] = m.include;
    jm["exclude"] = m.exclude;
    if (!m.expect_json.empty()) jm["expect"] = ordered_json::parse(m.expect_json);
    jm["files"] = ordered_json::array();
    for (const auto& f : m.files) {
      ordered_json jf = {
          {"path", f.path}, {"size", f.size}, {"sha256", f.sha256}, {"etag", f.etag}};
      if (!f.xet_hash.empty()) jf["xet_hash"] = f.xet_hash;
      jm["files"].push_back(std::move(jf));
    }
    root["models"].push_back(std::move(jm));
  }
  return root.dump(2) + "\n";
}

Result<Lockfile> read_lock(const std::string& path) {
  auto text = read_file(path);
  if (!text.ok()) {
    return fail(ErrorCategory::usage, "cannot read lock " + path + ": " + text.error().message,
                "create it with 'modelbake lock'");
  }
  return parse_lock(*text, path);
}

Status write_lock(const std::string& path, const Lockfile& lock) {
  return write_file_atomic(path, serialize_lock(lock));
}

}  // namespace mb
