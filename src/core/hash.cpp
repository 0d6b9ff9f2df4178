#include "core/hash.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "core/file.hpp"

namespace mb {

struct Hasher::Ctx {
  EVP_MD_CTX* md = nullptr;
  ~Ctx() { EVP_MD_CTX_free(md); }
};

Hasher::Hasher(HashAlgo algo) : m_ctx(std::make_unique<Ctx>()) {
  m_ctx->md = EVP_MD_CTX_new();
  const EVP_MD* md = algo == HashAlgo::sha256 ? EVP_sha256() : EVP_sha1();
  if (m_ctx->md == nullptr || EVP_DigestInit_ex(m_ctx->md, md, nullptr) != 1) {
    throw std::runtime_error("OpenSSL digest initialisation failed");  // programming/env error
  }
}
Hasher::~Hasher() = default;
Hasher::Hasher(Hasher&&) noexcept = default;
Hasher& Hasher::operator=(Hasher&&) noexcept = default;

void Hasher::update(const void* data, size_t len) {
  if (len > 0) EVP_DigestUpdate(m_ctx->md, data, len);
}

Hasher Hasher::clone() const {
  Hasher copy;
  copy.m_ctx = std::make_unique<Ctx>();
  copy.m_ctx->md = EVP_MD_CTX_new();
  if (copy.m_ctx->md == nullptr || EVP_MD_CTX_copy_ex(copy.m_ctx->md, m_ctx->md) != 1) {
    throw std::runtime_error("OpenSSL digest copy failed");  // out of memory
  }
  return copy;
}

std::string Hasher::finish_hex() {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_DigestFinal_ex(m_ctx->md, out, &n);
  return to_hex(out, n);
}

std::string to_hex(const unsigned char* bytes, size_t len) {
  static const char* k_digits = "0123456789abcdef";
  std::string s(len * 2, '0');
  for (size_t i = 0; i < len; ++i) {
    s[2 * i] = k_digits[bytes[i] >> 4];
    s[2 * i + 1] = k_digits[bytes[i] & 15];
  }
  return s;
}

std::string sha256_hex(std::string_view data) {
  Hasher h(HashAlgo::sha256);
  h.update(data);
  return h.finish_hex();
}

std::string sha1_hex(std::string_view data) {
  Hasher h(HashAlgo::sha1);
  h.update(data);
  return h.finish_hex();
}

GitBlobHasher::GitBlobHasher(uint64_t size) : m_sha1(HashAlgo::sha1) {
  std::string header = "blob " + std::to_string(size);
  m_sha1.update(header.data(), header.size() + 1);  // includes the NUL terminator
}

std::string git_blob_sha1_hex(std::string_view content) {
  GitBlobHasher h(content.size());
  h.update(content.data(), content.size());
  return h.finish_hex();
}

bool is_lower_hex(std::string_view s, size_t len) {
  if (s.size() != len) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

Result<FileDigests> hash_file(const std::string& path, WithGitSha1 git) {
  MB_ASSIGN(UniqueFd fd, open_read(path));
  return hash_fd(fd.get(), path, git);
}

Result<FileDigests> hash_fd(int fd, const std::string& path, WithGitSha1 git) {
  MB_ASSIGN(uint64_t size, file_size(fd, path));
  posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  Hasher sha256(HashAlgo::sha256);
  std::unique_ptr<GitBlobHasher> sha1;
  if (git == WithGitSha1::yes) sha1 = std::make_unique<GitBlobHasher>(size);
  // 1 MiB reads: large enough to amortise syscalls, small enough to stay in L2/L3.
  std::vector<unsigned char> buf(1 << 20);
  uint64_t total = 0;
  for (;;) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail(ErrorCategory::io, "reading " + path + ": " + std::strerror(errno));
    if (n == 0) break;
    sha256.update(buf.data(), static_cast<size_t>(n));
    if (sha1) sha1->update(buf.data(), static_cast<size_t>(n));
    total += static_cast<uint64_t>(n);
  }
  FileDigests d;
  d.size = total;
  d.sha256 = sha256.finish_hex();
  if (sha1) d.git_sha1 = sha1->finish_hex();
  return d;
}

}  // namespace mb
