// Import's defence against decompression bombs: what the bundle's lock admits (name, kind,
// declared size), the byte budget, and finding the lock without copying anything.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "bundle/admission.hpp"
#include "bundle/reader.hpp"
#include "bundle/tar_writer.hpp"
#include "core/hash.hpp"
#include "support/temp_dir.hpp"

namespace mb::bundle {
namespace {

const std::string k_commit(40, 'c');

Lockfile sample_lock() {
  LockedModel m;
  m.name = "bert";
  m.repo = "org/bert";
  m.revision = "main";
  m.commit = k_commit;
  for (const auto& [path, size] :
       {std::pair{"config.json", 3}, std::pair{"model.safetensors", 3000}}) {
    LockedFile f;
    f.path = path;
    f.size = static_cast<uint64_t>(size);
    f.sha256 = sha256_hex(std::string(f.size, 'x'));
    f.etag = f.sha256;
    m.files.push_back(f);
  }
  Lockfile lock;
  lock.models.push_back(m);
  return lock;
}

Admission admission(uint64_t lock_size = 100) {
  test::TempDir dir;
  auto a = Admission::create(sample_lock(), CacheLayout(dir.path()), "", lock_size);
  EXPECT_TRUE(a.ok());
  return std::move(a).value();
}

TEST(BundleAdmission, FirstEntryOnlyOneLayoutHasDecidesIt) {
  Admission a = admission();
  EXPECT_TRUE(a.admit("modelbake.lock", EntryKind::file, 100).ok());  // both layouts have it
  EXPECT_EQ(a.layout(), Layout::hub);
  EXPECT_TRUE(a.admit("bert/config.json", EntryKind::file, 3).ok());
  EXPECT_EQ(a.layout(), Layout::flat);
  auto hub =
      a.admit("models--org--bert/blobs/" + sha256_hex(std::string(3, 'x')), EntryKind::file, 3);
  ASSERT_FALSE(hub.ok());
  EXPECT_NE(hub.error().message.find("not in the bundled lock"), std::string::npos);
}

TEST(BundleAdmission, DeclaredSizeIsCheckedBeforeContent) {
  Admission a = admission();
  auto big = a.admit("bert/model.safetensors", EntryKind::file, 1ull << 30);
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.error().category, ErrorCategory::integrity);
  EXPECT_NE(big.error().message.find("the bundled lock says 3000"), std::string::npos);
  EXPECT_FALSE(a.admit("modelbake.lock", EntryKind::file, 101).ok());  // the lock read in pass 1
  EXPECT_FALSE(a.admit("bert", EntryKind::file, 0).ok());              // a planned folder
  EXPECT_FALSE(a.admit("bert/extra.py", EntryKind::symlink, 0).ok());
}

TEST(BundleAdmission, DereferencedSnapshotCopyHasItsBlobsSize) {
  Admission a = admission();
  std::string snap = "models--org--bert/snapshots/" + k_commit + "/model.safetensors";
  EXPECT_FALSE(a.admit(snap, EntryKind::file, 3001).ok());
  EXPECT_TRUE(a.admit(snap, EntryKind::file, 3000).ok());
  EXPECT_EQ(a.layout(), Layout::hub);
}

TEST(BundleAdmission, BudgetIsTheLockedBytes) {
  Admission a = admission(100);
  // hub: blobs + dereferenced snapshot copies + refs/main (40) + the lock; flat is smaller
  EXPECT_EQ(a.budget(), 2 * (3 + 3000) + 40 + 100u);
  EXPECT_GE(max_image_layer_bytes(sample_lock()), 2 * 3003u);
  EXPECT_LT(max_image_layer_bytes(sample_lock()), 1u << 20);
}

TEST(BundleEntrySet, BudgetRefusesBeforeWriting) {
  test::TempDir dir;
  std::filesystem::create_directories(dir.path() + "/bundle");
  std::filesystem::create_directories(dir.path() + "/tmp");
  std::ofstream(dir.path() + "/bundle/big.bin") << std::string(10'000, 'z');
  CacheDoor door(dir.path());
  EntrySet set(door, dir.path() + "/tmp");
  set.restrict_to([](const std::string&, EntryKind, uint64_t) { return Status(); }, 100);
  auto st = set.add_directory(dir.path() + "/bundle");
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("larger than its lock says"), std::string::npos);
  EXPECT_TRUE(std::filesystem::is_empty(dir.path() + "/tmp"));
  EXPECT_EQ(set.bytes_written(), 0u);
}

TEST(BundleEntrySet, AdmissionRefusalComesBeforeAnyCopy) {
  test::TempDir dir;
  std::filesystem::create_directories(dir.path() + "/bundle");
  std::filesystem::create_directories(dir.path() + "/tmp");
  std::ofstream(dir.path() + "/bundle/extra.bin") << "payload";
  CacheDoor door(dir.path());
  EntrySet set(door, dir.path() + "/tmp");
  set.restrict_to([](const std::string& p, EntryKind,
                     uint64_t) { return fail(ErrorCategory::integrity, p + " refused"); },
                  1 << 20);
  auto st = set.add_directory(dir.path() + "/bundle");
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().message, "extra.bin refused");
  EXPECT_TRUE(std::filesystem::is_empty(dir.path() + "/tmp"));
}

// Import's temp folder lives in a shared cache: a co-tenant may swap it for a link to a folder
// of theirs (or a victim's) at any moment. The temps are made through the door: nothing is
// written through the link.
TEST(BundleEntrySet, TempFolderSwappedForALinkIsNotWrittenThrough) {
  test::TempDir dir;
  std::filesystem::create_directories(dir.path() + "/bundle");
  std::filesystem::create_directories(dir.path() + "/cache/tmp");
  std::filesystem::create_directories(dir.path() + "/victim");
  std::ofstream(dir.path() + "/bundle/weights.bin") << "payload";
  CacheDoor door(dir.path() + "/cache");
  EntrySet set(door, dir.path() + "/cache/tmp/import");
  std::filesystem::create_directory_symlink(dir.path() + "/victim",
                                            dir.path() + "/cache/tmp/import");
  set.restrict_to([](const std::string&, EntryKind, uint64_t) { return Status(); }, 1 << 20);
  auto st = set.add_directory(dir.path() + "/bundle");
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("tmp/import is a symbolic link"), std::string::npos)
      << st.error().message;
  EXPECT_TRUE(std::filesystem::is_empty(dir.path() + "/victim"));
}

class OstreamSink final : public ByteSink {
 public:
  explicit OstreamSink(std::ofstream& out) : m_out(out) {}
  Status write(const void* data, size_t len) override {
    m_out.write(static_cast<const char*>(data), static_cast<std::streamsize>(len));
    return {};
  }

 private:
  std::ofstream& m_out;
};

Entry data_entry(const std::string& path, const std::string& data) {
  Entry e;
  e.path = path;
  e.kind = EntryKind::file;
  e.data = data;
  e.size = data.size();
  return e;
}

std::string write_tar(const std::string& path, const std::vector<Entry>& entries) {
  std::ofstream out(path, std::ios::binary);
  OstreamSink sink(out);
  auto w = TarWriter::open(sink, Compression::zstd, 0);
  EXPECT_TRUE(w.ok());
  for (const Entry& e : entries) EXPECT_TRUE((*w)->add(e).ok()) << e.path;
  EXPECT_TRUE((*w)->close().ok());
  return path;
}

Entry folder(const std::string& path) {
  Entry e;
  e.path = path;
  e.kind = EntryKind::dir;
  return e;
}

// What pull staged in the cache's tmp/ is read back through the door: a staged folder swapped
// for a link to another layout is refused (naming it), not read.
TEST(BundleLockFinder, AStagedTarBehindALinkedFolderIsNotRead) {
  test::TempDir dir;
  std::filesystem::create_directories(dir.path() + "/elsewhere");
  std::filesystem::create_directories(dir.path() + "/cache/tmp");
  write_tar(dir.path() + "/elsewhere/lock.tar", {data_entry("modelbake.lock", "planted")});
  std::filesystem::create_directory_symlink(dir.path() + "/elsewhere",
                                            dir.path() + "/cache/tmp/pull");
  CacheDoor door(dir.path() + "/cache");
  LockFinder finder(&door);
  auto st = finder.scan_archive(dir.path() + "/cache/tmp/pull/lock.tar");
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("tmp/pull is a symbolic link"), std::string::npos)
      << st.error().message;
  EXPECT_FALSE(finder.found().has_value());
  // A user's bundle outside the cache is read by path as before.
  LockFinder outside(&door);
  ASSERT_TRUE(outside.scan_archive(dir.path() + "/elsewhere/lock.tar").ok());
  EXPECT_TRUE(outside.found().has_value());
}

TEST(BundleLockFinder, TakesTheShortestLockAndCopiesNothing) {
  test::TempDir dir;
  std::string tar =
      write_tar(dir.path() + "/b.tar.zst",
                {folder("a"), data_entry("a/weights", std::string(5000, 'w')),
                 data_entry("a/modelbake.lock", "deep"), data_entry("modelbake.lock", "root")});
  LockFinder finder;
  ASSERT_TRUE(finder.scan_archive(tar).ok());
  ASSERT_TRUE(finder.found().has_value());
  EXPECT_EQ(finder.found()->path, "modelbake.lock");
  EXPECT_EQ(finder.found()->text, "root");
  EXPECT_TRUE(finder.compressed());
  EXPECT_FALSE(finder.saw_oci_layout());
  EXPECT_EQ(std::filesystem::directory_iterator(dir.path())->path(),
            tar);  // nothing written beside it
}

TEST(BundleLockFinder, StopsAtALeadingLock) {
  // As export writes it: the lock is the first file. Later entries are not even read (a later
  // shorter lock is then simply an entry that the lock's plan does not hold).
  test::TempDir dir;
  std::string tar =
      write_tar(dir.path() + "/b.tar.zst", {folder("m"), data_entry("m/modelbake.lock", "first"),
                                            data_entry("modelbake.lock", "later")});
  LockFinder finder;
  ASSERT_TRUE(finder.scan_archive(tar).ok());
  ASSERT_TRUE(finder.found().has_value());
  EXPECT_EQ(finder.found()->path, "m/modelbake.lock");
  EXPECT_EQ(finder.found()->text, "first");
}

}  // namespace
}  // namespace mb::bundle
