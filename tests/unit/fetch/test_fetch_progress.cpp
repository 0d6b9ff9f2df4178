#include <gtest/gtest.h>

#include "fetch/progress.hpp"

namespace mb::fetch {
namespace {

TEST(FetchProgress, FormatsBytes) {
  EXPECT_EQ(format_bytes(0), "0 B");
  EXPECT_EQ(format_bytes(1023), "1023 B");
  EXPECT_EQ(format_bytes(1536), "1.50 KiB");
  EXPECT_EQ(format_bytes(12ull << 20), "12.0 MiB");
  EXPECT_EQ(format_bytes(300ull << 20), "300 MiB");
  EXPECT_EQ(format_bytes(3ull << 30), "3.00 GiB");
}

TEST(FetchProgress, CountsFilesAndBytes) {
  Progress p;
  std::vector<FileEvent> events;
  p.set_listener([&](const FileEvent& e) { events.push_back(e); });
  p.add_planned(2, 300);
  int a = p.start_file("org/m: a", 100);
  int b = p.start_file("org/m: b", 200);
  p.file_progress(a, 50);
  p.file_progress(b, 500);  // clamped to the size
  p.add_network_bytes(250);
  auto s = p.snapshot();
  EXPECT_EQ(s.bytes_done, 250u);
  EXPECT_EQ(s.active.size(), 2u);
  p.finish_file(a, FileEvent{"org/m: a", 100, FileOutcome::downloaded, 100});
  s = p.snapshot();
  EXPECT_EQ(s.files_done, 1u);
  EXPECT_EQ(s.bytes_done, 300u);  // 100 finished + 200 of b
  EXPECT_EQ(s.network_bytes, 250u);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].label, "org/m: a");
  p.abandon_file(b);
  EXPECT_TRUE(p.snapshot().active.empty());
}

}  // namespace
}  // namespace mb::fetch
