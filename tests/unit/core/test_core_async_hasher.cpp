// AsyncHasher must produce exactly Hasher's digest whatever the update pattern: inline for
// content below one chunk, through the ring (with buffer reuse) beyond it.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "core/async_hasher.hpp"
#include "core/hash.hpp"

namespace mb {
namespace {

std::string pattern(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 131 + i / 7) % 251);
  return s;
}

std::string async_digest(const std::string& data, size_t piece, size_t chunk, size_t depth) {
  AsyncHasher h(HashAlgo::sha256, chunk, depth);
  for (size_t pos = 0; pos < data.size(); pos += piece) {
    h.update(data.data() + pos, std::min(piece, data.size() - pos));
  }
  return h.finish_hex();
}

TEST(AsyncHasher, MatchesHasherForEverySizeAroundChunkBoundaries) {
  const size_t chunk = 64;
  for (size_t n : {size_t{0}, size_t{1}, chunk - 1, chunk, chunk + 1, 2 * chunk, 7 * chunk + 3}) {
    std::string data = pattern(n);
    EXPECT_EQ(async_digest(data, n == 0 ? 1 : n, chunk, 2), sha256_hex(data)) << "size " << n;
  }
}

TEST(AsyncHasher, MatchesHasherForManySmallAndLargeUpdates) {
  // Far more chunks than ring slots: every buffer is reused many times.
  std::string data = pattern(3 * 1024 * 1024 + 777);
  std::string want = sha256_hex(data);
  for (size_t piece : {size_t{1000}, size_t{4096}, size_t{100000}, data.size()}) {
    EXPECT_EQ(async_digest(data, piece, 4096, 3), want) << "piece " << piece;
  }
  EXPECT_EQ(async_digest(data, 65536, 1 << 20, 4), want);
}

TEST(AsyncHasher, AbandonedWithoutFinishDoesNotHang) {
  std::string data = pattern(1 << 20);
  AsyncHasher h(HashAlgo::sha256, 4096, 2);
  h.update(data.data(), data.size());
  // destructor runs here with chunks possibly still queued
}

}  // namespace
}  // namespace mb
