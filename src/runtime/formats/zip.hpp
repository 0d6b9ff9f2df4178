// Structural reader for PyTorch's zip checkpoints (torch.save since 1.6): end of central
// directory (and its ZIP64 form), every central directory entry inside the directory, every
// local header where the directory says, with the same name, and its data inside the file.
// Nothing is decompressed and nothing is unpickled.
#pragma once

#include <string>
#include <vector>

#include "core/error.hpp"
#include "runtime/formats/byte_reader.hpp"

namespace mb::runtime {

struct ZipEntry {
  std::string name;
  uint16_t method = 0;  // 0 stored, 8 deflate
  uint64_t compressed_size = 0;
  uint64_t uncompressed_size = 0;
  uint64_t data_offset = 0;  // absolute offset of the entry's data
};

struct ZipInfo {
  std::vector<ZipEntry> entries;  // central directory order
  bool zip64 = false;
};

Result<ZipInfo> parse_zip(ByteSpan file);

// Checks that a zip is a PyTorch checkpoint (one "<archive>/data.pkl") and returns the total
// size of its tensor storages ("<archive>/data/<key>").
Result<uint64_t> pytorch_storage_bytes(const ZipInfo& zip);

}  // namespace mb::runtime
