#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/log.hpp"

namespace mb {
namespace {

// Secrets are process-wide: these are chosen not to occur in other tests' text.
TEST(LogRedaction, LongSecretMaskedAnywhere) {
  log::add_secret("hf_QlongSecretQ");
  EXPECT_EQ(log::redact("url?t=hf_QlongSecretQ&x and xhf_QlongSecretQx"), "url?t=***&x and x***x");
}

TEST(LogRedaction, ShortSecretsMaskedWhereTheyStandAlone) {
  log::add_secret("Q7z");
  log::add_secret("Qz");
  EXPECT_EQ(log::redact("Authorization: Bearer Q7z"), "Authorization: Bearer ***");
  EXPECT_EQ(log::redact("GET /x?token=Q7z&y=1"), "GET /x?token=***&y=1");
  EXPECT_EQ(log::redact("http://user:Qz@hub/ Q7z. (Qz) \"Q7z\""),
            "http://user:***@hub/ ***. (***) \"***\"");
  // Inside a longer word it is ordinary text, not the secret.
  EXPECT_EQ(log::redact("xQ7z Q7zx Q7z_1 a-Qz Qzz"), "xQ7z Q7zx Q7z_1 a-Qz Qzz");
}

TEST(LogRedaction, EmptySecretIgnored) {
  log::add_secret("");
  EXPECT_EQ(log::redact("nothing to hide"), "nothing to hide");
}

// Sends the log to a temporary file for one test and restores stderr/info/human afterwards.
class LogCapture : public ::testing::Test {
 protected:
  void SetUp() override { m_file = std::tmpfile(); }
  void TearDown() override {
    log::configure(log::Level::info, log::Format::human, stderr);
    std::fclose(m_file);
  }
  void use(log::Level level, log::Format format) { log::configure(level, format, m_file); }
  std::vector<std::string> lines() {
    std::fflush(m_file);
    std::rewind(m_file);
    std::vector<std::string> out;
    std::string line;
    for (int c; (c = std::fgetc(m_file)) != EOF;) {
      if (c != '\n') {
        line += static_cast<char>(c);
        continue;
      }
      out.push_back(line);
      line.clear();
    }
    EXPECT_EQ(line, "") << "every line ends with a newline";
    return out;
  }
  std::FILE* m_file = nullptr;
};

TEST_F(LogCapture, HumanLinesKeepTheirPrefixAndLevelFilter) {
  use(log::Level::warn, log::Format::human);
  log::info("not shown");
  log::warn("disk is slow");
  log::error("no space\n  hint: free some");
  EXPECT_EQ(lines(), (std::vector<std::string>{"modelbake: warning: disk is slow",
                                               "modelbake: error: no space", "  hint: free some"}));
}

TEST_F(LogCapture, QuietLevelStillShowsErrors) {
  use(log::Level::error, log::Format::human);
  log::warn("hidden");
  log::debug("hidden");
  log::error("shown");
  EXPECT_EQ(lines(), std::vector<std::string>{"modelbake: error: shown"});
}

TEST_F(LogCapture, JsonLinesAreOneObjectEach) {
  use(log::Level::debug, log::Format::json);
  log::debug("a \"quoted\" word");
  log::info("two\nlines");
  log::warn(std::string("bad utf-8 \xff here"));
  auto got = lines();
  ASSERT_EQ(got.size(), 3u);
  std::vector<std::string> levels, messages;
  for (const auto& l : got) {
    auto j = nlohmann::json::parse(l);
    ASSERT_TRUE(j.is_object());
    EXPECT_EQ(j.size(), 3u);
    EXPECT_EQ(j["time"].get<std::string>().size(), 24u);  // 2026-11-30T15:50:00.123Z
    EXPECT_EQ(j["time"].get<std::string>().back(), 'Z');
    levels.push_back(j["level"]);
    messages.push_back(j["message"]);
  }
  EXPECT_EQ(levels, (std::vector<std::string>{"debug", "info", "warning"}));
  EXPECT_EQ(messages[0], "a \"quoted\" word");
  EXPECT_EQ(messages[1], "two\nlines");
  EXPECT_EQ(messages[2], "bad utf-8 \xEF\xBF\xBD here");
}

// Redaction sits in the sink: a message logged through spdlog itself, not through mb::log,
// is masked too, in both formats.
TEST_F(LogCapture, SecretsAreMaskedEvenThroughSpdlogDirectly) {
  log::add_secret("hf_SinkSecret77");
  use(log::Level::info, log::Format::human);
  spdlog::warn("token {} leaked", "hf_SinkSecret77");
  spdlog::default_logger()->info("url?t=hf_SinkSecret77");
  log::info("Bearer hf_SinkSecret77");
  use(log::Level::info, log::Format::json);
  spdlog::error("x hf_SinkSecret77 y");
  auto got = lines();
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[0], "modelbake: warning: token *** leaked");
  EXPECT_EQ(got[1], "modelbake: url?t=***");
  EXPECT_EQ(got[2], "modelbake: Bearer ***");
  EXPECT_EQ(nlohmann::json::parse(got[3])["message"], "x *** y");
  for (const auto& l : got) EXPECT_EQ(l.find("SinkSecret"), std::string::npos) << l;
}

TEST_F(LogCapture, CountsWrittenLinesOnly) {
  use(log::Level::warn, log::Format::human);
  uint64_t before = log::lines_written();
  log::info("filtered out");
  log::warn("one");
  log::error("two");
  EXPECT_EQ(log::lines_written() - before, 2u);
}

}  // namespace
}  // namespace mb
