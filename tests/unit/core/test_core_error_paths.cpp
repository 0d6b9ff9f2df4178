#include <gtest/gtest.h>

#include <filesystem>

#include "core/error.hpp"
#include "core/paths.hpp"

namespace mb {
namespace {

Result<int> half(int x) {
  if (x % 2 != 0) return fail(ErrorCategory::usage, "odd");
  return x / 2;
}

Result<int> quarter(int x) {
  MB_ASSIGN(int h, half(x));
  MB_ASSIGN(int q, half(h));
  return q;
}

TEST(Result, PropagatesFirstFailure) {
  EXPECT_EQ(*quarter(8), 2);
  auto r = quarter(6);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().category, ErrorCategory::usage);
  EXPECT_EQ(r.error().message, "odd");
}

TEST(ExitCodes, MatchDocumentedTable) {
  EXPECT_EQ(exit_code_for(ErrorCategory::integrity), 1);
  EXPECT_EQ(exit_code_for(ErrorCategory::usage), 2);
  EXPECT_EQ(exit_code_for(ErrorCategory::transient), 3);
  EXPECT_EQ(exit_code_for(ErrorCategory::permanent), 3);
  EXPECT_EQ(exit_code_for(ErrorCategory::auth), 4);
  EXPECT_EQ(exit_code_for(ErrorCategory::io), 5);
}

TEST(RelativePath, AcceptsNormalRepoPaths) {
  for (const char* p :
       {"config.json", "1_Pooling/config.json", "a/b/c/d.safetensors", ".gitattributes"}) {
    EXPECT_TRUE(validate_relative_path(p, "test").ok()) << p;
  }
}

TEST(RelativePath, RejectsEscapes) {
  for (std::string p :
       {std::string(""), std::string("/etc/passwd"), std::string("../x"), std::string("a/../../x"),
        std::string("a/./b"), std::string("a//b"), std::string("a/"), std::string("a\\b"),
        std::string("a\0b", 3), std::string("a/\x01"), std::string(".."), std::string(".")}) {
    auto s = validate_relative_path(p, "file name from server");
    EXPECT_FALSE(s.ok()) << p;
  }
  EXPECT_FALSE(validate_relative_path(std::string(300, 'a'), "x").ok());
}

TEST(RepoFilePath, AcceptsNormalRepoFiles) {
  for (const char* p :
       {"config.json", ".gitattributes", ".gitignore", "git/config", "a.git/x", "x.cache",
        "cache/x", "1_Pooling/config.json", "onnx/model:v2.onnx", "ab:c"}) {
    EXPECT_TRUE(validate_repo_file_path(p, "test").ok()) << p;
  }
}

TEST(RepoFilePath, RejectsGitCacheAndDriveNames) {
  for (const char* p : {".git", ".git/config", "sub/.git/hooks/pre-commit", ".GIT/config", ".Git/x",
                        ".git./config", ".git  /config", ".git::$INDEX_ALLOCATION/config",
                        "GIT~1/config", ".cache/huggingface/download/x.metadata", "a/.cache/x",
                        ".CACHE/x", "C:x", "a/c:/x", "Z:"}) {
    auto s = validate_repo_file_path(p, "file name from server");
    ASSERT_FALSE(s.ok()) << p;
    EXPECT_EQ(s.error().category, ErrorCategory::permanent);
    EXPECT_NE(s.error().message.find("unsafe file name from server"), std::string::npos);
  }
  EXPECT_NE(validate_repo_file_path(".git/config", "x").error().message.find("'.git' component"),
            std::string::npos);
  // Everything validate_relative_path refuses is refused too.
  for (const char* p : {"../x", "/etc/passwd", "a\\b", "a//b", ""}) {
    EXPECT_FALSE(validate_repo_file_path(p, "x").ok()) << p;
  }
}

TEST(RepoId, Grammar) {
  EXPECT_TRUE(validate_repo_id("sentence-transformers/all-MiniLM-L6-v2").ok());
  EXPECT_TRUE(validate_repo_id("gpt2").ok());
  for (const char* bad : {"a/b/c", "a--b/c", "../x", "-a/b", "a/b.", "a b/c", "", "a/"}) {
    EXPECT_FALSE(validate_repo_id(bad).ok()) << bad;
  }
}

TEST(Revision, Grammar) {
  EXPECT_TRUE(validate_revision("main").ok());
  EXPECT_TRUE(validate_revision("refs/pr/1").ok());
  EXPECT_TRUE(validate_revision("v1.0").ok());
  EXPECT_FALSE(validate_revision("../main").ok());
  EXPECT_FALSE(validate_revision("a b").ok());
  EXPECT_FALSE(validate_revision("").ok());
}

TEST(AbsolutePath, OneSpellingOfADirectory) {
  EXPECT_EQ(absolute_path("/a/b/../c/./d/"), "/a/c/d");
  EXPECT_EQ(absolute_path("/a//b///"), "/a/b");
  EXPECT_EQ(absolute_path("/"), "/");
  std::string cwd = std::filesystem::current_path().string();
  EXPECT_EQ(absolute_path("x/../y/"), (std::filesystem::path(cwd) / "y").string());
}

}  // namespace
}  // namespace mb
