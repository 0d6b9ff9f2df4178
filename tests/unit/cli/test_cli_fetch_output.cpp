// What `lock` and `fetch` print, rendered from one fetch::RunOutcome: the --json contract
// (docs/cli-json.md) and the human lines.
#include <gtest/gtest.h>

#include "cli/fetch_output.hpp"
#include "core/log.hpp"

using namespace mb;

namespace {

LockedModel model(const std::string& name, const std::string& commit, uint64_t size) {
  LockedModel m;
  m.name = name;
  m.repo = "org/" + name;
  m.revision = "main";
  m.commit = commit;
  LockedFile f;
  f.path = "w.bin";
  f.size = size;
  m.files.push_back(f);
  return m;
}

fetch::RunOutcome partial_failure() {
  fetch::RunOutcome o;
  o.lock_path = "/p/modelbake.lock";
  o.lock.models = {model("a", std::string(40, 'a'), 2048), model("b", std::string(40, 'b'), 4)};
  o.lock.models[0].renamed_to = "org/a2";
  o.report.files_total = 2;
  o.report.files_downloaded = 1;
  o.report.bytes_downloaded = 2048;
  o.report.errors.push_back(
      {"b", "org/b", "w.bin",
       make_error(ErrorCategory::permanent, "org/b: w.bin: 404 with sk_cli_output_secret")});
  o.report.incomplete_models = {"b"};
  o.report.retries.push_back({"a", "org/a", "w.bin", "sha256 mismatch", 2});
  o.failure = make_error(ErrorCategory::permanent, "1 of 2 files failed");
  return o;
}

TEST(CliFetchOutput, JsonRendersTheOutcome) {
  log::add_secret("sk_cli_output_secret");
  fetch::RunOutcome o = partial_failure();
  auto doc = cli::outcome_json("fetch", o);
  std::vector<std::string> keys;
  for (const auto& [k, v] : doc.items()) keys.push_back(k);
  EXPECT_EQ(keys, (std::vector<std::string>{"ok", "command", "lock", "locked", "models", "files",
                                            "bytes", "duration_seconds", "errors", "retries"}));
  EXPECT_EQ(doc["ok"], false);
  EXPECT_EQ(doc["command"], "fetch");
  EXPECT_EQ(doc["lock"], "/p/modelbake.lock");
  EXPECT_EQ(doc["locked"], false);
  EXPECT_EQ(doc["models"][0]["renamed_to"], "org/a2");
  EXPECT_TRUE(doc["models"][1]["renamed_to"].is_null());
  EXPECT_EQ(doc["models"][0]["complete"], true);
  EXPECT_EQ(doc["models"][1]["complete"], false);
  EXPECT_EQ(doc["files"]["downloaded"], 1);
  EXPECT_EQ(doc["errors"][0]["exit_code"], 3);
  EXPECT_EQ(doc["errors"][0]["message"], "org/b: w.bin: 404 with ***");
  EXPECT_EQ(doc["retries"][0]["kind"], "digest_mismatch");
  EXPECT_EQ(doc["retries"][0]["attempt"], 2);
  EXPECT_EQ(o.exit_code(), 3);
}

TEST(CliFetchOutput, HumanLines) {
  fetch::RunOutcome o = partial_failure();
  auto fetched = cli::fetch_lines(o, "/cache");
  ASSERT_EQ(fetched.size(), 3u);
  EXPECT_EQ(fetched[0], "a: org/a@aaaaaaaaaaaa, 1 files, 2.00 KiB");
  EXPECT_EQ(fetched[2], "fetched 2 files: 1 downloaded (2.00 KiB), 0 already cached; cache /cache");

  auto locked = cli::lock_lines(o);
  ASSERT_EQ(locked.size(), 3u);
  EXPECT_EQ(locked[0], "locked a: org/a (renamed to org/a2)@main -> " + std::string(40, 'a') +
                           " (1 files, 2.00 KiB)");
  EXPECT_EQ(locked[2], "wrote /p/modelbake.lock");

  o.kept_offline = "HF_HUB_OFFLINE=1";
  EXPECT_EQ(cli::lock_lines(o),
            std::vector<std::string>{"offline (HF_HUB_OFFLINE=1): /p/modelbake.lock already "
                                     "matches the manifest; kept as it is"});
}

}  // namespace
