#include "runtime/formats/onnx.hpp"

#include <fmt/format.h>

#include <charconv>

#include "core/paths.hpp"

namespace mb::runtime {

namespace {

Failure bad_onnx(const std::string& what) {
  return fail(ErrorCategory::integrity, "onnx: " + what,
              "the file is truncated or corrupt; fetch it again");
}

enum Wire : uint8_t { w_varint = 0, w_fixed64 = 1, w_len = 2, w_fixed32 = 5 };

struct Field {
  uint32_t number = 0;
  uint8_t wire = 0;
  uint64_t varint = 0;
  ByteSpan bytes;       // payload of a length-delimited field
  uint64_t offset = 0;  // absolute offset of the payload in the file
};

// One protobuf message; `base` is its absolute offset in the file.
class Message {
 public:
  Message(ByteSpan s, uint64_t base) : m_r(s), m_base(base) {}

  static bool varint(ByteReader& r, uint64_t& out) {
    out = 0;
    for (int i = 0; i < 10; ++i) {
      uint8_t b = 0;
      if (!r.read_le(b)) return false;
      if (i == 9 && b > 1) return false;
      out |= uint64_t{b & 0x7fu} << (7 * i);
      if (!(b & 0x80)) return true;
    }
    return false;
  }

  // false at the end of the message; an error for malformed wire data.
  Result<bool> next(Field& f) {
    if (m_r.remaining() == 0) return false;
    uint64_t key = 0;
    if (!varint(m_r, key)) return bad_onnx("malformed field key at byte " + std::to_string(abs_pos()));
    f.number = static_cast<uint32_t>(key >> 3);
    f.wire = key & 7;
    if ((key >> 3) == 0 || (key >> 3) > 0x1fffffff) {
      return bad_onnx("invalid field number at byte " + std::to_string(abs_pos()));
    }
    switch (f.wire) {
      case w_varint:
        if (!varint(m_r, f.varint))
          return bad_onnx("malformed varint at byte " + std::to_string(abs_pos()));
        return true;
      case w_fixed64:
        if (!m_r.skip(8)) return bad_onnx("truncated fixed64 field");
        return true;
      case w_fixed32:
        if (!m_r.skip(4)) return bad_onnx("truncated fixed32 field");
        return true;
      case w_len: {
        uint64_t len = 0;
        if (!varint(m_r, len)) return bad_onnx("malformed length at byte " + std::to_string(abs_pos()));
        if (len > m_r.remaining()) {
          return bad_onnx(fmt::format("field {} claims {} bytes but its message has {} left", f.number,
                                 len, m_r.remaining()));
        }
        f.offset = abs_pos();
        f.bytes = ByteSpan{m_r.here(), len};
        (void)m_r.skip(len);
        return true;
      }
      default: return bad_onnx(fmt::format("unsupported wire type {} at byte {}", f.wire, abs_pos()));
    }
  }

 private:
  uint64_t abs_pos() const { return m_base + m_r.pos(); }
  ByteReader m_r;
  uint64_t m_base;
};

uint64_t onnx_elem_size(uint64_t data_type) {
  switch (data_type) {
    case 2:
    case 3:
    case 9:
    case 17:
    case 18:
    case 19:
    case 20: return 1;  // u8 i8 bool f8
    case 4:
    case 5:
    case 10:
    case 16: return 2;  // u16 i16 f16 bf16
    case 1:
    case 6:
    case 12: return 4;  // f32 i32 u32
    case 7:
    case 11:
    case 13:
    case 14: return 8;   // i64 f64 u64 c64
    case 15: return 16;  // c128
    default: return 0;   // string, 4-bit types, unknown: no fixed size
  }
}

const char* onnx_type_name(uint64_t t) {
  static const char* names[] = {"UNDEFINED",  "FLOAT",   "UINT8",  "INT8",   "UINT16",
                                "INT16",      "INT32",   "INT64",  "STRING", "BOOL",
                                "FLOAT16",    "DOUBLE",  "UINT32", "UINT64", "COMPLEX64",
                                "COMPLEX128", "BFLOAT16"};
  return t < sizeof(names) / sizeof(names[0]) ? names[t] : "OTHER";
}

std::string text(ByteSpan b) { return std::string(reinterpret_cast<const char*>(b.data), b.size); }

bool parse_u64(const std::string& s, uint64_t& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size() && !s.empty();
}

// Calls fn(field) for each field of the message in `s` (whose first byte is at file offset
// `base`), stopping at the first error: malformed wire data or one fn returns.
template <class Fn>
Status each_field(ByteSpan s, uint64_t base, Fn&& fn) {
  Message m(s, base);
  Field f;
  while (true) {
    MB_ASSIGN(bool more, m.next(f));
    if (!more) return {};
    MB_TRY(fn(f));
  }
}

class Walker {
 public:
  Walker(const ExternalSize& ext, OnnxInfo& info) : m_ext(ext), m_info(info) {}

  Status graph(ByteSpan s, uint64_t base, int depth) {
    if (depth > k_onnx_max_depth)
      return bad_onnx("graphs nested deeper than " + std::to_string(k_onnx_max_depth));
    return each_field(s, base, [&](const Field& f) -> Status {
      if (f.wire != w_len) return {};
      if (f.number == 1) return node(f.bytes, f.offset, depth + 1);
      if (f.number == 5) return tensor(f.bytes, f.offset, depth + 1);
      if (f.number == 15) return sparse(f.bytes, f.offset, depth + 1);
      return {};
    });
  }

 private:
  Status node(ByteSpan s, uint64_t base, int depth) {
    return each_field(s, base, [&](const Field& f) -> Status {
      return f.number == 5 && f.wire == w_len ? attribute(f.bytes, f.offset, depth + 1) : Status{};
    });
  }

  Status attribute(ByteSpan s, uint64_t base, int depth) {
    return each_field(s, base, [&](const Field& f) -> Status {
      if (f.wire != w_len) return {};
      if (f.number == 6 || f.number == 11) return graph(f.bytes, f.offset, depth + 1);
      if (f.number == 5 || f.number == 10) {
        OnnxInfo scratch;  // constant attributes are part of the graph, not initializers
        Walker w(m_ext, scratch);
        return w.tensor(f.bytes, f.offset, depth + 1);
      }
      return {};
    });
  }

  Status sparse(ByteSpan s, uint64_t base, int depth) {
    return each_field(s, base, [&](const Field& f) -> Status {
      return (f.number == 1 || f.number == 2) && f.wire == w_len
                 ? tensor(f.bytes, f.offset, depth + 1)
                 : Status{};
    });
  }

  Status entry(ByteSpan s, uint64_t base, std::string& key, std::string& value) {
    return each_field(s, base, [&](const Field& f) -> Status {
      if (f.wire == w_len && f.number == 1) key = text(f.bytes);
      if (f.wire == w_len && f.number == 2) value = text(f.bytes);
      return {};
    });
  }

  Status tensor(ByteSpan s, uint64_t base, int depth);

  const ExternalSize& m_ext;
  OnnxInfo& m_info;
};

Status dims_field(const Field& f, std::vector<uint64_t>& dims, const std::string& what) {
  auto push = [&](uint64_t v) -> Status {
    if (v >> 63) return bad_onnx(what + " has a negative dimension");
    dims.push_back(v);
    return {};
  };
  if (f.wire == w_varint) return push(f.varint);
  if (f.wire != w_len) return bad_onnx(what + " has malformed dims");
  ByteReader r(f.bytes);
  while (r.remaining() > 0) {
    uint64_t v = 0;
    if (!Message::varint(r, v)) return bad_onnx(what + " has malformed packed dims");
    MB_TRY(push(v));
  }
  return {};
}

Status Walker::tensor(ByteSpan s, uint64_t base, int depth) {
  if (depth > k_onnx_max_depth) return bad_onnx("tensors nested deeper than the limit");
  TensorInfo t;
  uint64_t data_type = 0, location = 0;
  bool has_raw = false;
  uint64_t raw_size = 0, raw_offset = 0;
  std::string ext_location, ext_offset, ext_length;
  Status fields = each_field(s, base, [&](const Field& f) -> Status {
    if (f.number == 1) MB_TRY(dims_field(f, t.shape, "initializer"));
    if (f.number == 2 && f.wire == w_varint) data_type = f.varint;
    if (f.number == 8 && f.wire == w_len) t.name = text(f.bytes);
    if (f.number == 9 && f.wire == w_len)
      has_raw = true, raw_size = f.bytes.size, raw_offset = f.offset;
    if (f.number == 14 && f.wire == w_varint) location = f.varint;
    if (f.number == 13 && f.wire == w_len) {
      std::string key, value;
      MB_TRY(entry(f.bytes, f.offset, key, value));
      if (key == "location") ext_location = value;
      if (key == "offset") ext_offset = value;
      if (key == "length") ext_length = value;
    }
    return {};
  });
  if (!fields.ok()) return fields;
  const std::string what = "initializer '" + t.name + "'";
  t.dtype = onnx_type_name(data_type);
  uint64_t elem = onnx_elem_size(data_type);
  uint64_t count = 1;
  for (uint64_t d : t.shape) {
    if (!checked_mul(count, d, count)) return bad_onnx(what + " shape overflows");
  }
  uint64_t expected = 0;
  bool sized = elem != 0 && checked_mul(count, elem, expected);
  if (location == 1) {
    MB_TRY(validate_relative_path(ext_location, "ONNX external data location"));
    uint64_t off = 0, len = 0;
    if (!ext_offset.empty() && !parse_u64(ext_offset, off))
      return bad_onnx(what + " has a bad external offset");
    if (!ext_length.empty() && !parse_u64(ext_length, len))
      return bad_onnx(what + " has a bad external length");
    if (ext_length.empty()) len = expected;
    MB_ASSIGN(uint64_t file_size, m_ext(ext_location));
    if (!range_inside(off, len, file_size)) {
      return bad_onnx(fmt::format("{} external data ({} bytes at {}) lies outside {}", what, len, off,
                             ext_location));
    }
    if (sized && len != expected) {
      return bad_onnx(fmt::format("{} {} {} needs {} bytes but its external data has {}", what, t.dtype,
                             shape_string(t.shape), expected, len));
    }
    t.nbytes = len;
    m_info.external_files.push_back(ext_location);
  } else if (has_raw) {
    if (sized && raw_size != expected) {
      return bad_onnx(fmt::format("{} {} {} needs {} bytes but raw_data has {}", what, t.dtype,
                             shape_string(t.shape), expected, raw_size));
    }
    t.nbytes = raw_size;
    t.offset = raw_offset;
  } else {
    t.nbytes = sized ? expected : 0;
  }
  m_info.initializers.push_back(std::move(t));
  return {};
}

}  // namespace

Result<OnnxInfo> parse_onnx(ByteSpan file, const ExternalSize& external_size) {
  OnnxInfo info;
  Walker walker(external_size, info);
  int graphs = 0;
  MB_TRY(each_field(file, 0, [&](const Field& f) -> Status {
    if (f.number == 1 && f.wire == w_varint) info.ir_version = f.varint;
    if (f.number != 7 || f.wire != w_len) return {};
    ++graphs;
    return walker.graph(f.bytes, f.offset, 1);
  }));
  if (graphs == 0) return bad_onnx("ModelProto has no graph (not an ONNX model, or truncated)");
  if (info.ir_version == 0) return bad_onnx("ModelProto has no ir_version");
  return info;
}

}  // namespace mb::runtime
