// Byte bookkeeping for ranged downloads: which parts of a file are on disk, what is left,
// and how the rest is cut into work items. Pure values, no I/O (unit-tested directly).
#pragma once

#include <cstdint>
#include <vector>

namespace mb::fetch {

// Half-open byte interval [begin, end).
struct Extent {
  uint64_t begin = 0;
  uint64_t end = 0;
  uint64_t length() const { return end - begin; }
  bool operator==(const Extent&) const = default;
};

// A set of disjoint, sorted, non-adjacent extents (adjacent ones are merged on insert).
class ExtentSet {
 public:
  void add(uint64_t begin, uint64_t end);
  void clear() { m_extents.clear(); }
  // End of the extent that starts at 0 (0 when byte 0 is missing): the hashable prefix.
  uint64_t contiguous_prefix() const;
  uint64_t covered() const;
  bool contains(uint64_t begin, uint64_t end) const;
  // Missing parts of [0, size).
  std::vector<Extent> gaps(uint64_t size) const;
  const std::vector<Extent>& extents() const { return m_extents; }
  bool empty() const { return m_extents.empty(); }

 private:
  std::vector<Extent> m_extents;
};

// Cuts each gap into pieces of at most `chunk` bytes, in file order (so the prefix hasher
// can follow the downloads closely).
std::vector<Extent> split_work(const std::vector<Extent>& gaps, uint64_t chunk);

// Range size for a file: about 128 pieces, clamped to [min_chunk, 64 MiB]. Small enough that
// the hasher trails the downloads by little and a kill loses little; big enough that the
// per-request overhead is negligible.
uint64_t choose_chunk_size(uint64_t size, uint64_t min_chunk);

}  // namespace mb::fetch
