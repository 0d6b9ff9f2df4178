#include <gtest/gtest.h>

#include <filesystem>

#include "core/file.hpp"
#include "runtime/memory.hpp"
#include "support/temp_dir.hpp"

namespace mb::runtime {
namespace {

void write(const std::string& path, const std::string& text) {
  ASSERT_TRUE(write_file_atomic(path, text).ok()) << path;
}

TEST(MemorySize, Parses) {
  EXPECT_EQ(*parse_memory_size("4G"), 4ull << 30);
  EXPECT_EQ(*parse_memory_size("512m"), 512ull << 20);
  EXPECT_EQ(*parse_memory_size("1.5GiB"), 3ull << 29);
  EXPECT_EQ(*parse_memory_size("800K"), 800ull << 10);
  EXPECT_EQ(*parse_memory_size("123"), 123u);
  EXPECT_EQ(*parse_memory_size("2TB"), 2ull << 40);
  for (const char* bad : {"", "G", "4X", "-1", "1.2.3", "0", ".5G", "99999999999T"}) {
    auto r = parse_memory_size(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_EQ(r.error().category, ErrorCategory::usage);
    }
  }
}

TEST(MemorySize, Formats) {
  EXPECT_EQ(format_size(512), "512 B");
  EXPECT_EQ(format_size(1536), "1.5 KiB");
  EXPECT_EQ(format_size(3ull << 30), "3.0 GiB");
}

TEST(MemoryProbe, CgroupV2TakesTightestAncestorMinusUsage) {
  test::TempDir root;
  const std::string cg = root.path() + "/sys/fs/cgroup";
  write(root.path() + "/proc/self/cgroup", "0::/kubepods/pod1/ctr\n");
  write(cg + "/kubepods/memory.max", "1000000\n");
  write(cg + "/kubepods/memory.current", "300000\n");
  write(cg + "/kubepods/pod1/ctr/memory.max", "max\n");
  write(cg + "/kubepods/pod1/ctr/memory.current", "100000\n");
  write(root.path() + "/proc/meminfo", "MemTotal: 16000000 kB\nMemAvailable:    8000000 kB\n");
  MemoryAvailability m = probe_memory(root.path());
  ASSERT_TRUE(m.available.has_value());
  EXPECT_EQ(*m.available, 700000u);
  EXPECT_EQ(*m.cgroup_limit, 1000000u);
  EXPECT_EQ(*m.mem_available, 8000000ull * 1024);
  EXPECT_NE(m.source.find("cgroup v2"), std::string::npos);
  EXPECT_NE(m.source.find("/sys/fs/cgroup/kubepods/memory.max"), std::string::npos);
}

TEST(MemoryProbe, CgroupV1ThenMeminfo) {
  test::TempDir root;
  write(root.path() + "/proc/self/cgroup", "4:memory:/docker/abc\n0::/\n");
  write(root.path() + "/sys/fs/cgroup/memory/memory.limit_in_bytes", "2097152\n");
  write(root.path() + "/sys/fs/cgroup/memory/memory.usage_in_bytes", "1048576\n");
  write(root.path() + "/proc/meminfo", "MemAvailable: 8000000 kB\n");
  MemoryAvailability m = probe_memory(root.path());
  EXPECT_EQ(m.available.value_or(0), 1048576u);
  EXPECT_NE(m.source.find("cgroup v1"), std::string::npos);

  // An unlimited v1 cgroup (page-rounded LONG_MAX) defers to MemAvailable.
  write(root.path() + "/sys/fs/cgroup/memory/memory.limit_in_bytes", "9223372036854771712\n");
  m = probe_memory(root.path());
  EXPECT_EQ(m.available.value_or(0), 8000000ull * 1024);
  EXPECT_EQ(m.source, "/proc/meminfo MemAvailable");
  EXPECT_FALSE(m.cgroup_limit.has_value());
}

TEST(MemoryProbe, MeminfoBelowCgroupHeadroomWins) {
  test::TempDir root;
  write(root.path() + "/proc/self/cgroup", "0::/\n");
  write(root.path() + "/sys/fs/cgroup/memory.max", "100000000000\n");
  write(root.path() + "/sys/fs/cgroup/memory.current", "0\n");
  write(root.path() + "/proc/meminfo", "MemAvailable: 1000 kB\n");
  EXPECT_EQ(probe_memory(root.path()).available.value_or(0), 1024000u);
}

TEST(MemoryProbe, NothingReadable) {
  test::TempDir root;
  MemoryAvailability m = probe_memory(root.path());
  EXPECT_FALSE(m.available.has_value());
  EXPECT_TRUE(m.source.empty());
}

}  // namespace
}  // namespace mb::runtime
