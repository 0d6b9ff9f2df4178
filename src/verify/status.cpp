#include "verify/status.hpp"

#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>

#include "core/file.hpp"
#include "core/paths.hpp"
#include "verify/integrity.hpp"
#include "verify/run.hpp"

namespace mb::verify {

const char* to_string(ModelState s) {
  switch (s) {
    case ModelState::ready: return "ready";
    case ModelState::missing: return "missing";
    case ModelState::corrupt: return "corrupt";
    case ModelState::stale_lock: return "stale-lock";
  }
  return "missing";
}

namespace {

bool is_missing_kind(FindingKind k) {
  using K = FindingKind;
  return k == K::missing_ref || k == K::missing_snapshot || k == K::missing_file ||
         k == K::dangling_link;
}

// Missing when every finding is an absence; any wrong byte makes the model corrupt.
void classify(const CacheLayout& cache, const LockedModel& lm, bool full, StatusEntry& e) {
  Lockfile one;
  one.models.push_back(lm);
  VerifyOptions o;
  o.fast = !full;
  auto r = verify_cache(cache, one, o);
  if (!r.ok()) {
    e.state = ModelState::missing;
    e.detail = r.error().message;
  } else if (r->ok()) {
    e.state = ModelState::ready;
  } else {
    bool all_missing = true;
    for (const auto& f : r->findings) all_missing = all_missing && is_missing_kind(f.kind);
    e.state = all_missing ? ModelState::missing : ModelState::corrupt;
    e.detail = r->findings[0].message;
  }
}

void read_times(const CacheLayout& cache, const LockedModel& lm, StatusEntry& e) {
  auto meta =
      cache.door().read_file(cache.snapshot_meta_path(lm.type, lm.repo, lm.commit), 1 << 20);
  if (!meta.ok()) return;
  auto j = nlohmann::json::parse(*meta, nullptr, false);
  if (!j.is_object()) return;
  if (j.contains("fetched_at") && j["fetched_at"].is_number_integer()) {
    e.fetched_at = j["fetched_at"].get<int64_t>();
  }
  if (j.contains("last_used") && j["last_used"].is_number_integer()) {
    e.last_used = j["last_used"].get<int64_t>();
  }
}

}  // namespace

Result<std::vector<StatusEntry>> compute_status(const std::vector<StatusRequest>& wanted,
                                                const Lockfile* lock, const CacheLayout& cache,
                                                bool full) {
  std::vector<StatusEntry> out;
  for (const auto& w : wanted) {
    StatusEntry e;
    e.name = w.name;
    e.repo = w.repo;
    e.revision = w.revision;
    const LockedModel* lm = lock ? lock->find_model(w.name) : nullptr;
    if (lm == nullptr) {
      e.state = ModelState::stale_lock;
      e.detail =
          lock ? "not in the lock: run `modelbake lock`" : "no lock file: run `modelbake lock`";
      out.push_back(e);
      continue;
    }
    e.commit = lm->commit;
    e.renamed_to = lm->renamed_to;
    e.files = lm->files.size();
    e.bytes = lm->total_bytes();
    std::string why = w.lock_difference ? w.lock_difference(*lm) : std::string();
    if (!why.empty()) {
      e.state = ModelState::stale_lock;
      e.detail = why + ": run `modelbake lock`";
      out.push_back(e);
      continue;
    }
    classify(cache, *lm, full, e);
    read_times(cache, *lm, e);
    out.push_back(e);
  }
  return out;
}

bool StatusOutcome::ready() const {
  for (const StatusEntry& e : entries) {
    if (e.state != ModelState::ready) return false;
  }
  return true;
}

Result<StatusOutcome> run_status(const std::vector<StatusRequest>& wanted,
                                 const std::string& lock_path, const std::string& cache_dir,
                                 bool full) {
  std::optional<Lockfile> lock;
  if (auto l = read_lock(lock_path); l.ok()) {
    lock = std::move(*l);
  } else if (std::error_code ec;
             std::filesystem::exists(std::filesystem::symlink_status(lock_path, ec))) {
    return l.take_error();
  }
  StatusOutcome out;
  CacheLayout layout(absolute_path(cache_dir));
  out.cache = layout.root();
  MB_ASSIGN(out.entries, compute_status(wanted, lock ? &*lock : nullptr, layout, full));
  return out;
}

}  // namespace mb::verify
