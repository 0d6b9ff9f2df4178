#include "cli/fetch_output.hpp"

#include "core/log.hpp"

namespace mb::cli {

namespace {

nlohmann::ordered_json models_json(const Lockfile& lock, const fetch::FetchReport& r) {
  auto out = nlohmann::ordered_json::array();
  for (const LockedModel& m : lock.models) {
    out.push_back({{"name", m.name},
                   {"repo", m.repo},
                   {"renamed_to", m.renamed_to.empty() ? nlohmann::ordered_json()
                                                       : nlohmann::ordered_json(m.renamed_to)},
                   {"type", to_string(m.type)},
                   {"revision", m.revision},
                   {"commit", m.commit},
                   {"files", m.files.size()},
                   {"bytes", m.total_bytes()},
                   {"complete", fetch::model_complete(r, m.name)}});
  }
  return out;
}

nlohmann::ordered_json failures_json(const fetch::FetchReport& r) {
  auto out = nlohmann::ordered_json::array();
  for (const fetch::FileFailure& f : r.errors) {
    out.push_back({{"model", f.model},
                   {"repo", f.repo},
                   {"path", f.path},
                   {"category", to_string(f.error.category)},
                   {"message", log::redact(f.error.message)},
                   {"hint", log::redact(f.error.hint)},
                   {"exit_code", exit_code_for(f.error.category)}});
  }
  return out;
}

nlohmann::ordered_json retries_json(const fetch::FetchReport& r) {
  auto out = nlohmann::ordered_json::array();
  for (const fetch::RetryNote& n : r.retries) {
    out.push_back({{"model", n.model},
                   {"repo", n.repo},
                   {"path", n.path},
                   {"kind", "digest_mismatch"},
                   {"attempt", n.attempt},
                   {"message", log::redact(n.reason)}});
  }
  return out;
}

}  // namespace

nlohmann::ordered_json outcome_json(const char* command, const fetch::RunOutcome& o) {
  const fetch::FetchReport& r = o.report;
  nlohmann::ordered_json doc;
  doc["ok"] = r.errors.empty();
  doc["command"] = command;
  doc["lock"] = o.lock_path;
  doc["locked"] = o.relocked;
  doc["models"] = models_json(o.lock, r);
  doc["files"] = {
      {"total", r.files_total}, {"downloaded", r.files_downloaded}, {"reused", r.files_reused}};
  doc["bytes"] = {{"downloaded", r.bytes_downloaded},
                  {"reused", r.bytes_reused},
                  {"network", r.network_bytes},
                  {"resumed", r.resumed_bytes}};
  doc["duration_seconds"] = o.seconds;
  doc["errors"] = failures_json(r);
  doc["retries"] = retries_json(r);
  return doc;
}

std::vector<std::string> lock_lines(const fetch::RunOutcome& o) {
  if (!o.kept_offline.empty()) {
    return {"offline (" + o.kept_offline + "): " + o.lock_path +
            " already matches the manifest; kept as it is"};
  }
  std::vector<std::string> out;
  for (const LockedModel& m : o.lock.models) {
    out.push_back("locked " + m.name + ": " + m.repo +
                  (m.renamed_to.empty() ? "" : " (renamed to " + m.renamed_to + ")") + "@" +
                  m.revision + " -> " + m.commit + " (" + std::to_string(m.files.size()) +
                  " files, " + fetch::format_bytes(m.total_bytes()) + ")");
  }
  out.push_back("wrote " + o.lock_path);
  return out;
}

std::vector<std::string> fetch_lines(const fetch::RunOutcome& o, const std::string& cache_dir) {
  std::vector<std::string> out;
  const fetch::FetchReport& r = o.report;
  for (const LockedModel& m : o.lock.models) {
    out.push_back(m.name + ": " + m.repo + "@" + m.commit.substr(0, 12) + ", " +
                  std::to_string(m.files.size()) + " files, " +
                  fetch::format_bytes(m.total_bytes()));
  }
  out.push_back("fetched " + std::to_string(r.files_total) +
                " files: " + std::to_string(r.files_downloaded) + " downloaded (" +
                fetch::format_bytes(r.bytes_downloaded) + "), " + std::to_string(r.files_reused) +
                " already cached; cache " + cache_dir);
  return out;
}

}  // namespace mb::cli
