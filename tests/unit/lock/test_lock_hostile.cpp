// Hostile locks (a bundle's lock comes from another machine): lenient numbers, repo paths a
// checkout must never hold, absurd nesting. All are usage errors naming the lock.
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "core/hash.hpp"
#include "lock/lockfile.hpp"

namespace mb {
namespace {

std::string lock_text(const std::string& path, const std::string& size,
                      const std::string& name = "bert",
                      const std::string& expect = "{\"dim\": 8}") {
  return R"({"version": 1, "models": [{"name": ")" + name +
         R"(", "repo": "org/bert", "type": "model", "revision": "main", "commit": ")" +
         std::string(40, 'c') + R"(", "include": [], "exclude": [], "expect": )" + expect +
         R"(, "files": [{"path": ")" + path + R"(", "size": )" + size + R"(, "sha256": ")" +
         sha256_hex("abc") + R"(", "etag": ")" + git_blob_sha1_hex("abc") + R"("}]}]})";
}

void expect_refused(const std::string& text, const std::string& fragment) {
  auto lock = parse_lock(text, "x.lock");
  ASSERT_FALSE(lock.ok()) << text;
  EXPECT_EQ(lock.error().category, ErrorCategory::usage);
  EXPECT_EQ(lock.error().message.rfind("x.lock: invalid lock: ", 0), 0u) << lock.error().message;
  EXPECT_NE(lock.error().message.find(fragment), std::string::npos) << lock.error().message;
}

TEST(LockHostile, ControlParses) {
  auto lock = parse_lock(lock_text("config.json", "3"), "x.lock");
  ASSERT_TRUE(lock.ok()) << lock.error().message;
  EXPECT_EQ(lock->models[0].files[0].size, 3u);
}

TEST(LockHostile, SizeMustBeAPlainUnsignedInteger) {
  for (const char* size : {"-1", "10.9", "3.0", "1e3", "\"3\"", "null", "true", "-0.0"}) {
    SCOPED_TRACE(size);
    expect_refused(lock_text("config.json", size), "size of config.json must be a whole number");
  }
  EXPECT_TRUE(parse_lock(lock_text("config.json", "18446744073709551615"), "x.lock").ok());
}

TEST(LockHostile, VersionMustBeTheInteger1) {
  std::string text = lock_text("config.json", "3");
  for (const char* version : {"1.5", "1.0", "\"1\"", "-1"}) {
    std::string t = text;
    t.replace(t.find("1,"), 1, version);
    expect_refused(t, "unsupported version");
  }
}

TEST(LockHostile, GitAndCacheFoldersRefused) {
  for (const char* path : {".git/config", "sub/.git/hooks/post-checkout", ".GIT/config",
                           "git~1/config", ".cache/huggingface/download/a.metadata", "C:x"}) {
    SCOPED_TRACE(path);
    expect_refused(lock_text(path, "3"), "unsafe file path in lock");
  }
  expect_refused(lock_text("config.json", "3", ".git"), "bad model name");
}

TEST(LockHostile, DeepExpectRefusedWithoutRecursing) {
  // 200k levels: ordered_json would copy them recursively while parsing (a stack overflow).
  std::string deep = std::string(200000, '[') + std::string(200000, ']');
  expect_refused(lock_text("config.json", "3", "bert", deep), "nested deeper than 67 levels");
  std::string fine = std::string(60, '[') + std::string(60, ']');
  EXPECT_TRUE(parse_lock(lock_text("config.json", "3", "bert", fine), "x.lock").ok());
}

// Random byte edits of a valid lock: parse_lock never throws and errors stay usage errors.
TEST(LockProperty, MutationsNeverThrow) {
  const std::string base = lock_text("a/config.json", "3");
  std::mt19937_64 rng(7);
  const std::string alphabet = "{}[]\",:-.0123456789eE \\/u";
  for (int i = 0; i < 3000; ++i) {
    std::string t = base;
    for (int k = 0, n = 1 + static_cast<int>(rng() % 4); k < n; ++k) {
      size_t at = rng() % t.size();
      if (rng() % 2)
        t[at] = alphabet[rng() % alphabet.size()];
      else
        t.erase(at, rng() % 8);
    }
    Result<Lockfile> lock = fail(ErrorCategory::permanent, "not run");
    ASSERT_NO_THROW(lock = parse_lock(t, "x.lock")) << t;
    if (!lock.ok()) {
      ASSERT_EQ(lock.error().category, ErrorCategory::usage) << t;
    }
  }
}

}  // namespace
}  // namespace mb
