#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "support/temp_dir.hpp"
#include "unit/verify/cache_builder.hpp"
#include "verify/integrity.hpp"

namespace fs = std::filesystem;
using namespace mb;
using mb::verify::FindingKind;

namespace {

const std::string k_commit_a = std::string(40, 'a');
const std::string k_commit_b = std::string(40, 'b');

class VerifyCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(store.init().ok());
    lock.models.push_back(test::add_model(store, "mini", "org/mini", "main", k_commit_a,
                                          {{"config.json", "{\"hidden\": 4}"},
                                           {"model.safetensors", std::string(5000, 'w')},
                                           {"sub/vocab.txt", "a\nb\nc\n"}}));
    lock.models.push_back(test::add_model(store, "pinned", "org/pinned", k_commit_b, k_commit_b,
                                          {{"config.json", "{\"x\": 1}"}}));
  }

  verify::VerifyReport run(bool fast = false) {
    verify::VerifyOptions o;
    o.fast = fast;
    o.threads = 2;
    auto r = verify::verify_cache(store.layout(), lock, o);
    EXPECT_TRUE(r.ok());
    return r.ok() ? *r : verify::VerifyReport{};
  }
  const LockedModel& mini() const { return lock.models[0]; }
  std::string snap(const std::string& path) const {
    return store.layout().snapshot_file(RepoType::model, "org/mini", k_commit_a, path);
  }
  std::string blob(const std::string& path) const {
    return store.layout().blob_path(RepoType::model, "org/mini", mini().find_file(path)->etag);
  }
  std::string ref() const { return store.layout().ref_path(RepoType::model, "org/mini", "main"); }

  static void expect_single(const verify::VerifyReport& r, FindingKind kind,
                            const std::string& path) {
    ASSERT_EQ(r.findings.size(), 1u) << (r.findings.empty() ? "" : r.findings[0].message);
    EXPECT_EQ(r.findings[0].kind, kind) << r.findings[0].message;
    EXPECT_EQ(r.findings[0].model, "mini");
    EXPECT_EQ(r.findings[0].path, path);
    if (kind == FindingKind::stale_trees_file) {
      EXPECT_NE(r.findings[0].fix.find("--repair"), std::string::npos);
    } else {
      EXPECT_EQ(r.findings[0].fix, "modelbake fetch --locked");
    }
    EXPECT_FALSE(r.ok());
  }

  test::TempDir dir;
  Store store{CacheLayout(dir.path())};
  Lockfile lock;
};

TEST_F(VerifyCacheTest, IntactCacheIsReadyAndEveryByteIsHashed) {
  auto r = run();
  EXPECT_TRUE(r.ok());
  EXPECT_TRUE(r.hashed);
  EXPECT_EQ(r.files_checked, 4u);
  uint64_t locked = mini().total_bytes() + lock.models[1].total_bytes();
  EXPECT_EQ(r.bytes_locked, locked);
  EXPECT_EQ(r.bytes_hashed, locked);
  ASSERT_EQ(r.models.size(), 2u);
  EXPECT_EQ(r.models[0].files_ok, 3u);
  EXPECT_TRUE(r.models[1].ready());
}

TEST_F(VerifyCacheTest, FlippedByteIsADigestMismatchWithBothDigests) {
  test::overwrite(blob("model.safetensors"), "X");
  auto r = run();
  expect_single(r, FindingKind::digest_mismatch, "model.safetensors");
  EXPECT_EQ(r.findings[0].expected, mini().find_file("model.safetensors")->sha256);
  std::string changed = "X" + std::string(4999, 'w');
  EXPECT_EQ(r.findings[0].actual, sha256_hex(changed));
  // --fast does not read content, so the same damage is invisible to it.
  EXPECT_TRUE(run(true).ok());
}

TEST_F(VerifyCacheTest, TruncatedBlobIsASizeMismatchEvenWhenFast) {
  ::chmod(blob("model.safetensors").c_str(), 0644);
  ASSERT_EQ(::truncate(blob("model.safetensors").c_str(), 100), 0);
  expect_single(run(true), FindingKind::size_mismatch, "model.safetensors");
  auto r = run();
  expect_single(r, FindingKind::size_mismatch, "model.safetensors");
  EXPECT_EQ(r.findings[0].expected, "5000");
  EXPECT_EQ(r.findings[0].actual, "100");
}

TEST_F(VerifyCacheTest, DeletedBlobIsADanglingLink) {
  fs::remove(blob("config.json"));
  auto r = run(true);
  expect_single(r, FindingKind::dangling_link, "config.json");
  EXPECT_EQ(r.findings[0].actual, "../../blobs/" + mini().find_file("config.json")->etag);
}

TEST_F(VerifyCacheTest, DeletedSnapshotEntryIsMissing) {
  fs::remove(snap("sub/vocab.txt"));
  expect_single(run(), FindingKind::missing_file, "sub/vocab.txt");
}

TEST_F(VerifyCacheTest, SymlinkLeavingTheCacheIsEscapingEvenWithTheRightContent) {
  test::TempDir outside;
  std::string target = outside.path() + "/config.json";
  ASSERT_TRUE(write_file_atomic(target, "{\"hidden\": 4}").ok());
  fs::remove(snap("config.json"));
  fs::create_symlink(target, snap("config.json"));
  auto r = run();
  expect_single(r, FindingKind::escaping_link, "config.json");
  EXPECT_EQ(r.findings[0].actual, fs::canonical(target).string());
  EXPECT_NE(r.findings[0].message.find("resolves outside"), std::string::npos);
}

// The cache door follows snapshot links of one shape only: an absolute link to the right blob
// with the right bytes is still not followed.
TEST_F(VerifyCacheTest, SnapshotLinkOfAnotherShapeIsNotFollowedEvenInsideTheCache) {
  fs::remove(snap("config.json"));
  fs::create_symlink(blob("config.json"), snap("config.json"));
  auto r = run();
  expect_single(r, FindingKind::escaping_link, "config.json");
  EXPECT_EQ(r.findings[0].expected, "../../blobs/<etag>");
  EXPECT_NE(r.findings[0].message.find("follows only snapshot links of that shape"),
            std::string::npos)
      << r.findings[0].message;
}

// A blob is a leaf: a link there (even to the right bytes in the object store) is refused and
// named, never followed.
TEST_F(VerifyCacheTest, BlobThatIsALinkIsNotFollowed) {
  std::string object = store.layout().object_path(mini().find_file("config.json")->sha256);
  fs::remove(blob("config.json"));
  fs::create_symlink(object, blob("config.json"));
  auto r = run();
  expect_single(r, FindingKind::not_regular_file, "config.json");
  EXPECT_NE(r.findings[0].message.find("blobs/" + mini().find_file("config.json")->etag +
                                       " is a symbolic link"),
            std::string::npos)
      << r.findings[0].message;
}

// A folder of the snapshot swapped for a link to a copy outside: nothing below it is read,
// the finding names the planted folder.
TEST_F(VerifyCacheTest, PlantedFolderInsideTheSnapshotIsNotEntered) {
  test::TempDir outside;
  ASSERT_TRUE(write_file_atomic(outside.path() + "/vocab.txt", "a\nb\nc\n").ok());
  std::string sub = store.layout().snapshot_dir(RepoType::model, "org/mini", k_commit_a) + "/sub";
  fs::remove_all(sub);
  fs::create_directory_symlink(outside.path(), sub);
  auto r = run();
  // The file below it is not read (the finding names the link), and the link itself is an
  // entry the lock does not name (what --repair removes).
  ASSERT_EQ(r.findings.size(), 2u);
  EXPECT_EQ(r.findings[0].kind, FindingKind::unexpected_entry);
  EXPECT_EQ(r.findings[0].path, "sub");
  EXPECT_EQ(r.findings[1].kind, FindingKind::planted_entry);
  EXPECT_EQ(r.findings[1].path, "sub/vocab.txt");
  EXPECT_NE(r.findings[1].message.find("/sub is a symbolic link"), std::string::npos)
      << r.findings[1].message;
  EXPECT_EQ(r.bytes_hashed, mini().total_bytes() - 6 + lock.models[1].total_bytes());
}

TEST_F(VerifyCacheTest, RefWithTrailingNewlineIsReported) {
  ASSERT_TRUE(write_file_atomic(ref(), k_commit_a + "\n").ok());
  auto r = run(true);
  expect_single(r, FindingKind::ref_newline, "");
  EXPECT_EQ(r.findings[0].actual, k_commit_a + "\\n");
  EXPECT_EQ(r.findings[0].expected, k_commit_a);
}

TEST_F(VerifyCacheTest, RefToAnotherCommitIsWrong) {
  std::string other(40, 'c');
  ASSERT_TRUE(write_file_atomic(ref(), other).ok());
  auto r = run(true);
  expect_single(r, FindingKind::wrong_ref, "");
  EXPECT_EQ(r.findings[0].actual, other);
}

TEST_F(VerifyCacheTest, RemovedRefIsMissingButACommitRevisionNeedsNone) {
  fs::remove(ref());
  expect_single(run(true), FindingKind::missing_ref, "");
  // "pinned" is locked by commit: it never had a ref and is not reported.
  EXPECT_FALSE(fs::exists(store.layout().repo_dir(RepoType::model, "org/pinned") + "/refs"));
}

TEST_F(VerifyCacheTest, TreesFileListingAbsentFilesIsStale) {
  std::string trees = store.layout().trees_file(RepoType::model, "org/mini", k_commit_a);
  ASSERT_TRUE(
      write_file_atomic(trees, R"({"format_version": 1, "files": {"config.json": {"size": 13},
      "pytorch_model.bin": {"size": 9}}})")
          .ok());
  auto r = run(true);
  expect_single(r, FindingKind::stale_trees_file, "");
  EXPECT_EQ(r.findings[0].actual, "pytorch_model.bin");
  // A trees file that lists only present files is fine.
  ASSERT_TRUE(
      write_file_atomic(trees, R"({"format_version": 1, "files": {"config.json": {}}})").ok());
  EXPECT_TRUE(run(true).ok());
}

TEST_F(VerifyCacheTest, WrongGitEtagIsAGitSha1Mismatch) {
  LockedFile* f = const_cast<LockedFile*>(mini().find_file("config.json"));
  std::string wrong = git_blob_sha1_hex("something else");
  // Same content under a blob named by the wrong etag: only the git sha1 pass can tell.
  fs::copy_file(blob("config.json"), store.layout().blob_path(RepoType::model, "org/mini", wrong));
  std::string right = f->etag;
  f->etag = wrong;
  fs::remove(snap("config.json"));
  fs::create_symlink("../../blobs/" + wrong, snap("config.json"));
  auto r = run();
  expect_single(r, FindingKind::git_sha1_mismatch, "config.json");
  EXPECT_EQ(r.findings[0].actual, right);
}

TEST_F(VerifyCacheTest, MissingSnapshotIsOneFinding) {
  fs::remove_all(store.layout().snapshot_dir(RepoType::model, "org/mini", k_commit_a));
  auto r = run(true);
  expect_single(r, FindingKind::missing_snapshot, "");
  EXPECT_FALSE(r.models[0].present);
}

TEST_F(VerifyCacheTest, ModelFilterChecksOnlyNamedModelsAndRejectsUnknownNames) {
  fs::remove(snap("config.json"));
  verify::VerifyOptions o;
  o.models = {"pinned"};
  auto r = verify::verify_cache(store.layout(), lock, o);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->ok());
  EXPECT_EQ(r->models.size(), 1u);
  o.models = {"nope"};
  auto bad = verify::verify_cache(store.layout(), lock, o);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().category, ErrorCategory::usage);
}

TEST_F(VerifyCacheTest, SharedContentIsHashedOnce) {
  // Same bytes in a second repo: hard-linked to the same object, so hashed once.
  lock.models.push_back(test::add_model(store, "twin", "org/twin", "main", k_commit_b,
                                        {{"model.safetensors", std::string(5000, 'w')}}));
  auto r = run();
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.bytes_locked, mini().total_bytes() + lock.models[1].total_bytes() + 5000);
  EXPECT_EQ(r.bytes_hashed, mini().total_bytes() + lock.models[1].total_bytes());
}

TEST(VerifyFlatDir, ChecksRealFilesAndRejectsLinksOutOfTheFolder) {
  test::TempDir dir;
  std::string root = dir.path() + "/minilm";
  ASSERT_TRUE(write_file_atomic(root + "/config.json", "{}").ok());
  ASSERT_TRUE(write_file_atomic(root + "/1_Pooling/config.json", "{\"mean\":true}").ok());
  LockedModel m;
  m.name = "minilm";
  m.repo = "org/minilm";
  m.files = {test::locked_file("1_Pooling/config.json", "{\"mean\":true}", false),
             test::locked_file("config.json", "{}", false)};
  auto r = verify::verify_flat_dir(root, m, {});
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->ok());
  EXPECT_EQ(r->bytes_hashed, m.total_bytes());

  ASSERT_TRUE(write_file_atomic(dir.path() + "/elsewhere.json", "{}").ok());
  fs::remove(root + "/config.json");
  fs::create_symlink("../elsewhere.json", root + "/config.json");
  r = verify::verify_flat_dir(root, m, {});
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->findings.size(), 1u);
  EXPECT_EQ(r->findings[0].kind, FindingKind::escaping_link);

  auto missing = verify::verify_flat_dir(dir.path() + "/absent", m, {});
  ASSERT_TRUE(missing.ok());
  ASSERT_EQ(missing->findings.size(), 1u);
  EXPECT_EQ(missing->findings[0].kind, FindingKind::missing_snapshot);
}

TEST(HashFilesParallel, ResultsFollowJobOrderAndReportUnreadableFiles) {
  test::TempDir dir;
  std::vector<verify::HashJob> jobs;
  for (int i = 0; i < 7; ++i) {
    std::string p = dir.path() + "/f" + std::to_string(i);
    ASSERT_TRUE(write_file_atomic(p, std::string(static_cast<size_t>(i * 1000), 'a' + i)).ok());
    jobs.push_back({p, static_cast<uint64_t>(i * 1000), i % 2 == 0});
  }
  jobs.push_back({dir.path() + "/absent", 0, false});
  uint64_t last_done = 0;
  auto results = verify::hash_files_parallel(jobs, 3, [&](uint64_t done, uint64_t total) {
    EXPECT_GE(done, last_done);
    EXPECT_EQ(total, 21000u);
    last_done = done;
  });
  ASSERT_EQ(results.size(), jobs.size());
  for (int i = 0; i < 7; ++i) {
    std::string content(static_cast<size_t>(i * 1000), 'a' + i);
    ASSERT_TRUE(results[i].ok());
    EXPECT_EQ(results[i]->sha256, sha256_hex(content));
    EXPECT_EQ(results[i]->git_sha1, i % 2 == 0 ? git_blob_sha1_hex(content) : "");
  }
  EXPECT_FALSE(results[7].ok());
  EXPECT_EQ(last_done, 21000u);
}

}  // namespace
