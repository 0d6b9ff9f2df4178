#include <gtest/gtest.h>

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

}  // namespace
}  // namespace mb
