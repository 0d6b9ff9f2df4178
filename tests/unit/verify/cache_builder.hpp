// Builds a real cache through the Store API (the same path fetch uses) for verify/gc tests.
#pragma once

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <string>
#include <utility>
#include <vector>

#include "core/file.hpp"
#include "core/hash.hpp"
#include "lock/lockfile.hpp"
#include "store/store.hpp"

namespace mb::test {

inline LockedFile locked_file(const std::string& path, const std::string& content, bool lfs) {
  LockedFile f;
  f.path = path;
  f.size = content.size();
  f.sha256 = sha256_hex(content);
  f.etag = lfs ? f.sha256 : git_blob_sha1_hex(content);
  return f;
}

// Adds a model whose files are written into the store (objects, blobs, snapshot links, ref).
inline LockedModel add_model(const Store& store, const std::string& name, const std::string& repo,
                             const std::string& revision, const std::string& commit,
                             const std::vector<std::pair<std::string, std::string>>& files) {
  LockedModel m;
  m.name = name;
  m.repo = repo;
  m.revision = revision;
  m.commit = commit;
  for (const auto& [path, content] : files) {
    bool lfs = path.ends_with(".safetensors") || path.ends_with(".bin");
    LockedFile f = locked_file(path, content, lfs);
    std::string temp = store.new_temp_path(f.sha256);
    EXPECT_TRUE(write_file_atomic(temp, content).ok());
    EXPECT_TRUE(store.adopt_object(temp, f.sha256).ok());
    EXPECT_TRUE(store.publish_file(m, f).ok());
    m.files.push_back(f);
  }
  std::sort(m.files.begin(), m.files.end(),
            [](const LockedFile& a, const LockedFile& b) { return a.path < b.path; });
  EXPECT_TRUE(store.write_ref(m).ok());
  return m;
}

// Overwrites a file in place even when it is read-only (objects are 0444).
inline void overwrite(const std::string& path, const std::string& content) {
  ::chmod(path.c_str(), 0644);
  FILE* f = std::fopen(path.c_str(), "r+b");
  ASSERT_NE(f, nullptr) << path;
  std::fwrite(content.data(), 1, content.size(), f);
  std::fclose(f);
}

}  // namespace mb::test
