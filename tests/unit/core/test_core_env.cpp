#include <gtest/gtest.h>

#include "core/env.hpp"

namespace mb {
namespace {

Result<int64_t> epoch(const char* value) {
  return source_date_epoch(
      MapEnv(std::map<std::string, std::string>{{"SOURCE_DATE_EPOCH", value}}));
}

TEST(SourceDateEpoch, UnsetIsZero) {
  auto r = source_date_epoch(MapEnv{});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 0);
}

TEST(SourceDateEpoch, DecimalSeconds) {
  ASSERT_TRUE(epoch("1700000000").ok());
  EXPECT_EQ(*epoch("1700000000"), 1700000000);
  EXPECT_EQ(*epoch("0"), 0);
}

TEST(SourceDateEpoch, AnythingElseIsAUsageErrorNamingTheValue) {
  for (const char* bad : {"-1", "yesterday", "17e8", " 5", "5 ", "0x10", "99999999999999999999"}) {
    auto r = epoch(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().category, ErrorCategory::usage) << bad;
    EXPECT_NE(r.error().message.find("SOURCE_DATE_EPOCH"), std::string::npos);
    EXPECT_NE(r.error().message.find(std::string("'") + bad + "'"), std::string::npos);
  }
}

}  // namespace
}  // namespace mb
