#include "cli/cache_json.hpp"


#include "core/file.hpp"
#include "core/units.hpp"

namespace mb::cli {

Result<uint64_t> parse_size(const std::string& text) {
  auto bytes = mb::parse_size(text);
  if (!bytes) return fail(ErrorCategory::usage, "bad size '" + text + "'", "use a number with an optional unit: 500M, 20G, 1.5T");
  return *bytes;
}

nlohmann::ordered_json verify_report_json(const verify::VerifyReport& r, const std::string& cache) {
  nlohmann::ordered_json doc;
  doc["ok"] = r.ok();
  doc["cache"] = cache;
  doc["mode"] = r.hashed ? "full" : "fast";
  doc["files_checked"] = r.files_checked;
  doc["bytes_locked"] = r.bytes_locked;
  doc["bytes_hashed"] = r.bytes_hashed;
  doc["models"] = nlohmann::ordered_json::array();
  for (const auto& m : r.models) {
    doc["models"].push_back({{"name", m.name}, {"repo", m.repo}, {"revision", m.revision},
                             {"commit", m.commit}, {"files", m.files}, {"bytes", m.bytes},
                             {"files_ok", m.files_ok}, {"ready", m.ready()}});
  }
  doc["findings"] = nlohmann::ordered_json::array();
  for (const auto& f : r.findings) {
    doc["findings"].push_back({{"kind", verify::to_string(f.kind)}, {"model", f.model}, {"repo", f.repo},
                               {"path", f.path}, {"location", f.location}, {"expected", f.expected},
                               {"actual", f.actual}, {"message", f.message}, {"fix", f.fix}});
  }
  doc["environment"] = {{"HF_HUB_CACHE", cache}, {"HF_HUB_OFFLINE", "1"}};
  return doc;
}

namespace {

bool is_missing_kind(verify::FindingKind k) {
  using K = verify::FindingKind;
  return k == K::missing_ref || k == K::missing_snapshot || k == K::missing_file || k == K::dangling_link;
}

}  // namespace

Result<std::vector<StatusEntry>> compute_status(const Manifest& manifest, const Lockfile* lock,
                                                const CacheLayout& cache, bool full) {
  std::vector<StatusEntry> out;
  for (const auto& mm : manifest.models) {
    LockedModel skel = lock_skeleton(mm);
    StatusEntry e;
    e.name = skel.name;
    e.repo = mm.repo;
    e.revision = mm.revision;
    const LockedModel* lm = lock ? lock->find_model(skel.name) : nullptr;
    if (lm == nullptr) {
      e.state = "stale-lock";
      e.detail = lock ? "not in the lock: run `modelbake lock`" : "no lock file: run `modelbake lock`";
      out.push_back(e);
      continue;
    }
    e.commit = lm->commit;
    e.renamed_to = lm->renamed_to;
    e.files = lm->files.size();
    e.bytes = lm->total_bytes();
    if (std::string why = lock_entry_difference(mm, *lm); !why.empty()) {
      e.state = "stale-lock";
      e.detail = why + ": run `modelbake lock`";
      out.push_back(e);
      continue;
    }
    Lockfile one;
    one.models.push_back(*lm);
    verify::VerifyOptions o;
    o.fast = !full;
    auto r = verify::verify_cache(cache, one, o);
    if (!r.ok()) {
      e.state = "missing";
      e.detail = r.error().message;
    } else if (r->ok()) {
      e.state = "ready";
    } else {
      bool all_missing = true;
      for (const auto& f : r->findings) all_missing = all_missing && is_missing_kind(f.kind);
      e.state = all_missing ? "missing" : "corrupt";
      e.detail = r->findings[0].message;
    }
    auto meta = read_file(cache.snapshot_meta_path(lm->type, lm->repo, lm->commit), 1 << 20);
    if (meta.ok()) {
      auto j = nlohmann::json::parse(*meta, nullptr, false);
      if (j.is_object()) {
        if (j.contains("fetched_at") && j["fetched_at"].is_number_integer()) e.fetched_at = j["fetched_at"].get<int64_t>();
        if (j.contains("last_used") && j["last_used"].is_number_integer()) e.last_used = j["last_used"].get<int64_t>();
      }
    }
    out.push_back(e);
  }
  return out;
}

nlohmann::ordered_json status_json(const std::vector<StatusEntry>& entries, const std::string& cache,
                                   bool ready) {
  nlohmann::ordered_json doc;
  doc["ok"] = ready;
  doc["cache"] = cache;
  doc["models"] = nlohmann::ordered_json::array();
  for (const auto& e : entries) {
    nlohmann::ordered_json m = {{"name", e.name}, {"repo", e.repo},
                                {"renamed_to", e.renamed_to.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(e.renamed_to)},
                                {"revision", e.revision},
                                {"commit", e.commit.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(e.commit)},
                                {"files", e.files}, {"bytes", e.bytes}, {"state", e.state},
                                {"fetched_at", e.fetched_at ? nlohmann::ordered_json(e.fetched_at) : nlohmann::ordered_json()},
                                {"detail", e.detail}};
    doc["models"].push_back(m);
  }
  return doc;
}

}  // namespace mb::cli
