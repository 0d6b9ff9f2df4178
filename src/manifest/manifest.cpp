#include "manifest/manifest.hpp"

#include <yaml-cpp/yaml.h>

#include <charconv>
#include <cmath>
#include <nlohmann/json.hpp>
#include <set>

#include "core/file.hpp"
#include "core/hash.hpp"
#include "core/paths.hpp"
#include "manifest/yaml_strict.hpp"

namespace mb {

namespace {

// Builds "file:line:col: message" errors from yaml-cpp marks (which are 0-based).
class Diag {
 public:
  explicit Diag(std::string_view source) : m_source(source) {}
  Failure at(const YAML::Node& node, const std::string& message) const {
    return at(node.Mark(), message);
  }
  Failure at(const YAML::Mark& mark, const std::string& message) const {
    std::string where = m_source;
    if (mark.line >= 0) {
      where += ":" + std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1);
    }
    return fail(ErrorCategory::usage, where + ": " + message,
                "see docs/formats.md for the manifest format");
  }

 private:
  std::string m_source;
};

Result<std::string> scalar(const YAML::Node& node, const std::string& key, const Diag& d) {
  if (!node.IsScalar()) return d.at(node, "'" + key + "' must be a string");
  return node.Scalar();
}

// A pattern list: a single string or a sequence of strings (as huggingface_hub accepts).
Result<std::vector<std::string>> pattern_list(const YAML::Node& node, const std::string& key,
                                              const Diag& d) {
  std::vector<std::string> out;
  if (node.IsScalar()) {
    out.push_back(node.Scalar());
  } else if (node.IsSequence()) {
    for (const auto& item : node) {
      if (!item.IsScalar()) return d.at(item, "'" + key + "' entries must be strings");
      out.push_back(item.Scalar());
    }
  } else {
    return d.at(node, "'" + key + "' must be a string or a list of strings");
  }
  for (const auto& p : out) {
    if (p.empty()) return d.at(node, "empty pattern in '" + key + "'");
  }
  return out;
}

// YAML -> JSON for `expect:`; plain scalars become numbers/bools/null where they parse as such.
nlohmann::ordered_json to_json(const YAML::Node& node) {
  if (node.IsMap()) {
    nlohmann::ordered_json obj = nlohmann::ordered_json::object();
    for (const auto& kv : node) obj[kv.first.Scalar()] = to_json(kv.second);
    return obj;
  }
  if (node.IsSequence()) {
    nlohmann::ordered_json arr = nlohmann::ordered_json::array();
    for (const auto& item : node) arr.push_back(to_json(item));
    return arr;
  }
  if (!node.IsScalar()) return nullptr;
  const std::string& s = node.Scalar();
  if (node.Tag() == "!") return s;  // quoted: always a string
  if (s == "true" || s == "false") return s == "true";
  if (s == "null" || s == "~") return nullptr;
  int64_t i = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), i);
  if (ec == std::errc() && ptr == s.data() + s.size()) return i;
  // Finite decimals only: stod would also take "nan" and "inf" (which JSON writes as null)
  // and "0x1p3"; those stay strings.
  double v = 0;
  auto [fptr, fec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (fec == std::errc() && fptr == s.data() + s.size() && std::isfinite(v)) return v;
  return s;
}

Status check_keys(const YAML::Node& map, const std::set<std::string>& allowed, const Diag& d,
                  const std::string& where) {
  for (const auto& kv : map) {
    if (!kv.first.IsScalar()) return d.at(kv.first, "keys must be strings");
    if (!allowed.count(kv.first.Scalar())) {
      std::string list;
      for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
      return d.at(kv.first, "unknown key '" + kv.first.Scalar() + "' in " + where +
                                " (allowed: " + list + ")");
    }
  }
  return {};
}

Result<ManifestModel> parse_model(const YAML::Node& node, const Diag& d) {
  if (!node.IsMap())
    return d.at(node, "each entry of 'models' must be a mapping with at least 'repo'");
  MB_TRY(check_keys(node, {"repo", "revision", "type", "include", "exclude", "as", "expect"}, d,
                    "a model entry"));
  ManifestModel m;
  m.line = node.Mark().line + 1;
  if (!node["repo"]) return d.at(node, "model entry is missing 'repo'");
  MB_ASSIGN(m.repo, scalar(node["repo"], "repo", d));
  if (!validate_repo_id(m.repo).ok()) {
    return d.at(node["repo"], "invalid repo id '" + m.repo + "' (expected 'org/name')");
  }
  if (node["revision"]) {
    MB_ASSIGN(m.revision, scalar(node["revision"], "revision", d));
    Status s = validate_revision(m.revision);
    if (!s.ok()) return d.at(node["revision"], s.error().message);
  }
  if (node["type"]) {
    MB_ASSIGN(std::string t, scalar(node["type"], "type", d));
    auto type = parse_repo_type(t);
    if (!type) return d.at(node["type"], "'type' must be 'model' or 'dataset', not '" + t + "'");
    m.type = *type;
  }
  if (node["include"]) {
    MB_ASSIGN(m.include, pattern_list(node["include"], "include", d));
  }
  if (node["exclude"]) {
    MB_ASSIGN(m.exclude, pattern_list(node["exclude"], "exclude", d));
  }
  m.name = m.repo.substr(m.repo.find('/') == std::string::npos ? 0 : m.repo.find('/') + 1);
  if (node["as"]) {
    MB_ASSIGN(m.name, scalar(node["as"], "as", d));
    if (!validate_repo_file_path(m.name, "name").ok() || m.name.find('/') != std::string::npos) {
      return d.at(node["as"], "'as' must be a simple folder name, not '" + m.name + "'");
    }
  }
  if (node["expect"]) {
    if (!node["expect"].IsMap()) return d.at(node["expect"], "'expect' must be a mapping");
    m.expect_json = to_json(node["expect"]).dump();
  }
  return m;
}

Result<Manifest> parse_root(const YAML::Node& root, std::string_view source, const Diag& d) {
  if (!root.IsMap())
    return d.at(root, "the manifest must be a mapping with 'version' and 'models'");
  MB_TRY(check_keys(root, {"version", "endpoint", "models"}, d, "the manifest"));
  Manifest m;
  m.path = std::string(source);
  if (!root["version"]) return d.at(root, "missing 'version: 1'");
  if (!root["version"].IsScalar() || root["version"].Scalar() != "1") {
    return d.at(root["version"], "unsupported manifest version (expected 1)");
  }
  if (root["endpoint"]) {
    MB_ASSIGN(m.endpoint, scalar(root["endpoint"], "endpoint", d));
    if (m.endpoint.rfind("http://", 0) != 0 && m.endpoint.rfind("https://", 0) != 0) {
      return d.at(root["endpoint"], "'endpoint' must be an http:// or https:// URL");
    }
  }
  const YAML::Node models = root["models"];
  if (!models) return d.at(root, "missing 'models' (a list of repos to fetch)");
  if (!models.IsSequence() || models.size() == 0) {
    return d.at(models, "'models' must be a non-empty list");
  }
  std::set<std::string> names;
  for (const auto& item : models) {
    MB_ASSIGN(ManifestModel model, parse_model(item, d));
    if (!names.insert(model.name).second) {
      return d.at(item, "duplicate model name '" + model.name + "' (set a distinct 'as:')");
    }
    m.models.push_back(std::move(model));
  }
  return m;
}

}  // namespace

Result<Manifest> parse_manifest(std::string_view yaml_text, std::string_view source) {
  Diag d(source);
  try {
    // Refused on the event stream, before a tree exists: nothing is expanded or walked yet.
    if (auto problem = find_yaml_problem(yaml_text)) return d.at(problem->mark, problem->message);
    YAML::Node root = YAML::Load(std::string(yaml_text));
    if (!root || root.IsNull()) return d.at(YAML::Mark::null_mark(), "the manifest is empty");
    return parse_root(root, source, d);
  } catch (const YAML::Exception& e) {
    return d.at(e.mark, "YAML syntax error: " + e.msg);
  }
}

Result<Manifest> load_manifest(const std::string& path) {
  auto text = read_file(path, 4 << 20);
  if (!text.ok()) {
    return fail(ErrorCategory::usage, "cannot read manifest " + path + ": " + text.error().message,
                "create modelbake.yaml or pass -f PATH");
  }
  return parse_manifest(*text, path);
}

LockedModel lock_skeleton(const ManifestModel& m) {
  LockedModel l;
  l.name = m.name;
  l.repo = m.repo;
  l.type = m.type;
  l.revision = m.revision;
  l.include = m.include;
  l.exclude = m.exclude;
  l.expect_json = m.expect_json;
  return l;
}

std::string lock_entry_difference(const ManifestModel& m, const LockedModel& l) {
  if (l.repo != m.repo) return "repo changed (lock: " + l.repo + ", manifest: " + m.repo + ")";
  if (l.type != m.type) return "type changed";
  if (l.revision != m.revision) {
    return "revision changed (lock: " + l.revision + ", manifest: " + m.revision + ")";
  }
  if (l.include != m.include || l.exclude != m.exclude) return "include/exclude patterns changed";
  if (l.expect_json != m.expect_json) return "expect block changed";
  if (is_lower_hex(m.revision, 40) && l.commit != m.revision)
    return "locked commit differs from revision";
  return "";
}

Status lock_matches_manifest(const Manifest& manifest, const Lockfile& lock) {
  auto mismatch = [](const std::string& what) {
    return fail(ErrorCategory::usage, "modelbake.lock does not match the manifest: " + what,
                "run 'modelbake lock' to update the lock, then commit it");
  };
  for (const auto& m : manifest.models) {
    const LockedModel* l = lock.find_model(m.name);
    if (l == nullptr) return mismatch("model '" + m.name + "' (" + m.repo + ") is not in the lock");
    std::string diff = lock_entry_difference(m, *l);
    if (!diff.empty()) return mismatch("model '" + m.name + "': " + diff);
  }
  if (lock.models.size() != manifest.models.size()) {
    for (const auto& l : lock.models) {
      bool found = false;
      for (const auto& m : manifest.models) found = found || m.name == l.name;
      if (!found) return mismatch("model '" + l.name + "' is in the lock but not in the manifest");
    }
  }
  return {};
}

}  // namespace mb
