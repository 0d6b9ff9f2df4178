// What `verify` and `status` print, rendered from the outcomes of verify::run_verify and
// verify::run_status: human lines and the "repair" part of the --json document.
#include <gtest/gtest.h>

#include "cli/verify_output.hpp"

using namespace mb;

namespace {

verify::VerifyOutcome repaired_outcome() {
  verify::VerifyOutcome o;
  o.cache = "/c";
  verify::ModelResult m;
  m.name = "mini";
  m.repo = "org/mini";
  m.revision = "main";
  m.commit = std::string(40, 'a');
  m.files = 2;
  m.files_ok = 1;
  m.bytes = 2048;
  m.findings = 1;
  o.report.models.push_back(m);
  verify::Finding f;
  f.kind = verify::FindingKind::missing_file;
  f.model = "mini";
  f.message = "w.bin is missing";
  f.location = "/c/x";
  o.report.findings.push_back(f);
  o.report.files_checked = 2;
  o.report.bytes_locked = 2048;
  o.report.hashed = true;
  o.repair = verify::RepairSummary{{f}, {"/c/gone"}, {}, {"mini"}};
  return o;
}

TEST(CliVerifyOutput, HumanLinesListRepairsFindingsVerdictAndEnvironment) {
  auto lines = cli::verify_lines(repaired_outcome());
  std::vector<std::string> want = {
      "repaired missing_file: w.bin is missing",
      "FAILED  mini  org/mini@main (aaaaaaaaaaaa)  1/2 files, 2.0 KiB",
      "  missing_file: w.bin is missing",
      "    at:       /c/x",
      "NOT READY: 1 model(s), 2 files, 2.0 KiB hashed",
      "1 problem(s); fix: modelbake fetch --locked (or modelbake verify --repair)",
      "",
      "Runtime environment for this cache:",
      "  HF_HUB_CACHE=/c",
      "  HF_HUB_OFFLINE=1"};
  EXPECT_EQ(lines, want);
}

TEST(CliVerifyOutput, JsonHasRepairOnlyWhenARepairRan) {
  verify::VerifyOutcome o = repaired_outcome();
  auto doc = cli::verify_outcome_json(o);
  EXPECT_EQ(doc["repair"]["findings_before"], 1);
  EXPECT_EQ(doc["repair"]["fetched_models"][0], "mini");
  EXPECT_EQ(doc["repair"]["removed"][0], "/c/gone");
  o.repair.reset();
  EXPECT_FALSE(cli::verify_outcome_json(o).contains("repair"));
}

TEST(CliVerifyOutput, StatusLine) {
  verify::StatusOutcome o;
  verify::StatusEntry e;
  e.name = "mini";
  e.repo = "org/mini";
  e.revision = "main";
  e.renamed_to = "org/new";
  e.commit = std::string(40, 'b');
  e.files = 3;
  e.bytes = 10;
  e.state = verify::ModelState::corrupt;
  e.detail = "w.bin: size";
  o.entries.push_back(e);
  EXPECT_EQ(cli::status_lines(o),
            std::vector<std::string>{"corrupt  mini  org/mini@main (renamed to org/new) "
                                     "(bbbbbbbbbbbb)  3 files, 10 B  -- w.bin: size"});
  EXPECT_EQ(o.exit_code(), 1);
}

}  // namespace
