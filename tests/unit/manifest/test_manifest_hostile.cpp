// Hostile manifests: alias bombs, duplicate keys, odd structure. Every one is a usage error
// naming file:line:col, found before the tree is walked.
#include <gtest/gtest.h>

#include <string>

#include "manifest/manifest.hpp"

namespace mb {
namespace {

// 9 levels of 9-fold aliases: 9^9 (387 million) scalars once expanded, 600 bytes of text.
std::string alias_bomb() {
  std::string y =
      "version: 1\nmodels:\n  - repo: org/x\n    expect:\n      l0: &l0 [lol, lol, lol, lol, lol, "
      "lol, lol, lol, lol]\n";
  for (int i = 1; i < 9; ++i) {
    std::string prev = "*l" + std::to_string(i - 1);
    y += "      l" + std::to_string(i) + ": &l" + std::to_string(i) + " [";
    for (int k = 0; k < 9; ++k) y += (k ? ", " : "") + prev;
    y += "]\n";
  }
  return y;
}

void expect_refused(const std::string& yaml, const std::string& where,
                    const std::string& fragment) {
  auto m = parse_manifest(yaml, "m.yaml");
  ASSERT_FALSE(m.ok()) << yaml;
  EXPECT_EQ(m.error().category, ErrorCategory::usage);
  EXPECT_EQ(m.error().message.rfind("m.yaml:" + where, 0), 0u) << m.error().message;
  EXPECT_NE(m.error().message.find(fragment), std::string::npos) << m.error().message;
}

TEST(ManifestHostile, AliasBombRefusedAtFirstAlias) {
  // line 6 holds l1, whose first alias is at column 16
  expect_refused(alias_bomb(), "6:16:", "YAML aliases");
}

TEST(ManifestHostile, AnyAliasRefused) {
  expect_refused("version: 1\nmodels:\n  - repo: &r org/x\n  - repo: *r\n    as: y\n",
                 "4:11:", "aliases");
  expect_refused("version: &v 1\nendpoint: *v\nmodels: [{repo: a/b}]\n", "2:11:", "aliases");
}

TEST(ManifestHostile, AnchorWithoutAliasIsHarmless) {
  auto m = parse_manifest("version: 1\nmodels:\n  - repo: &r org/x\n", "m.yaml");
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_EQ(m->models[0].repo, "org/x");
}

TEST(ManifestHostile, DuplicateKeysRefusedAtEveryLevel) {
  expect_refused("version: 1\nmodels: [{repo: a/b}]\nversion: 1\n",
                 "3:1:", "duplicate key 'version' (first at line 1)");
  expect_refused("version: 1\nmodels:\n  - repo: a/b\n    revision: main\n    revision: v2\n",
                 "5:5:", "duplicate key 'revision' (first at line 4)");
  expect_refused("version: 1\nmodels:\n  - repo: a/b\n    expect:\n      dim: 8\n      dim: 9\n",
                 "6:7:", "duplicate key 'dim'");
  expect_refused("version: 1\nmodels: [{repo: a/b, repo: c/d}]\n", "2:22:", "duplicate key 'repo'");
  // "repo" and 'repo' are the same key
  expect_refused("version: 1\nmodels:\n  - repo: a/b\n    'repo': c/d\n", "4:5:", "duplicate key");
}

TEST(ManifestHostile, SameKeyInSiblingMappingsIsFine) {
  auto m = parse_manifest(
      "version: 1\nmodels:\n  - {repo: a/b, expect: {x: {k: 1}, y: {k: 2}}}\n"
      "  - {repo: c/d}\n",
      "m.yaml");
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_EQ(m->models[0].expect_json, R"({"x":{"k":1},"y":{"k":2}})");
}

TEST(ManifestHostile, StructureOutsideTheFormatRefused) {
  expect_refused("version: 1\nmodels:\n  - repo: a/b\n    expect:\n      ? [a, b]\n      : 1\n",
                 "5:9:", "keys must be plain strings");
  expect_refused("version: 1\nmodels: [{repo: a/b}]\n---\nversion: 1\n",
                 "3:1:", "more than one YAML document");
  std::string deep = "version: 1\nmodels: [{repo: a/b, expect: {x: ";
  for (int i = 0; i < 70; ++i) deep += "[";
  for (int i = 0; i < 70; ++i) deep += "]";
  expect_refused(deep + "}}]\n", "2:", "nested deeper than 64 levels");
  // yaml-cpp refuses an escaped lone surrogate itself; raw bytes reach the event pass
  expect_refused("version: 1\nmodels:\n  - repo: a/b\n    include: \"\\ud800\"\n",
                 "4:", "invalid unicode");
  expect_refused("version: 1\nmodels:\n  - repo: a/b\n    include: \"x\xff\"\n",
                 "4:14:", "not valid UTF-8");
}

TEST(ManifestHostile, NonAsciiTextIsFine) {
  auto m = parse_manifest(
      "version: 1\nmodels:\n  - repo: a/b\n    expect: {probe: \"ça été 猫 🐈\"}\n", "m.yaml");
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_EQ(m->models[0].expect_json, "{\"probe\":\"ça été 猫 🐈\"}");
}

TEST(ManifestHostile, OnlyFiniteDecimalsBecomeNumbers) {
  auto m = parse_manifest(
      "version: 1\nmodels:\n  - repo: a/b\n    expect: {a: nan, b: -inf, c: 1.5, d: 1e3, e: -2, f: "
      "1e400, g: 0x1p3}\n",
      "m.yaml");
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_EQ(m->models[0].expect_json,
            R"({"a":"nan","b":"-inf","c":1.5,"d":1000.0,"e":-2,"f":"1e400","g":"0x1p3"})");
}

TEST(ManifestHostile, ModelFolderNamesFollowTheRepoPathRule) {
  expect_refused("version: 1\nmodels:\n  - repo: a/b\n    as: .git\n",
                 "4:9:", "simple folder name");
  expect_refused("version: 1\nmodels:\n  - repo: a/b\n    as: .cache\n",
                 "4:9:", "simple folder name");
}

}  // namespace
}  // namespace mb
