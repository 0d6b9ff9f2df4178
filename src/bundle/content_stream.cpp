#include "bundle/content_stream.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <optional>
#include <vector>

#include "core/async_hasher.hpp"
#include "core/file.hpp"

namespace mb::bundle {

namespace {
constexpr size_t k_chunk = 4 << 20;
}  // namespace

Status stream_content(const Entry& e, bool check, const ChunkConsumer& consume) {
  MB_ASSIGN(UniqueFd fd, e.door ? e.door->open_file(e.source, O_RDONLY) : open_read(e.source));
  MB_ASSIGN(uint64_t actual, file_size(fd.get(), e.source));
  if (actual != e.size) {
    return fail(ErrorCategory::integrity,
                "cache file for " + describe(e) + " has " + std::to_string(actual) +
                    " bytes, the lock says " + std::to_string(e.size),
                "run 'modelbake fetch --locked' (or 'modelbake verify') to repair the cache");
  }
  ::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
  std::optional<AsyncHasher> hasher;
  if (check) hasher.emplace(HashAlgo::sha256);
  std::vector<char> buf(k_chunk);
  uint64_t left = e.size;
  Status result;
  while (left > 0 && result.ok()) {
    ssize_t n =
        ::read(fd.get(), buf.data(), static_cast<size_t>(std::min<uint64_t>(left, buf.size())));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      result = errno_error("reading " + e.source, errno);
      break;
    }
    if (n == 0) {
      result = fail(ErrorCategory::integrity,
                    "cache file for " + describe(e) + " shrank while it was read");
      break;
    }
    auto len = static_cast<size_t>(n);
    if (hasher) hasher->update(buf.data(), len);
    result = consume(buf.data(), len);
    left -= len;
  }
  if (!result.ok()) return result;
  if (hasher) {
    std::string got = hasher->finish_hex();
    if (got != e.sha256) {
      return fail(
          ErrorCategory::integrity,
          "cache content for " + describe(e) + " has sha256 " + got + ", the lock says " + e.sha256,
          "the cache is corrupt: run 'modelbake verify' and 'modelbake fetch --locked'");
    }
  }
  return {};
}

}  // namespace mb::bundle
