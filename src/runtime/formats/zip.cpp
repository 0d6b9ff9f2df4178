#include "runtime/formats/zip.hpp"

#include <fmt/format.h>

#include <set>

#include "runtime/formats/tensors.hpp"

namespace mb::runtime {

namespace {

constexpr uint32_t k_eocd_sig = 0x06054b50;
constexpr uint32_t k_zip64_locator_sig = 0x07064b50;
constexpr uint32_t k_zip64_eocd_sig = 0x06064b50;
constexpr uint32_t k_central_sig = 0x02014b50;
constexpr uint32_t k_local_sig = 0x04034b50;
constexpr uint64_t k_eocd_size = 22;

Failure bad(const std::string& what) {
  return fail(ErrorCategory::integrity, "zip: " + what,
              "the archive is truncated or corrupt; fetch it again");
}

uint32_t u32_at(ByteSpan s, uint64_t off) {
  uint32_t v;
  std::memcpy(&v, s.data + off, 4);
  return v;
}

struct Directory {
  uint64_t count = 0;
  uint64_t size = 0;
  uint64_t offset = 0;
  uint64_t end_limit = 0;  // the directory must end before this (EOCD or ZIP64 record)
  bool zip64 = false;
};

Result<uint64_t> find_eocd(ByteSpan f) {
  if (f.size < k_eocd_size) return bad("file is too small to be a zip archive");
  uint64_t lowest = f.size > k_eocd_size + 0xffff ? f.size - k_eocd_size - 0xffff : 0;
  for (uint64_t pos = f.size - k_eocd_size + 1; pos-- > lowest;) {
    if (u32_at(f, pos) != k_eocd_sig) continue;
    uint16_t comment_len;
    std::memcpy(&comment_len, f.data + pos + 20, 2);
    if (pos + k_eocd_size + comment_len == f.size) return pos;
  }
  return bad("no end of central directory record (not a zip archive, or truncated)");
}

Result<Directory> read_directory(ByteSpan f) {
  MB_ASSIGN(uint64_t eocd, find_eocd(f));
  ByteReader r(f, eocd + 4);
  uint16_t disk = 0, cd_disk = 0, n_disk = 0, n_total = 0;
  uint32_t cd_size = 0, cd_off = 0;
  (void)(r.read_le(disk) && r.read_le(cd_disk) && r.read_le(n_disk) && r.read_le(n_total) &&
         r.read_le(cd_size) && r.read_le(cd_off));
  if (disk != 0 || cd_disk != 0 || n_disk != n_total)
    return bad("multi-disk archives are not supported");
  Directory d{n_total, cd_size, cd_off, eocd, false};
  if (n_total == 0xffff || cd_size == 0xffffffffu || cd_off == 0xffffffffu) {
    if (eocd < 20 || u32_at(f, eocd - 20) != k_zip64_locator_sig) {
      return bad("ZIP64 sizes without a ZIP64 locator");
    }
    uint64_t rec = 0;
    std::memcpy(&rec, f.data + eocd - 20 + 8, 8);
    if (!range_inside(rec, 56, eocd - 20) || u32_at(f, rec) != k_zip64_eocd_sig) {
      return bad("ZIP64 end of central directory record is missing or outside the file");
    }
    ByteReader z(f, rec + 24);
    uint64_t n_this = 0;
    (void)(z.read_le(n_this) && z.read_le(d.count) && z.read_le(d.size) && z.read_le(d.offset));
    if (n_this != d.count) return bad("multi-disk archives are not supported");
    d.end_limit = rec;
    d.zip64 = true;
  }
  if (!range_inside(d.offset, d.size, d.end_limit)) {
    return bad(fmt::format("central directory ({} bytes at {}) lies outside the archive", d.size,
                           d.offset));
  }
  if (d.count > d.size / 46) {
    return bad(
        fmt::format("entry count {} cannot fit in a {}-byte central directory", d.count, d.size));
  }
  return d;
}

// ZIP64 extended information (extra field 0x0001) replaces the 0xffffffff fields in order.
Status apply_zip64_extra(std::string_view extra, ZipEntry& e, bool need_u, bool need_c,
                         bool need_off, uint64_t& local_off) {
  ByteReader r(ByteSpan{reinterpret_cast<const uint8_t*>(extra.data()), extra.size()});
  while (r.remaining() >= 4) {
    uint16_t id = 0, len = 0;
    (void)(r.read_le(id) && r.read_le(len));
    if (len > r.remaining()) return bad("extra field of '" + e.name + "' runs past its entry");
    if (id == 0x0001) {
      ByteReader z(ByteSpan{r.here(), len});
      if ((need_u && !z.read_le(e.uncompressed_size)) ||
          (need_c && !z.read_le(e.compressed_size)) || (need_off && !z.read_le(local_off))) {
        return bad("ZIP64 extra field of '" + e.name + "' is too short");
      }
      return {};
    }
    (void)r.skip(len);
  }
  if (need_u || need_c || need_off) return bad("entry '" + e.name + "' lacks its ZIP64 sizes");
  return {};
}

Status check_local_header(ByteSpan f, ZipEntry& e, uint64_t local_off, uint64_t cd_offset) {
  if (!range_inside(local_off, 30, cd_offset) || u32_at(f, local_off) != k_local_sig) {
    return bad(fmt::format("local header of '{}' is missing at offset {}", e.name, local_off));
  }
  uint16_t name_len = 0, extra_len = 0;
  std::memcpy(&name_len, f.data + local_off + 26, 2);
  std::memcpy(&extra_len, f.data + local_off + 28, 2);
  uint64_t name_at = local_off + 30;
  if (!range_inside(name_at, uint64_t{name_len} + extra_len, cd_offset) ||
      std::string_view(reinterpret_cast<const char*>(f.data + name_at), name_len) != e.name) {
    return bad("local header of '" + e.name + "' does not match the central directory");
  }
  e.data_offset = name_at + name_len + extra_len;
  if (!range_inside(e.data_offset, e.compressed_size, cd_offset)) {
    return bad(
        fmt::format("data of '{}' ({} bytes) runs into the central directory or past the end",
                    e.name, e.compressed_size));
  }
  return {};
}

}  // namespace

Result<ZipInfo> parse_zip(ByteSpan f) {
  MB_ASSIGN(Directory d, read_directory(f));
  ZipInfo info;
  info.zip64 = d.zip64;
  ByteReader r(f.sub(0, d.offset + d.size), d.offset);
  std::set<std::string> names;
  for (uint64_t i = 0; i < d.count; ++i) {
    uint32_t sig = 0;
    if (!r.read_le(sig) || sig != k_central_sig || r.remaining() < 42) {
      return bad("central directory entry " + std::to_string(i) + " is damaged");
    }
    const uint8_t* h = r.here();  // fixed part after the signature
    ZipEntry e;
    uint32_t csize, usize, local32;
    uint16_t name_len, extra_len, comment_len, flags;
    std::memcpy(&flags, h + 4, 2);
    std::memcpy(&e.method, h + 6, 2);
    std::memcpy(&csize, h + 16, 4);
    std::memcpy(&usize, h + 20, 4);
    std::memcpy(&name_len, h + 24, 2);
    std::memcpy(&extra_len, h + 26, 2);
    std::memcpy(&comment_len, h + 28, 2);
    std::memcpy(&local32, h + 38, 4);
    (void)r.skip(42);
    std::string_view name, extra, comment;
    if (!r.read_bytes(name_len, name) || !r.read_bytes(extra_len, extra) ||
        !r.read_bytes(comment_len, comment)) {
      return bad("central directory entry " + std::to_string(i) + " runs past the directory");
    }
    e.name = std::string(name);
    if (flags & 0x1) return bad("entry '" + e.name + "' is encrypted");
    if (e.method != 0 && e.method != 8) {
      return bad(fmt::format("entry '{}' uses compression method {}", e.name, e.method));
    }
    e.compressed_size = csize;
    e.uncompressed_size = usize;
    uint64_t local_off = local32;
    MB_TRY(apply_zip64_extra(extra, e, usize == 0xffffffffu, csize == 0xffffffffu,
                             local32 == 0xffffffffu, local_off));
    if (e.method == 0 && e.compressed_size != e.uncompressed_size) {
      return bad("stored entry '" + e.name + "' has different compressed and uncompressed sizes");
    }
    if (!names.insert(e.name).second) return bad("duplicate entry '" + e.name + "'");
    MB_TRY(check_local_header(f, e, local_off, d.offset));
    info.entries.push_back(std::move(e));
  }
  return info;
}

Result<uint64_t> pytorch_storage_bytes(const ZipInfo& zip) {
  std::string prefix;
  for (const auto& e : zip.entries) {
    auto slash = e.name.find('/');
    if (slash != std::string::npos && e.name.substr(slash) == "/data.pkl") {
      prefix = e.name.substr(0, slash + 1);
      break;
    }
  }
  if (prefix.empty()) {
    return bad("no '<archive>/data.pkl' entry: not a PyTorch checkpoint");
  }
  uint64_t total = 0;
  for (const auto& e : zip.entries) {
    if (e.name.rfind(prefix + "data/", 0) == 0 && !checked_add(total, e.uncompressed_size, total)) {
      return bad("storage sizes overflow");
    }
  }
  return total;
}

}  // namespace mb::runtime
