// Byte-count parsing shared by `gc --max-size` and `modelbake-verify --max-memory`.
#include <gtest/gtest.h>

#include "core/units.hpp"

namespace mb {
namespace {

TEST(ParseSize, BinaryUnitsAnyCaseWithOptionalIAndB) {
  EXPECT_EQ(parse_size("0"), 0u);
  EXPECT_EQ(parse_size("123"), 123u);
  EXPECT_EQ(parse_size("7B"), 7u);
  EXPECT_EQ(parse_size("800K"), 800ull << 10);
  EXPECT_EQ(parse_size("512m"), 512ull << 20);
  EXPECT_EQ(parse_size("1.5GiB"), 3ull << 29);
  EXPECT_EQ(parse_size("20gb"), 20ull << 30);
  EXPECT_EQ(parse_size("2TB"), 2ull << 40);
  EXPECT_EQ(parse_size("1.5"), 1u);  // rounded down
}

TEST(ParseSize, RejectsEverythingElse) {
  for (const char* bad : {"", "G", "4X", "-1", "+5", " 5", "5 ", "1e3", "0x10", "inf", "nan", "1.2.3", ".5G",
                          "4GG", "4KiBB", "99999999999T"}) {
    EXPECT_FALSE(parse_size(bad).has_value()) << bad;
  }
}

}  // namespace
}  // namespace mb
