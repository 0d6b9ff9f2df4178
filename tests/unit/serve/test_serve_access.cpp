#include <gtest/gtest.h>

#include <fstream>

#include "serve/access.hpp"
#include "support/temp_dir.hpp"

namespace mb::serve {
namespace {

TEST(ServeAccess, AllowPatternsMatchUrlNames) {
  AccessPolicy all;
  EXPECT_TRUE(all.repo_allowed(RepoType::model, "org/x"));
  AccessPolicy p;
  p.allow("org/*");
  p.allow("datasets/team/*");
  EXPECT_TRUE(p.repo_allowed(RepoType::model, "org/x"));
  EXPECT_FALSE(p.repo_allowed(RepoType::dataset, "org/x"));
  EXPECT_TRUE(p.repo_allowed(RepoType::dataset, "team/d"));
  EXPECT_FALSE(p.repo_allowed(RepoType::model, "team/d"));
  EXPECT_FALSE(p.repo_allowed(RepoType::model, "gpt2"));
}

TEST(ServeAccess, BearerTokens) {
  AccessPolicy p;
  EXPECT_FALSE(p.requires_token());
  p.add_token("hf_abc123");
  p.add_token("second");
  EXPECT_TRUE(p.requires_token());
  EXPECT_TRUE(p.token_ok("Bearer hf_abc123"));
  EXPECT_TRUE(p.token_ok("bearer  second "));
  for (const char* bad : {"", "Bearer", "Bearer ", "hf_abc123", "Basic hf_abc123",
                          "Bearer hf_abc12", "Bearer hf_abc1234", "Bearer HF_ABC123"}) {
    EXPECT_FALSE(p.token_ok(bad)) << bad;
  }
}

TEST(ServeAccess, TokenFile) {
  test::TempDir dir;
  std::string path = dir.path() + "/tokens";
  std::ofstream(path) << "# comment\n\n  tok1 \r\ntok2\n";
  auto t = read_token_file(path);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(*t, (std::vector<std::string>{"tok1", "tok2"}));
  std::ofstream(path) << "# nothing\n";
  ASSERT_FALSE(read_token_file(path).ok());
  EXPECT_EQ(read_token_file(path).error().category, ErrorCategory::usage);
  EXPECT_FALSE(read_token_file(dir.path() + "/missing").ok());
}

}  // namespace
}  // namespace mb::serve
