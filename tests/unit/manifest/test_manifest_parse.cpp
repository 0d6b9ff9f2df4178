#include <gtest/gtest.h>

#include "manifest/manifest.hpp"

namespace mb {
namespace {

constexpr const char* k_good = R"(version: 1
endpoint: https://huggingface.co
models:
  - repo: sentence-transformers/all-MiniLM-L6-v2
    revision: main
    type: model
    include: ["*.json", "*.safetensors", "*.txt", "1_Pooling/*"]
    exclude: ["onnx/*"]
    as: minilm
    expect:
      dim: 384
      similar:
        - {a: "a cat", b: "a kitten", min_cosine: 0.5}
  - repo: org/data
    type: dataset
    include: "*.parquet"
)";

TEST(Manifest, ParsesFullExample) {
  auto m = parse_manifest(k_good, "modelbake.yaml");
  ASSERT_TRUE(m.ok()) << m.error().message;
  ASSERT_EQ(m->models.size(), 2u);
  const auto& a = m->models[0];
  EXPECT_EQ(a.repo, "sentence-transformers/all-MiniLM-L6-v2");
  EXPECT_EQ(a.name, "minilm");
  EXPECT_EQ(a.include.size(), 4u);
  EXPECT_EQ(a.exclude, std::vector<std::string>{"onnx/*"});
  EXPECT_EQ(a.expect_json,
            R"({"dim":384,"similar":[{"a":"a cat","b":"a kitten","min_cosine":0.5}]})");
  const auto& b = m->models[1];
  EXPECT_EQ(b.type, RepoType::dataset);
  EXPECT_EQ(b.revision, "main");
  EXPECT_EQ(b.name, "data");  // default name: the repo's name
  EXPECT_EQ(b.include, std::vector<std::string>{"*.parquet"});
}

struct BadCase {
  const char* yaml;
  const char* expected_fragment;  // must appear in the message
};

class ManifestErrors : public ::testing::TestWithParam<BadCase> {};

TEST_P(ManifestErrors, RejectedWithLocation) {
  auto m = parse_manifest(GetParam().yaml, "m.yaml");
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().category, ErrorCategory::usage);
  EXPECT_NE(m.error().message.find(GetParam().expected_fragment), std::string::npos)
      << m.error().message;
  EXPECT_EQ(m.error().message.rfind("m.yaml", 0), 0u) << m.error().message;
}

INSTANTIATE_TEST_SUITE_P(
    Malformed, ManifestErrors,
    ::testing::Values(
        BadCase{"", "empty"}, BadCase{"version: 1\nmodels: [\n", "YAML syntax error"},
        BadCase{"- a\n- b\n", "must be a mapping"},
        BadCase{"models:\n  - repo: a/b\n", "missing 'version"},
        BadCase{"version: 2\nmodels:\n  - repo: a/b\n", "unsupported manifest version"},
        BadCase{"version: 1\n", "missing 'models'"},
        BadCase{"version: 1\nmodels: []\n", "non-empty list"},
        BadCase{"version: 1\nmodles:\n  - repo: a/b\n", "unknown key 'modles'"},
        BadCase{"version: 1\nmodels:\n  - repo: a/b\n    revison: main\n",
                "m.yaml:4:5: unknown key 'revison'"},
        BadCase{"version: 1\nmodels:\n  - revision: main\n", "missing 'repo'"},
        BadCase{"version: 1\nmodels:\n  - repo: ../../etc\n", "invalid repo id"},
        BadCase{"version: 1\nmodels:\n  - repo: [a]\n", "'repo' must be a string"},
        BadCase{"version: 1\nmodels:\n  - repo: a/b\n    type: space\n", "'type' must be"},
        BadCase{"version: 1\nmodels:\n  - repo: a/b\n    revision: ../x\n", "revision"},
        BadCase{"version: 1\nmodels:\n  - repo: a/b\n    include: {x: 1}\n", "'include' must be"},
        BadCase{"version: 1\nmodels:\n  - repo: a/b\n    exclude: [[1]]\n",
                "entries must be strings"},
        BadCase{"version: 1\nmodels:\n  - repo: a/b\n    include: ['']\n", "empty pattern"},
        BadCase{"version: 1\nmodels:\n  - repo: a/b\n    as: ../x\n",
                "'as' must be a simple folder name"},
        BadCase{"version: 1\nmodels:\n  - repo: a/b\n    expect: 3\n",
                "'expect' must be a mapping"},
        BadCase{"version: 1\nmodels:\n  - repo: a/b\n  - repo: c/b\n", "duplicate model name 'b'"},
        BadCase{"version: 1\nendpoint: ftp://x\nmodels:\n  - repo: a/b\n", "endpoint"},
        BadCase{"version: 1\nmodels:\n  - just-a-string\n", "must be a mapping"}));

TEST(LockMatch, DetectsEachKindOfDrift) {
  auto m = parse_manifest(k_good, "modelbake.yaml");
  ASSERT_TRUE(m.ok());
  Lockfile lock;
  for (const auto& mm : m->models) {
    LockedModel l = lock_skeleton(mm);
    l.commit = std::string(40, 'a');
    lock.models.push_back(l);
  }
  EXPECT_TRUE(lock_matches_manifest(*m, lock).ok());

  Lockfile changed = lock;
  changed.models[0].revision = "v2";
  auto s = lock_matches_manifest(*m, changed);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("revision changed"), std::string::npos);

  changed = lock;
  changed.models[0].include.pop_back();
  EXPECT_FALSE(lock_matches_manifest(*m, changed).ok());

  changed = lock;
  changed.models.pop_back();
  EXPECT_FALSE(lock_matches_manifest(*m, changed).ok());

  changed = lock;
  LockedModel extra = changed.models[0];
  extra.name = "extra";
  changed.models.push_back(extra);
  s = lock_matches_manifest(*m, changed);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("not in the manifest"), std::string::npos);
}

TEST(LockMatch, PinnedCommitMustBeTheLockedCommit) {
  ManifestModel mm;
  mm.repo = "org/m";
  mm.name = "m";
  mm.revision = std::string(40, 'b');
  LockedModel l = lock_skeleton(mm);
  l.commit = mm.revision;
  EXPECT_EQ(lock_entry_difference(mm, l), "");
  l.commit = std::string(40, 'c');
  EXPECT_EQ(lock_entry_difference(mm, l), "locked commit differs from revision");
  // A branch name resolves to whatever commit the lock recorded.
  mm.revision = l.revision = "main";
  EXPECT_EQ(lock_entry_difference(mm, l), "");
}

}  // namespace
}  // namespace mb
