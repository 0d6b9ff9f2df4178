// Where the decoded Xet chunks of a downloaded file lie in it (docs/fetch.md "Xet: dedupe
// against the cache"). Kept per object in the store's private area after a Xet download;
// a later download whose terms name chunks a cached file holds copies them from that file
// instead of fetching them (a xorb hash and chunk index name one content forever, and the
// new file's sha256 still decides what is accepted).
//
// Text, one run of consecutive chunks of one xorb a line:
//   "xet-chunks 1\n" then "<xorb> <first chunk> <file offset> <length> <length> ...\n".
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mb::fetch {

// One decoded chunk written whole at `offset` of the file.
struct ChunkPlace {
  uint32_t xorb = 0;  // index into the xorb names of its ChunkIndex
  uint32_t chunk = 0;
  uint64_t offset = 0;
  uint32_t length = 0;
};

struct ChunkIndex {
  std::vector<std::string> xorbs;
  std::vector<ChunkPlace> chunks;

  uint32_t xorb_id(const std::string& xorb);  // appends a new name
  std::string serialize() const;              // runs merged, in file order
};

// A chunk of a cached object, by (xorb, chunk index).
struct LocalChunk {
  std::string path;  // the object file holding it
  uint64_t offset = 0;
  uint32_t length = 0;
};
using LocalChunks = std::map<std::pair<std::string, uint32_t>, LocalChunk>;

// Adds the chunks of `text` (the index of the object at `path`) whose xorb is in `wanted`.
// Malformed lines end the parse (an index is a hint; the sha256 check stays the judge).
void collect_local_chunks(std::string_view text, const std::string& path,
                          const std::set<std::string>& wanted, LocalChunks& out);

}  // namespace mb::fetch
