#include "store/layout.hpp"

#include "core/env.hpp"
#include "core/paths.hpp"

namespace mb {

std::string repo_folder_name(RepoType type, std::string_view repo_id) {
  std::string out = type == RepoType::dataset ? "datasets" : "models";
  out += "--";
  for (char c : repo_id) {
    if (c == '/') {
      out += "--";
    } else {
      out += c;
    }
  }
  return out;
}

CacheLayout::CacheLayout(std::string root) : m_root(std::move(root)) {
  while (m_root.size() > 1 && m_root.back() == '/') m_root.pop_back();
  m_door = std::make_shared<CacheDoor>(m_root);
}

std::string CacheLayout::repo_dir(RepoType type, std::string_view repo) const {
  return join_path(m_root, repo_folder_name(type, repo));
}

std::string CacheLayout::blob_path(RepoType type, std::string_view repo,
                                   std::string_view etag) const {
  return repo_dir(type, repo) + "/blobs/" + std::string(etag);
}

std::string CacheLayout::ref_path(RepoType type, std::string_view repo,
                                  std::string_view revision) const {
  return repo_dir(type, repo) + "/refs/" + std::string(revision);
}

std::string CacheLayout::snapshot_dir(RepoType type, std::string_view repo,
                                      std::string_view commit) const {
  return repo_dir(type, repo) + "/snapshots/" + std::string(commit);
}

std::string CacheLayout::snapshot_file(RepoType type, std::string_view repo,
                                       std::string_view commit, std::string_view path) const {
  return snapshot_dir(type, repo, commit) + "/" + std::string(path);
}

std::string CacheLayout::trees_file(RepoType type, std::string_view repo,
                                    std::string_view commit) const {
  return repo_dir(type, repo) + "/trees/" + std::string(commit) + ".json";
}

std::string CacheLayout::snapshot_link_target(std::string_view path, std::string_view etag) {
  std::string target = "../../";
  for (char c : path) {
    if (c == '/') target += "../";
  }
  return target + "blobs/" + std::string(etag);
}

std::string CacheLayout::private_dir() const { return m_root + "/" + std::string(k_private_rel); }
std::string CacheLayout::legacy_private_dir() const {
  return m_root + "/" + std::string(k_legacy_private_rel);
}
std::string CacheLayout::objects_rel() const {
  return std::string(k_private_rel) + "/objects/sha256";
}
std::string CacheLayout::tmp_rel() const { return std::string(k_private_rel) + "/tmp"; }
std::string CacheLayout::locks_rel() const { return std::string(k_private_rel) + "/locks"; }
std::string CacheLayout::objects_dir() const { return m_root + "/" + objects_rel(); }

std::string CacheLayout::object_path(std::string_view sha256) const {
  return objects_dir() + "/" + std::string(sha256.substr(0, 2)) + "/" +
         std::string(sha256.substr(2));
}

std::string CacheLayout::tmp_dir() const { return m_root + "/" + tmp_rel(); }
std::string CacheLayout::locks_dir() const { return m_root + "/" + locks_rel(); }
std::string CacheLayout::lock_path(std::string_view name) const {
  return locks_dir() + "/" + std::string(name) + ".lock";
}

std::string CacheLayout::snapshot_meta_path(RepoType type, std::string_view repo,
                                            std::string_view commit) const {
  return private_dir() + "/meta/" + repo_folder_name(type, repo) + "/" + std::string(commit) +
         ".json";
}

std::string resolve_cache_dir(const std::string& flag_value, const Env& env) {
  if (!flag_value.empty()) return flag_value;
  // Expanded like huggingface_hub (expandvars(expanduser(...))), so both tools agree on
  // HF_HUB_CACHE=~/models or HF_HOME=$SCRATCH/hf.
  if (auto v = env.get("HF_HUB_CACHE")) return expand_path(*v, env);
  if (auto v = env.get("HUGGINGFACE_HUB_CACHE")) return expand_path(*v, env);
  if (auto home = hf_home_dir(env)) return *home + "/hub";
  return "/root/.cache/huggingface/hub";
}

}  // namespace mb
