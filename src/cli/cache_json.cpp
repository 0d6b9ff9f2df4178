#include "cli/cache_json.hpp"

#include "core/file.hpp"
#include "core/units.hpp"

namespace mb::cli {

Result<uint64_t> parse_size(const std::string& text) {
  auto bytes = mb::parse_size(text);
  if (!bytes)
    return fail(ErrorCategory::usage, "bad size '" + text + "'",
                "use a number with an optional unit: 500M, 20G, 1.5T");
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
    doc["models"].push_back({{"name", m.name},
                             {"repo", m.repo},
                             {"revision", m.revision},
                             {"commit", m.commit},
                             {"files", m.files},
                             {"bytes", m.bytes},
                             {"files_ok", m.files_ok},
                             {"ready", m.ready()}});
  }
  doc["findings"] = nlohmann::ordered_json::array();
  for (const auto& f : r.findings) {
    doc["findings"].push_back({{"kind", verify::to_string(f.kind)},
                               {"model", f.model},
                               {"repo", f.repo},
                               {"path", f.path},
                               {"location", f.location},
                               {"expected", f.expected},
                               {"actual", f.actual},
                               {"message", f.message},
                               {"fix", f.fix}});
  }
  doc["environment"] = {{"HF_HUB_CACHE", cache}, {"HF_HUB_OFFLINE", "1"}};
  return doc;
}

std::vector<verify::StatusRequest> status_requests(const Manifest& manifest) {
  std::vector<verify::StatusRequest> out;
  for (const auto& mm : manifest.models) {
    // The lock entry's name and the staleness rule are the ones `fetch --locked` uses.
    out.push_back({lock_skeleton(mm).name, mm.repo, mm.revision,
                   [mm](const LockedModel& l) { return lock_entry_difference(mm, l); }});
  }
  return out;
}

nlohmann::ordered_json status_json(const std::vector<verify::StatusEntry>& entries,
                                   const std::string& cache, bool ready) {
  nlohmann::ordered_json doc;
  doc["ok"] = ready;
  doc["cache"] = cache;
  doc["models"] = nlohmann::ordered_json::array();
  for (const auto& e : entries) {
    nlohmann::ordered_json m = {
        {"name", e.name},
        {"repo", e.repo},
        {"renamed_to",
         e.renamed_to.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(e.renamed_to)},
        {"revision", e.revision},
        {"commit", e.commit.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(e.commit)},
        {"files", e.files},
        {"bytes", e.bytes},
        {"state", verify::to_string(e.state)},
        {"fetched_at",
         e.fetched_at ? nlohmann::ordered_json(e.fetched_at) : nlohmann::ordered_json()},
        {"detail", e.detail}};
    doc["models"].push_back(m);
  }
  return doc;
}

}  // namespace mb::cli
