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
  for (const char* bad : {"", "G", "4X", "-1", "+5", " 5", "5 ", "1e3", "0x10", "inf", "nan",
                          "1.2.3", ".5G", "4GG", "4KiBB", "99999999999T"}) {
    EXPECT_FALSE(parse_size(bad).has_value()) << bad;
  }
}

}  // namespace
}  // namespace mb

namespace mb {
namespace {

// Issue 12: one byte formatter; progress asks for three significant digits.
TEST(FormatSize, OneDecimalOrThreeSignificantDigits) {
  EXPECT_EQ(format_size(1023), "1023 B");
  EXPECT_EQ(format_size(1536), "1.5 KiB");
  EXPECT_EQ(format_size(300ull << 20), "300.0 MiB");
  EXPECT_EQ(format_size(1023, SizeDigits::three_significant), "1023 B");
  EXPECT_EQ(format_size(1536, SizeDigits::three_significant), "1.50 KiB");
  EXPECT_EQ(format_size(12ull << 20, SizeDigits::three_significant), "12.0 MiB");
  EXPECT_EQ(format_size(300ull << 20, SizeDigits::three_significant), "300 MiB");
}

}  // namespace
}  // namespace mb
