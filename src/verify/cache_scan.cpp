// Read-only inventory of a cache: repo folders, refs, snapshots, disk use.
#include <sys/stat.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "core/file.hpp"
#include "core/hash.hpp"
#include "store/safe_dirs.hpp"
#include "verify/cache_admin.hpp"
#include "verify/cache_model.hpp"

namespace fs = std::filesystem;

namespace mb::verify {

std::optional<std::pair<RepoType, std::string>> parse_repo_folder(const std::string& name) {
  size_t sep = name.find("--");
  if (sep == std::string::npos) return std::nullopt;
  auto type = name.substr(0, sep) == "models"     ? std::optional(RepoType::model)
              : name.substr(0, sep) == "datasets" ? std::optional(RepoType::dataset)
                                                  : std::nullopt;
  if (!type) return std::nullopt;
  std::string repo = name.substr(sep + 2);
  for (size_t p; (p = repo.find("--")) != std::string::npos;) repo.replace(p, 2, "/");
  if (repo.empty()) return std::nullopt;
  return std::make_pair(*type, repo);
}

std::vector<std::pair<std::string, std::string>> read_refs(const std::string& repo_dir) {
  std::vector<std::pair<std::string, std::string>> out;
  std::error_code ec;
  std::string base = repo_dir + "/refs";
  for (auto it = fs::recursive_directory_iterator(base, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    std::string name = fs::relative(it->path(), base, ec).string();
    auto text = read_file(it->path().string(), 4096);
    out.emplace_back(name, text.ok() ? *text : std::string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::pair<int64_t, int64_t> read_meta_times(const CacheLayout& cache, RepoType type,
                                            const std::string& repo, const std::string& commit) {
  auto text = read_file(cache.snapshot_meta_path(type, repo, commit), 1 << 20);
  if (!text.ok()) return {0, 0};
  auto j = nlohmann::json::parse(*text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return {0, 0};
  auto num = [&](const char* k) -> int64_t {
    auto it = j.find(k);
    return it != j.end() && it->is_number_integer() ? it->get<int64_t>() : 0;
  };
  return {num("fetched_at"), num("last_used")};
}

// A repo folder whose blobs/, snapshots/, refs/ or a snapshots/<commit> is a symlink is never
// walked for deletion: what it points to is not the cache's.
Status check_repo_tree(const CacheLayout& cache, const std::string& folder) {
  for (const char* sub : {"/blobs", "/snapshots", "/refs"}) {
    MB_TRY(check_real_dirs(cache.root(), folder + sub, MissingDir::ok));
  }
  std::error_code ec;
  for (const auto& s : fs::directory_iterator(cache.root() + "/" + folder + "/snapshots", ec)) {
    if (s.is_symlink(ec)) return planted_link_error(s.path().string());
  }
  return {};
}

Result<CacheModel> load_cache_model(const CacheLayout& cache) {
  CacheModel model;
  std::error_code ec;
  if (!fs::is_directory(cache.root(), ec)) {
    return fail(ErrorCategory::usage, "cache directory " + cache.root() + " does not exist",
                "pass --cache DIR or set HF_HUB_CACHE");
  }
  auto record = [&](const std::string& path, const struct stat& st) {
    Inode key{static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino)};
    model.inodes.emplace(key, InodeInfo{static_cast<uint64_t>(st.st_blocks) * 512,
                                        static_cast<uint64_t>(st.st_size)});
    (void)path;
    return key;
  };
  for (const auto& entry : fs::directory_iterator(cache.root(), ec)) {
    std::string name = entry.path().filename().string();
    auto parsed = parse_repo_folder(name);
    if (!parsed) continue;
    std::error_code ec1;
    if (entry.is_symlink(ec1)) {
      model.unsafe.emplace(name, planted_link_error(entry.path().string()));
    } else if (!entry.is_directory(ec1)) {
      continue;
    } else if (Status safe = check_repo_tree(cache, name); !safe.ok()) {
      model.unsafe.emplace(name, safe.error());
    }
    if (auto it = model.unsafe.find(name); it != model.unsafe.end()) {
      model.warnings.push_back("skipped " + name + ": " + it->second.message);
      continue;
    }
    ModelRepo repo;
    repo.info.type = parsed->first;
    repo.info.repo = parsed->second;
    repo.info.folder = name;
    repo.dir = entry.path().string();
    std::error_code ec2;
    for (const auto& b : fs::directory_iterator(repo.dir + "/blobs", ec2)) {
      struct stat st {};
      std::string p = b.path().string();
      if (::lstat(p.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
      repo.blobs.push_back(ModelBlob{p, b.path().filename().string(), record(p, st), st.st_mtime});
      repo.info.blob_bytes += static_cast<uint64_t>(st.st_size);
    }
    auto refs = read_refs(repo.dir);
    repo.refs = refs;
    for (const auto& s : fs::directory_iterator(repo.dir + "/snapshots", ec2)) {
      ModelRevision rev;
      rev.info.commit = s.path().filename().string();
      rev.dir = s.path().string();
      for (const auto& [ref, commit] : refs) {
        if (commit == rev.info.commit) rev.info.refs.push_back(ref);
      }
      std::error_code ec3;
      for (auto it = fs::recursive_directory_iterator(rev.dir, ec3);
           !ec3 && it != fs::recursive_directory_iterator(); it.increment(ec3)) {
        std::string p = it->path().string();
        struct stat st {};
        if (::stat(p.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;  // dirs, dangling
        char buf[PATH_MAX];
        if (::realpath(p.c_str(), buf) == nullptr) continue;
        rev.targets.insert(buf);
        rev.inodes.insert(record(buf, st));
        rev.info.files++;
        rev.info.bytes += static_cast<uint64_t>(st.st_size);
      }
      auto [fetched, used] =
          read_meta_times(cache, repo.info.type, repo.info.repo, rev.info.commit);
      struct stat dst {};
      if (used == 0 && ::stat(rev.dir.c_str(), &dst) == 0) used = dst.st_mtime;
      rev.info.fetched_at = fetched;
      rev.info.last_used = used;
      repo.revisions.push_back(std::move(rev));
    }
    std::sort(repo.revisions.begin(), repo.revisions.end(),
              [](const ModelRevision& a, const ModelRevision& b) {
                return a.info.commit < b.info.commit;
              });
    model.repos.push_back(std::move(repo));
  }
  std::sort(model.repos.begin(), model.repos.end(),
            [](const ModelRepo& a, const ModelRepo& b) { return a.info.folder < b.info.folder; });
  // Subfolders that are links are not entered (the iterator does not follow them).
  std::error_code ec4;
  if (Status safe = check_real_dirs(cache.root(), cache.objects_rel(), MissingDir::ok);
      !safe.ok()) {
    model.warnings.push_back("skipped the object store: " + safe.error().message);
  } else {
    for (auto it = fs::recursive_directory_iterator(cache.objects_dir(), ec4);
         !ec4 && it != fs::recursive_directory_iterator(); it.increment(ec4)) {
      struct stat st {};
      std::string p = it->path().string();
      if (::lstat(p.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
      model.objects.push_back(ModelObject{p, record(p, st)});
    }
  }
  char buf[PATH_MAX];
  if (::realpath(cache.root().c_str(), buf) != nullptr) model.root_real = buf;
  return model;
}

Result<std::vector<RepoInfo>> scan_cache(const CacheLayout& cache) {
  MB_ASSIGN(CacheModel model, load_cache_model(cache));
  std::vector<RepoInfo> out;
  for (auto& r : model.repos) {
    RepoInfo info = r.info;
    for (auto& rev : r.revisions) info.revisions.push_back(rev.info);
    out.push_back(std::move(info));
  }
  return out;
}

Result<DiskUsage> disk_usage(const CacheLayout& cache) {
  std::error_code ec;
  if (!fs::is_directory(cache.root(), ec)) {
    return fail(ErrorCategory::usage, "cache directory " + cache.root() + " does not exist",
                "pass --cache DIR or set HF_HUB_CACHE");
  }
  DiskUsage du;
  std::set<Inode> seen;
  std::string tmp = cache.tmp_dir() + "/";
  for (auto it = fs::recursive_directory_iterator(cache.root(), ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    struct stat st {};
    std::string p = it->path().string();
    if (::lstat(p.c_str(), &st) != 0 || S_ISDIR(st.st_mode) || S_ISLNK(st.st_mode)) continue;
    du.linked_bytes += static_cast<uint64_t>(st.st_size);
    bool temp = p.compare(0, tmp.size(), tmp) == 0 || is_temp_name(it->path().filename().string());
    if (temp) du.temp_bytes += static_cast<uint64_t>(st.st_size);
    if (!seen.insert(Inode{static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino)})
             .second)
      continue;
    du.files++;
    du.disk_bytes += static_cast<uint64_t>(st.st_blocks) * 512;
    du.apparent_bytes += static_cast<uint64_t>(st.st_size);
  }
  if (ec) return errno_error("walking " + cache.root(), ec.value());
  return du;
}

PinSet pins_of(const Lockfile& lock) {
  PinSet pins;
  for (const auto& m : lock.models) pins.emplace(m.type, m.repo, m.commit);
  return pins;
}

}  // namespace mb::verify
