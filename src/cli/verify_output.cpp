#include "cli/verify_output.hpp"

#include "cli/cache_json.hpp"
#include "core/units.hpp"

namespace mb::cli {

namespace {

nlohmann::ordered_json repair_json(const verify::RepairSummary& r) {
  return {{"findings_before", r.repaired.size()},
          {"removed", r.removed},
          {"restored", r.restored},
          {"fetched_models",
           std::vector<std::string>(r.fetched_models.begin(), r.fetched_models.end())}};
}

void add_findings(const verify::VerifyReport& r, std::vector<std::string>& out) {
  for (const auto& m : r.models) {
    out.push_back((m.ready() ? "ok      " : "FAILED  ") + m.name + "  " + m.repo + "@" +
                  m.revision + " (" + m.commit.substr(0, 12) + ")  " + std::to_string(m.files_ok) +
                  "/" + std::to_string(m.files) + " files, " + format_size(m.bytes));
    for (const auto& f : r.findings) {
      if (f.model != m.name) continue;
      out.push_back("  " + std::string(verify::to_string(f.kind)) + ": " + f.message);
      if (!f.expected.empty()) out.push_back("    expected: " + f.expected);
      if (!f.actual.empty()) out.push_back("    actual:   " + f.actual);
      if (!f.location.empty()) out.push_back("    at:       " + f.location);
    }
  }
}

}  // namespace

nlohmann::ordered_json verify_outcome_json(const verify::VerifyOutcome& o) {
  auto doc = verify_report_json(o.report, o.cache);
  if (o.repair) doc["repair"] = repair_json(*o.repair);
  return doc;
}

std::vector<std::string> verify_lines(const verify::VerifyOutcome& o) {
  std::vector<std::string> out;
  if (o.repair) {
    for (const auto& x : o.repair->repaired) {
      out.push_back("repaired " + std::string(verify::to_string(x.kind)) + ": " + x.message);
    }
  }
  const verify::VerifyReport& r = o.report;
  add_findings(r, out);
  out.push_back(std::string(r.ok() ? "ready: " : "NOT READY: ") + std::to_string(r.models.size()) +
                " model(s), " + std::to_string(r.files_checked) + " files, " +
                format_size(r.bytes_locked) +
                (r.hashed ? " hashed" : " (sizes and layout only: --fast)"));
  if (!r.ok()) {
    out.push_back(std::to_string(r.findings.size()) +
                  " problem(s); fix: modelbake fetch --locked (or modelbake verify --repair)");
  }
  out.insert(out.end(), {"", "Runtime environment for this cache:", "  HF_HUB_CACHE=" + o.cache,
                         "  HF_HUB_OFFLINE=1"});
  return out;
}

std::vector<std::string> status_lines(const verify::StatusOutcome& o) {
  std::vector<std::string> out;
  for (const auto& e : o.entries) {
    std::string line =
        std::string(verify::to_string(e.state)) + "  " + e.name + "  " + e.repo + "@" + e.revision;
    if (!e.renamed_to.empty()) line += " (renamed to " + e.renamed_to + ")";
    if (!e.commit.empty()) line += " (" + e.commit.substr(0, 12) + ")";
    line += "  " + std::to_string(e.files) + " files, " + format_size(e.bytes);
    if (!e.detail.empty()) line += "  -- " + e.detail;
    out.push_back(std::move(line));
  }
  return out;
}

}  // namespace mb::cli
