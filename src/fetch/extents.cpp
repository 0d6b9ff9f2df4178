#include "fetch/extents.hpp"

#include <algorithm>

namespace mb::fetch {

void ExtentSet::add(uint64_t begin, uint64_t end) {
  if (begin >= end) return;
  Extent merged{begin, end};
  std::vector<Extent> out;
  out.reserve(m_extents.size() + 1);
  bool placed = false;
  for (const Extent& e : m_extents) {
    if (e.end < merged.begin) {
      out.push_back(e);
    } else if (merged.end < e.begin) {
      if (!placed) {
        out.push_back(merged);
        placed = true;
      }
      out.push_back(e);
    } else {  // overlapping or adjacent
      merged.begin = std::min(merged.begin, e.begin);
      merged.end = std::max(merged.end, e.end);
    }
  }
  if (!placed) out.push_back(merged);
  m_extents = std::move(out);
}

uint64_t ExtentSet::contiguous_prefix() const {
  if (m_extents.empty() || m_extents.front().begin != 0) return 0;
  return m_extents.front().end;
}

uint64_t ExtentSet::covered() const {
  uint64_t total = 0;
  for (const Extent& e : m_extents) total += e.length();
  return total;
}

bool ExtentSet::contains(uint64_t begin, uint64_t end) const {
  if (begin >= end) return true;
  for (const Extent& e : m_extents) {
    if (e.begin <= begin && end <= e.end) return true;
  }
  return false;
}

std::vector<Extent> ExtentSet::gaps(uint64_t size) const {
  std::vector<Extent> out;
  uint64_t pos = 0;
  for (const Extent& e : m_extents) {
    if (e.begin >= size) break;
    if (e.begin > pos) out.push_back({pos, e.begin});
    pos = std::max(pos, e.end);
  }
  if (pos < size) out.push_back({pos, size});
  return out;
}

std::vector<Extent> split_work(const std::vector<Extent>& gaps, uint64_t chunk) {
  std::vector<Extent> out;
  if (chunk == 0) chunk = 1;
  for (const Extent& g : gaps) {
    for (uint64_t b = g.begin; b < g.end; b += std::min(chunk, g.end - b)) {
      out.push_back({b, b + std::min(chunk, g.end - b)});
    }
  }
  return out;
}

uint64_t choose_chunk_size(uint64_t size, uint64_t min_chunk) {
  constexpr uint64_t k_max_chunk = 64ull << 20;
  uint64_t chunk = size / 128;
  if (min_chunk == 0) min_chunk = 1;
  return std::clamp(chunk, min_chunk, std::max(min_chunk, k_max_chunk));
}

}  // namespace mb::fetch
