#include "fetch/xet_index.hpp"

#include <algorithm>
#include <charconv>

namespace mb::fetch {

uint32_t ChunkIndex::xorb_id(const std::string& xorb) {
  for (uint32_t i = 0; i < xorbs.size(); ++i)
    if (xorbs[i] == xorb) return i;
  xorbs.push_back(xorb);
  return static_cast<uint32_t>(xorbs.size() - 1);
}

std::string ChunkIndex::serialize() const {
  std::vector<ChunkPlace> sorted = chunks;
  std::sort(sorted.begin(), sorted.end(),
            [](const ChunkPlace& a, const ChunkPlace& b) { return a.offset < b.offset; });
  std::string out = "xet-chunks 1\n";
  const ChunkPlace* prev = nullptr;
  for (const ChunkPlace& c : sorted) {
    bool continues = prev && prev->xorb == c.xorb && prev->chunk + 1 == c.chunk &&
                     prev->offset + prev->length == c.offset;
    if (!continues) {
      if (prev) out += '\n';
      out += xorbs[c.xorb] + ' ' + std::to_string(c.chunk) + ' ' + std::to_string(c.offset);
    }
    out += ' ' + std::to_string(c.length);
    prev = &c;
  }
  if (prev) out += '\n';
  return out;
}

namespace {
bool next_number(std::string_view& line, uint64_t& value) {
  while (!line.empty() && line.front() == ' ') line.remove_prefix(1);
  if (line.empty()) return false;
  auto [p, ec] = std::from_chars(line.data(), line.data() + line.size(), value);
  if (ec != std::errc()) return false;
  line.remove_prefix(static_cast<size_t>(p - line.data()));
  return true;
}
}  // namespace

void collect_local_chunks(std::string_view text, const std::string& path,
                          const std::set<std::string>& wanted, LocalChunks& out) {
  constexpr std::string_view header = "xet-chunks 1\n";
  if (text.substr(0, header.size()) != header) return;
  text.remove_prefix(header.size());
  while (!text.empty()) {
    size_t nl = text.find('\n');
    if (nl == std::string_view::npos) return;
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl + 1);
    if (line.size() < 65 || line[64] != ' ') return;
    std::string xorb(line.substr(0, 64));
    if (wanted.count(xorb) == 0) continue;
    line.remove_prefix(64);
    uint64_t chunk = 0, offset = 0, length = 0;
    if (!next_number(line, chunk) || !next_number(line, offset)) return;
    while (next_number(line, length)) {
      if (length == 0 || length > (128u << 10) || chunk > UINT32_MAX) return;
      out.emplace(std::make_pair(xorb, static_cast<uint32_t>(chunk)),
                  LocalChunk{path, offset, static_cast<uint32_t>(length)});
      ++chunk;
      offset += length;
    }
  }
}

}  // namespace mb::fetch
