// Deterministic tar output, the bundle plan (parents, hardlinks, conflicts) and the path
// checks of the hostile-input reader.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "bundle/oci_image.hpp"
#include "bundle/plan.hpp"
#include "bundle/reader.hpp"
#include "bundle/tar_writer.hpp"
#include "core/file.hpp"
#include "core/hash.hpp"
#include "support/temp_dir.hpp"

namespace mb::bundle {
namespace {

class StringSink final : public ByteSink {
 public:
  Status write(const void* data, size_t len) override {
    if (m_limit && out.size() + len > m_limit) {  // keep what fits, then refuse
      out.append(static_cast<const char*>(data), m_limit - out.size());
      return fail(ErrorCategory::io, "sink full");
    }
    out.append(static_cast<const char*>(data), len);
    return {};
  }
  void set_limit(size_t n) { m_limit = n; }
  std::string out;

 private:
  size_t m_limit = 0;
};

LockedFile locked(const std::string& path, const std::string& content, bool lfs) {
  LockedFile f;
  f.path = path;
  f.size = content.size();
  f.sha256 = sha256_hex(content);
  f.etag = lfs ? f.sha256 : git_blob_sha1_hex(content);
  return f;
}

struct Fixture {
  test::TempDir dir;
  CacheLayout cache{dir.path()};
  Lockfile lock;

  void put(const std::string& content) {
    std::string p = cache.object_path(sha256_hex(content));
    ASSERT_TRUE(write_file_atomic(p, content).ok());
  }
  Fixture() {
    LockedModel m;
    m.name = "bert";
    m.repo = "org/bert";
    m.revision = "main";
    m.commit = std::string(40, 'c');
    m.files = {locked("a/vocab.txt", "hello\n", false), locked("config.json", "{}\n", false),
               locked("copy.json", "{}\n", false),
               locked("model.safetensors", std::string(3000, 'w'), true)};
    lock.models.push_back(m);
    for (const auto& s : {"hello\n", "{}\n"}) put(s);
    put(std::string(3000, 'w'));
  }
  std::string tar(Layout layout, int64_t mtime, const std::string& prefix = "") {
    auto entries = bundle_entries(lock, cache, layout, prefix, true);
    EXPECT_TRUE(entries.ok());
    StringSink sink;
    auto w = TarWriter::open(sink, Compression::none, mtime);
    EXPECT_TRUE(w.ok());
    for (const auto& e : *entries) EXPECT_TRUE((*w)->add(e).ok()) << e.path;
    EXPECT_TRUE((*w)->close().ok());
    return sink.out;
  }
};

TEST(BundleTar, SameInputsGiveIdenticalBytes) {
  Fixture a;
  std::string first = a.tar(Layout::hub, 0);
  // Touch the sources: mtimes and modes of the cache must not leak into the archive.
  for (auto& e : std::filesystem::recursive_directory_iterator(a.dir.path())) {
    std::filesystem::last_write_time(e.path(), std::filesystem::file_time_type::clock::now());
  }
  EXPECT_EQ(first, a.tar(Layout::hub, 0));
  EXPECT_NE(first, a.tar(Layout::hub, 1700000000));
  EXPECT_EQ(first.size() % 512, 0u);
  // Ends with exactly the two zero blocks of the end-of-archive marker: no block padding.
  EXPECT_EQ(first.substr(first.size() - 1024), std::string(1024, '\0'));
}

TEST(BundleTar, HeadersCarryNoOwnerOrTime) {
  Fixture a;
  std::string t = a.tar(Layout::flat, 0, "models");
  // First header: "models" directory, ustar, mode 0755, uid/gid 0, mtime 0, empty names.
  EXPECT_EQ(t.substr(0, 8), std::string("models/\0", 8));
  EXPECT_EQ(t.substr(100, 7), "000755 ");
  EXPECT_EQ(t.substr(108, 7), "000000 ");
  EXPECT_EQ(t.substr(116, 7), "000000 ");
  EXPECT_EQ(t.substr(136, 11), "00000000000");
  EXPECT_EQ(t[156], '5');
  EXPECT_EQ(t.substr(257, 5), "ustar");
  EXPECT_EQ(t.substr(265, 32), std::string(32, '\0'));  // uname
  EXPECT_EQ(t.substr(297, 32), std::string(32, '\0'));  // gname
  EXPECT_EQ(t.find("PaxHeader"), std::string::npos);
}

TEST(BundleTar, WrongContentFailsWithIntegrity) {
  Fixture a;
  std::string weights = a.cache.object_path(a.lock.models[0].files[3].sha256);
  ASSERT_TRUE(write_file_atomic(weights, std::string(2999, 'w') + "x").ok());
  auto entries = bundle_entries(a.lock, a.cache, Layout::flat, "", true);
  ASSERT_TRUE(entries.ok());
  StringSink sink;
  auto w = TarWriter::open(sink, Compression::none, 0);
  ASSERT_TRUE(w.ok());
  Status st;
  for (const auto& e : *entries) {
    st = (*w)->add(e);
    if (!st.ok()) break;
  }
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().category, ErrorCategory::integrity);
  EXPECT_NE(st.error().message.find("model.safetensors"), std::string::npos);
}

TEST(BundleTar, FilesOver8GiBGetAPaxSizeRecord) {
  test::TempDir dir;
  std::string big = dir.path() + "/big";
  UniqueFd fd(::open(big.c_str(), O_WRONLY | O_CREAT, 0644));
  ASSERT_TRUE(fd.valid());
  const uint64_t size = (9ull << 30) + 7;  // sparse: no disk used
  ASSERT_EQ(::ftruncate(fd.get(), static_cast<off_t>(size)), 0);
  Entry e;
  e.path = "m/big.gguf";
  e.kind = EntryKind::file;
  e.size = size;
  e.source = big;
  StringSink sink;
  sink.set_limit(4096);  // keep the headers, stop before streaming 9 GiB
  auto w = TarWriter::open(sink, Compression::none, 0);
  ASSERT_TRUE(w.ok());
  EXPECT_FALSE((*w)->add(e, CheckContent::no).ok());
  ASSERT_GE(sink.out.size(), 1536u);
  EXPECT_NE(sink.out.find("size=" + std::to_string(size) + "\n"), std::string::npos);
  EXPECT_EQ(sink.out.find("mtime="), std::string::npos);
  EXPECT_EQ(sink.out.find("atime="), std::string::npos);
  EXPECT_EQ(sink.out.find("ctime="), std::string::npos);
  // The PAX header's own name is derived from the path only (no pid).
  EXPECT_EQ(sink.out.substr(0, 16), "m/PaxHeader/big.");
}

TEST(BundlePlan, ParentsFirstHardlinksForRepeatedContent) {
  Fixture a;
  auto entries = bundle_entries(a.lock, a.cache, Layout::flat, "models", true);
  ASSERT_TRUE(entries.ok());
  std::vector<std::string> paths;
  for (const auto& e : *entries) paths.push_back(e.path);
  std::vector<std::string> want = {"models",
                                   "models/bert",
                                   "models/bert/a",
                                   "models/bert/a/vocab.txt",
                                   "models/bert/config.json",
                                   "models/bert/copy.json",
                                   "models/bert/model.safetensors",
                                   "models/modelbake.lock"};
  EXPECT_EQ(paths, want);
  EXPECT_EQ((*entries)[5].kind, EntryKind::hardlink);
  EXPECT_EQ((*entries)[5].link, "models/bert/config.json");
}

TEST(BundlePlan, HubLayoutLinksAndRefs) {
  Fixture a;
  auto entries = bundle_entries(a.lock, a.cache, Layout::hub, "", true);
  ASSERT_TRUE(entries.ok());
  bool saw_link = false, saw_ref = false;
  for (const auto& e : *entries) {
    if (e.path == "models--org--bert/snapshots/" + std::string(40, 'c') + "/a/vocab.txt") {
      saw_link = true;
      EXPECT_EQ(e.kind, EntryKind::symlink);
      EXPECT_EQ(e.link, "../../../blobs/" + git_blob_sha1_hex("hello\n"));
    }
    if (e.path == "models--org--bert/refs/main") {
      saw_ref = true;
      EXPECT_EQ(e.data, std::string(40, 'c'));
    }
  }
  EXPECT_TRUE(saw_link);
  EXPECT_TRUE(saw_ref);
}

TEST(BundlePlan, ConflictingContentAtOnePathIsAUsageError) {
  Entry a, b;
  a.path = b.path = "x/refs/main";
  a.data = std::string(40, 'a');
  b.data = std::string(40, 'b');
  a.size = b.size = 40;
  auto r = finalize_entries({a, b}, true);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().category, ErrorCategory::usage);
  EXPECT_TRUE(finalize_entries({a, a}, true).ok());
}

TEST(BundlePaths, NormalizeRejectsEscapes) {
  EXPECT_EQ(*normalize_entry_path("./a/b/"), "a/b");
  EXPECT_EQ(*normalize_entry_path("./"), "");
  for (const char* bad : {"/etc/passwd", "../x", "a/../../x", "a/./b", "a//b", "a\\b", "a/\x01"}) {
    auto r = normalize_entry_path(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().category, ErrorCategory::integrity) << bad;
  }
}

TEST(BundlePaths, SymlinkTargetsStayInside) {
  EXPECT_EQ(*resolve_link("m/snapshots/c/a/f", "../../../blobs/x"), "m/blobs/x");
  EXPECT_EQ(*resolve_link("a/b", "c"), "a/c");
  EXPECT_FALSE(resolve_link("a/b", "../../x").ok());
  EXPECT_FALSE(resolve_link("a/b", "/etc/passwd").ok());
  EXPECT_FALSE(resolve_link("a", "..").ok());
  EXPECT_FALSE(resolve_link("a", "").ok());
}

TEST(BundleOci, TagValidation) {
  for (const char* ok :
       {"models:v1", "models", "team/models:1.0", "localhost:5000/m:latest", "ghcr.io/o/m:x_y"}) {
    EXPECT_TRUE(validate_image_tag(ok).ok()) << ok;
  }
  for (const char* bad : {"", "Models:v1", "m:", "m:.x", "a b:c", "-m:v1"}) {
    EXPECT_FALSE(validate_image_tag(bad).ok()) << bad;
  }
}

TEST(BundleOci, PrefixNormalisation) {
  EXPECT_EQ(*normalize_prefix("/models/"), "models");
  EXPECT_EQ(*normalize_prefix("/"), "");
  EXPECT_EQ(*normalize_prefix("srv/models"), "srv/models");
  EXPECT_FALSE(normalize_prefix("/a/../b").ok());
}

}  // namespace
}  // namespace mb::bundle
