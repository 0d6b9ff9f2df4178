// The progress display's text (cli/progress_render): files, totals, rate, ETA, widths.
#include <gtest/gtest.h>

#include "cli/progress_render.hpp"

namespace mb::cli {
namespace {

TEST(CliProgress, FormatsEta) {
  EXPECT_EQ(format_eta(-1), "--");
  EXPECT_EQ(format_eta(42.4), "42s");
  EXPECT_EQ(format_eta(185), "3m05s");
  EXPECT_EQ(format_eta(7260), "2h01m");
  EXPECT_EQ(format_eta(1e12), "--");
}

TEST(CliProgress, FormatsRate) {
  EXPECT_EQ(format_rate(0), "0 B/s");
  EXPECT_EQ(format_rate(2.0 * (1 << 20)), "2.00 MiB/s");
}

TEST(CliProgress, RendersFilesAndTotal) {
  fetch::ProgressSnapshot s;
  s.files_total = 3;
  s.files_done = 1;
  s.bytes_total = 4 << 20;
  s.bytes_done = 2 << 20;
  s.active = {{1, "org/model: model.safetensors", 3 << 20, 1 << 20}};
  auto lines = render_progress(s, 1 << 20, 100, 8);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_NE(lines[0].find("model.safetensors"), std::string::npos);
  EXPECT_NE(lines[0].find(" 33%"), std::string::npos);
  EXPECT_NE(lines[1].find("[1/3 files]"), std::string::npos);
  EXPECT_NE(lines[1].find("1.00 MiB/s"), std::string::npos);
  EXPECT_NE(lines[1].find("ETA 2s"), std::string::npos);
  // narrow terminal: long names are cut from the left, lines stay within the width
  s.active[0].label = std::string(200, 'x') + "/tail.bin";
  for (const auto& line : render_progress(s, 0, 60, 8)) EXPECT_LE(line.size(), 60u) << line;
  EXPECT_NE(render_progress(s, 0, 60, 8).back().find("ETA --"), std::string::npos);
}

TEST(CliProgress, RendersAtMostMaxFiles) {
  fetch::ProgressSnapshot s;
  for (int i = 0; i < 5; ++i) s.active.push_back({i, "f" + std::to_string(i), 10, 5});
  auto lines = render_progress(s, 0, 80, 2);
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_NE(lines[2].find("3 more"), std::string::npos);
}

TEST(CliProgress, RateFollowsSamples) {
  RateMeter m;
  m.sample(0, 0);
  EXPECT_EQ(m.bytes_per_second(), 0);
  m.sample(1, 1000);
  EXPECT_DOUBLE_EQ(m.bytes_per_second(), 1000);
  for (int t = 2; t < 40; ++t) m.sample(t, 1000 + (t - 1) * 3000);
  EXPECT_NEAR(m.bytes_per_second(), 3000, 1);
}

}  // namespace
}  // namespace mb::cli
