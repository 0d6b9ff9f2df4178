// Xet chunk records (hub-docs docs/xet/xorb.md): an 8-byte header, then the chunk's bytes
// stored as-is, as an LZ4 frame, or byte-grouped by 4 and then LZ4-framed (BG4). A xorb range
// is such records back to back. ChunkStream decodes them as the bytes arrive, so a download
// holds at most one record and one decoded chunk in memory whatever the range's size.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>
#include <vector>

#include "core/error.hpp"

namespace mb::xet {

inline constexpr size_t k_header_size = 8;
inline constexpr uint32_t k_max_chunk = 128 * 1024;            // decoded bytes of one chunk
inline constexpr uint32_t k_max_compressed = 2 * k_max_chunk;  // what xet-core accepts

enum class Scheme : uint8_t { none = 0, lz4 = 1, bg4_lz4 = 2 };

struct ChunkHeader {
  uint32_t compressed = 0;  // payload bytes after the header
  Scheme scheme = Scheme::none;
  uint32_t uncompressed = 0;  // decoded bytes
};

// Integrity error for an unknown version or scheme, or lengths out of bounds.
Result<ChunkHeader> parse_chunk_header(const unsigned char* header);

// Inverse of byte grouping: `grouped` holds 4 planes (sizes q+(r>0), q+(r>1), q+(r>2), q for
// n = 4q+r); byte 4i+k of the output is byte i of plane k.
void bg4_regroup(std::string_view grouped, std::vector<char>& out);

// Decodes one record's payload into `out` (resized to the decoded length). Integrity error
// when the payload is not a valid LZ4 frame or decodes to another length than the header's.
class ChunkDecoder {
 public:
  ChunkDecoder();
  ~ChunkDecoder();
  ChunkDecoder(const ChunkDecoder&) = delete;
  ChunkDecoder& operator=(const ChunkDecoder&) = delete;

  Status decode(const ChunkHeader& header, std::string_view payload, std::vector<char>& out);

 private:
  Status lz4_frame(std::string_view payload, uint32_t expected, std::vector<char>& out);
  struct Lz4;
  std::unique_ptr<Lz4> m_lz4;
  std::vector<char> m_grouped;
};

// Incremental parser of back-to-back records: feed() bytes in any pieces; each complete
// chunk is decoded and handed to `on_chunk(data)` in order. finish() fails when the input
// ended inside a record or held fewer than `expected_chunks` records; more is an error too.
class ChunkStream {
 public:
  using OnChunk = std::function<Status(std::string_view data)>;
  ChunkStream(uint32_t expected_chunks, OnChunk on_chunk);

  Status feed(const char* data, size_t size);
  Status finish() const;
  uint32_t chunks_done() const { return m_done; }

 private:
  Status complete_record();

  uint32_t m_expected;
  OnChunk m_on_chunk;
  ChunkDecoder m_decoder;
  std::vector<char> m_record;  // header + payload of the record being received
  std::vector<char> m_out;
  ChunkHeader m_header;
  bool m_have_header = false;
  uint32_t m_done = 0;
};

}  // namespace mb::xet
