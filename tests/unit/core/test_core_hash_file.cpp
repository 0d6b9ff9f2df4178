#include <gtest/gtest.h>

#include <filesystem>

#include "core/file.hpp"
#include "core/hash.hpp"
#include "support/temp_dir.hpp"

namespace mb {
namespace {

TEST(Hash, KnownVectors) {
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha1_hex("abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
  // huggingface_hub's test vector for git_hash.
  EXPECT_EQ(git_blob_sha1_hex("Hello, World!"), "b45ef6fec89518d314f546fd6c3025367b721684");
}

TEST(Hash, CloneContinuesIndependently) {
  Hasher h(HashAlgo::sha256);
  h.update("ab");
  Hasher checkpoint = h.clone();
  h.update("c");
  checkpoint.update("x");
  EXPECT_EQ(h.finish_hex(), sha256_hex("abc"));
  EXPECT_EQ(checkpoint.finish_hex(), sha256_hex("abx"));
}

TEST(Hash, FileDigestsMatchInMemory) {
  test::TempDir dir;
  std::string content(3 * 1024 * 1024 + 17, 'x');
  for (size_t i = 0; i < content.size(); ++i) content[i] = static_cast<char>(i * 31 % 251);
  ASSERT_TRUE(write_file_atomic(dir.path() + "/f", content).ok());
  auto d = hash_file(dir.path() + "/f", WithGitSha1::yes);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->size, content.size());
  EXPECT_EQ(d->sha256, sha256_hex(content));
  EXPECT_EQ(d->git_sha1, git_blob_sha1_hex(content));
}

TEST(AtomicFile, UncommittedTempIsRemoved) {
  test::TempDir dir;
  std::string dest = dir.path() + "/out.bin";
  {
    auto f = AtomicFile::create(dest);
    ASSERT_TRUE(f.ok());
    ASSERT_TRUE(f->write("partial").ok());
  }
  EXPECT_FALSE(std::filesystem::exists(dest));
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
}

TEST(AtomicFile, CommitReplacesExisting) {
  test::TempDir dir;
  std::string dest = dir.path() + "/out.bin";
  ASSERT_TRUE(write_file_atomic(dest, "old").ok());
  ASSERT_TRUE(write_file_atomic(dest, "new content").ok());
  EXPECT_EQ(*read_file(dest), "new content");
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()),
                          std::filesystem::directory_iterator()),
            1);
}

TEST(FileLock, TryAcquireSeesExclusiveHolder) {
  test::TempDir dir;
  std::string path = dir.path() + "/x.lock";
  auto held = FileLock::acquire(path, LockMode::exclusive);
  ASSERT_TRUE(held.ok() && held->valid());
  // flock locks belong to the open file description, so a second open conflicts.
  auto second = FileLock::try_acquire(path, LockMode::exclusive);
  ASSERT_TRUE(second.ok());
  EXPECT_FALSE(second->valid());
}

}  // namespace
}  // namespace mb
