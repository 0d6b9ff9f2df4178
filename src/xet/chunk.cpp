#include "xet/chunk.hpp"

#include <lz4frame.h>

#include <string>

namespace mb::xet {

namespace {
uint32_t u24(const unsigned char* p) {
  return uint32_t{p[0]} | (uint32_t{p[1]} << 8) | (uint32_t{p[2]} << 16);
}
}  // namespace

Result<ChunkHeader> parse_chunk_header(const unsigned char* h) {
  if (h[0] != 0) {
    return fail(ErrorCategory::integrity,
                "Xet chunk record of unknown version " + std::to_string(h[0]));
  }
  ChunkHeader out;
  out.compressed = u24(h + 1);
  out.uncompressed = u24(h + 5);
  if (h[4] > 2) {
    return fail(ErrorCategory::integrity,
                "Xet chunk record with unknown compression scheme " + std::to_string(h[4]));
  }
  out.scheme = static_cast<Scheme>(h[4]);
  if (out.uncompressed > k_max_chunk || out.compressed > k_max_compressed ||
      (out.scheme == Scheme::none && out.compressed != out.uncompressed)) {
    return fail(ErrorCategory::integrity, "Xet chunk record with impossible lengths (" +
                                              std::to_string(out.compressed) + " stored, " +
                                              std::to_string(out.uncompressed) + " decoded)");
  }
  return out;
}

void bg4_regroup(std::string_view grouped, std::vector<char>& out) {
  size_t n = grouped.size(), q = n / 4, r = n % 4;
  out.resize(n);
  size_t start = 0;
  for (size_t k = 0; k < 4; ++k) {
    size_t plane = q + (k < r ? 1 : 0);
    const char* src = grouped.data() + start;
    for (size_t i = 0; i < plane; ++i) out[4 * i + k] = src[i];
    start += plane;
  }
}

struct ChunkDecoder::Lz4 {
  LZ4F_dctx* ctx = nullptr;
};

ChunkDecoder::ChunkDecoder() : m_lz4(std::make_unique<Lz4>()) {
  if (LZ4F_isError(LZ4F_createDecompressionContext(&m_lz4->ctx, LZ4F_VERSION))) {
    m_lz4->ctx = nullptr;
  }
}

ChunkDecoder::~ChunkDecoder() {
  if (m_lz4->ctx) LZ4F_freeDecompressionContext(m_lz4->ctx);
}

Status ChunkDecoder::lz4_frame(std::string_view payload, uint32_t expected,
                               std::vector<char>& out) {
  if (!m_lz4->ctx) return fail(ErrorCategory::io, "could not create an LZ4 decoder");
  LZ4F_resetDecompressionContext(m_lz4->ctx);
  out.resize(expected);
  size_t in_pos = 0, out_pos = 0;
  for (;;) {
    size_t src = payload.size() - in_pos, dst = out.size() - out_pos;
    size_t hint = LZ4F_decompress(m_lz4->ctx, out.data() + out_pos, &dst, payload.data() + in_pos,
                                  &src, nullptr);
    if (LZ4F_isError(hint)) {
      return fail(ErrorCategory::integrity,
                  std::string("damaged LZ4 frame in a Xet chunk: ") + LZ4F_getErrorName(hint));
    }
    in_pos += src;
    out_pos += dst;
    if (hint == 0) break;  // frame complete
    if (src == 0 && dst == 0) {
      return fail(ErrorCategory::integrity, "Xet chunk decodes to more bytes than its header says");
    }
    if (in_pos == payload.size()) {
      return fail(ErrorCategory::integrity, "truncated LZ4 frame in a Xet chunk");
    }
  }
  if (out_pos != expected || in_pos != payload.size()) {
    return fail(ErrorCategory::integrity, "Xet chunk decodes to " + std::to_string(out_pos) +
                                              " bytes, its header says " +
                                              std::to_string(expected));
  }
  return {};
}

Status ChunkDecoder::decode(const ChunkHeader& header, std::string_view payload,
                            std::vector<char>& out) {
  switch (header.scheme) {
    case Scheme::none: out.assign(payload.begin(), payload.end()); return {};
    case Scheme::lz4: return lz4_frame(payload, header.uncompressed, out);
    case Scheme::bg4_lz4:
      MB_TRY(lz4_frame(payload, header.uncompressed, m_grouped));
      bg4_regroup(std::string_view(m_grouped.data(), m_grouped.size()), out);
      return {};
  }
  return fail(ErrorCategory::integrity, "unknown Xet compression scheme");
}

ChunkStream::ChunkStream(uint32_t expected_chunks, OnChunk on_chunk)
    : m_expected(expected_chunks), m_on_chunk(std::move(on_chunk)) {
  m_record.reserve(k_header_size + 64 * 1024);
}

Status ChunkStream::feed(const char* data, size_t size) {
  while (size > 0) {
    if (m_done >= m_expected) {
      return fail(ErrorCategory::integrity, "Xet range holds more chunks than requested");
    }
    size_t want = m_have_header ? k_header_size + m_header.compressed - m_record.size()
                                : k_header_size - m_record.size();
    size_t take = std::min(want, size);
    m_record.insert(m_record.end(), data, data + take);
    data += take;
    size -= take;
    if (take < want) break;
    if (!m_have_header) {
      MB_ASSIGN(m_header,
                parse_chunk_header(reinterpret_cast<const unsigned char*>(m_record.data())));
      m_have_header = true;
      if (m_header.compressed == 0) MB_TRY(complete_record());
      continue;
    }
    MB_TRY(complete_record());
  }
  return {};
}

Status ChunkStream::complete_record() {
  std::string_view payload(m_record.data() + k_header_size, m_header.compressed);
  MB_TRY(m_decoder.decode(m_header, payload, m_out));
  m_record.clear();
  m_have_header = false;
  ++m_done;
  return m_on_chunk(std::string_view(m_out.data(), m_out.size()));
}

Status ChunkStream::finish() const {
  if (m_done != m_expected || !m_record.empty()) {
    return fail(ErrorCategory::transient, "Xet range ended after " + std::to_string(m_done) +
                                              " of " + std::to_string(m_expected) + " chunks");
  }
  return {};
}

}  // namespace mb::xet
