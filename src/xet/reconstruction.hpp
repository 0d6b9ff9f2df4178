// Reconstruction answers of the CAS (hub-docs docs/xet/api.md, download-protocol.md): the
// terms that rebuild a file (xorb, chunk range, decoded length) and where each xorb's chunk
// ranges can be fetched. v1 (`fetch_info`, one signed URL per range) and v2 (`xorbs`, several
// ranges per URL) become one shape: a list of fetches of one byte range each. Everything is
// validated before use; a term whose chunks no fetch covers is an error.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"

namespace mb::xet {

// A Xet hash in its API string form (64 hex digits; compared in lower case).
bool is_xet_hash(std::string_view s);

struct Term {
  std::string xorb;
  uint32_t chunk_begin = 0, chunk_end = 0;  // [begin, end)
  uint64_t unpacked_length = 0;
  size_t fetch = 0;  // index of the fetch that holds these chunks
};

struct Fetch {
  std::string xorb;
  std::string url;                          // signed; sent without credentials
  uint32_t chunk_begin = 0, chunk_end = 0;  // [begin, end)
  uint64_t byte_first = 0, byte_last = 0;   // inclusive, inside the xorb
};

struct Reconstruction {
  uint64_t offset_into_first_range = 0;
  std::vector<Term> terms;  // file order
  std::vector<Fetch> fetches;
  uint64_t unpacked_total() const;
};

// `version` is 1 or 2. Permanent error for malformed or inconsistent answers.
Result<Reconstruction> parse_reconstruction(std::string_view json, int version);

// The batch answer (POST /v1/reconstructions, api.md endpoint 5): `files` maps each file id
// to its terms, one v1 `fetch_info` serves them all. Each file becomes a whole-file
// Reconstruction holding only the fetches its terms use.
Result<std::map<std::string, Reconstruction>> parse_batch_reconstruction(std::string_view json);

}  // namespace mb::xet
