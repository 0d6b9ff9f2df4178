// Streaming digests backed by OpenSSL's EVP (SHA-NI where the CPU has it).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "core/error.hpp"

namespace mb {

enum class HashAlgo { sha256, sha1 };

// Incremental hasher. Move-only; owns an EVP_MD_CTX.
class Hasher {
 public:
  explicit Hasher(HashAlgo algo);
  ~Hasher();
  Hasher(Hasher&&) noexcept;
  Hasher& operator=(Hasher&&) noexcept;
  Hasher(const Hasher&) = delete;
  Hasher& operator=(const Hasher&) = delete;

  void update(const void* data, size_t len);
  void update(std::string_view s) { update(s.data(), s.size()); }
  // Lower-case hex digest; the hasher must not be used afterwards.
  std::string finish_hex();
  // An independent hasher in the same state (a checkpoint to resume hashing from).
  Hasher clone() const;

 private:
  Hasher() = default;
  struct Ctx;
  std::unique_ptr<Ctx> m_ctx;
};

std::string sha256_hex(std::string_view data);
std::string sha1_hex(std::string_view data);

// git's blob id: sha1("blob <size>\0" + content). The hub's etag for non-LFS files.
class GitBlobHasher {
 public:
  explicit GitBlobHasher(uint64_t size);
  void update(const void* data, size_t len) { m_sha1.update(data, len); }
  std::string finish_hex() { return m_sha1.finish_hex(); }

 private:
  Hasher m_sha1;
};

std::string git_blob_sha1_hex(std::string_view content);

struct FileDigests {
  uint64_t size = 0;
  std::string sha256;
  std::string git_sha1;  // empty unless requested
};

enum class WithGitSha1 { no, yes };

// Reads a file once and computes its sha256 (and optionally its git blob sha1).
Result<FileDigests> hash_file(const std::string& path, WithGitSha1 git = WithGitSha1::no);
// The same for an open regular file (from its current offset); `name` is for messages.
Result<FileDigests> hash_fd(int fd, const std::string& name, WithGitSha1 git = WithGitSha1::no);

// True for a lower-case hex string of exactly `len` characters.
bool is_lower_hex(std::string_view s, size_t len);

// Whether an etag names content by sha256 (64 hex, LFS) or git sha1 (40 hex).
inline bool etag_is_sha256(std::string_view etag) { return is_lower_hex(etag, 64); }
inline bool etag_is_git_sha1(std::string_view etag) { return is_lower_hex(etag, 40); }

std::string to_hex(const unsigned char* bytes, size_t len);

}  // namespace mb
