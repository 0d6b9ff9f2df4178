#include "runtime/formats/gguf.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <set>

namespace mb::runtime {

namespace {

Failure bad(const std::string& what) {
  return fail(ErrorCategory::integrity, "gguf: " + what,
              "the file is truncated or corrupt; fetch it again");
}

enum GgufType : uint32_t {
  t_u8 = 0,
  t_i8,
  t_u16,
  t_i16,
  t_u32,
  t_i32,
  t_f32,
  t_bool,
  t_string,
  t_array,
  t_u64,
  t_i64,
  t_f64
};

// Smallest encoding of one value of a type, used to bound counts before reading them.
uint64_t min_value_size(uint32_t t) {
  switch (t) {
    case t_u8:
    case t_i8:
    case t_bool: return 1;
    case t_u16:
    case t_i16: return 2;
    case t_u32:
    case t_i32:
    case t_f32: return 4;
    case t_u64:
    case t_i64:
    case t_f64:
    case t_string: return 8;
    case t_array: return 12;
    default: return 0;
  }
}

// Reads one numeric (or bool) value of type `t` as a double; false for other types.
bool read_number(ByteReader& r, uint32_t t, double& out) {
  auto get = [&](auto v) {
    if (!r.read_le(v)) return false;
    out = static_cast<double>(v);
    return true;
  };
  switch (t) {
    case t_u8:
    case t_bool: return get(uint8_t{});
    case t_i8: return get(int8_t{});
    case t_u16: return get(uint16_t{});
    case t_i16: return get(int16_t{});
    case t_u32: return get(uint32_t{});
    case t_i32: return get(int32_t{});
    case t_u64: return get(uint64_t{});
    case t_i64: return get(int64_t{});
    case t_f32: return get(float{});
    case t_f64: return get(double{});
    default: return false;
  }
}

class Parser {
 public:
  explicit Parser(ByteSpan s) : m_r(s) {}

  Result<std::string> string(const char* what) {
    uint64_t len = 0;
    if (!m_r.read_le(len)) return bad(std::string("truncated length of ") + what);
    if (len > m_r.remaining() || len > k_gguf_max_string) {
      return bad(fmt::format("{} length {} exceeds the {} bytes left in the file", what, len,
                             m_r.remaining()));
    }
    std::string_view v;
    (void)m_r.read_bytes(len, v);
    return std::string(v);
  }

  template <class T>
  Result<T> scalar(const std::string& key) {
    T v{};
    if (!m_r.read_le(v)) return bad("truncated value of '" + key + "'");
    return v;
  }

  // A scalar's text form (std::to_string: floats keep their "%f" spelling in reports).
  template <class T>
  Result<std::string> scalar_text(const std::string& key) {
    MB_ASSIGN(auto v, scalar<T>(key));
    return std::to_string(v);
  }

  // Reads one value of type `t`; returns its text form for scalars.
  Result<std::string> value(uint32_t t, const std::string& key, int depth) {
    switch (t) {
      case t_u8: return scalar_text<uint8_t>(key);
      case t_i8: return scalar_text<int8_t>(key);
      case t_u16: return scalar_text<uint16_t>(key);
      case t_i16: return scalar_text<int16_t>(key);
      case t_u32: return scalar_text<uint32_t>(key);
      case t_i32: return scalar_text<int32_t>(key);
      case t_u64: return scalar_text<uint64_t>(key);
      case t_i64: return scalar_text<int64_t>(key);
      case t_f32: return scalar_text<float>(key);
      case t_f64: return scalar_text<double>(key);
      case t_bool: {
        MB_ASSIGN(auto v, scalar<uint8_t>(key));
        if (v > 1) return bad(fmt::format("bool value of '{}' is {}", key, v));
        return std::string(v ? "true" : "false");
      }
      case t_string: return string("string value");
      case t_array: return array(key, depth);
      default: return bad(fmt::format("metadata '{}' has unknown type {}", key, t));
    }
  }

  Result<std::string> array(const std::string& key, int depth) {
    if (depth >= k_gguf_max_array_depth) {
      return bad(
          fmt::format("metadata '{}' nests arrays deeper than {}", key, k_gguf_max_array_depth));
    }
    uint32_t elem = 0;
    uint64_t count = 0;
    if (!m_r.read_le(elem) || !m_r.read_le(count)) return bad("truncated array '" + key + "'");
    uint64_t min = min_value_size(elem);
    if (min == 0) return bad(fmt::format("array '{}' has unknown element type {}", key, elem));
    if (count > m_r.remaining() / min) {
      return bad(fmt::format("array '{}' claims {} elements but only {} bytes are left", key, count,
                             m_r.remaining()));
    }
    for (uint64_t i = 0; i < count; ++i) {
      auto v = value(elem, key, depth + 1);
      if (!v.ok()) return v.take_error();
    }
    return fmt::format("array[{}]", count);
  }

  ByteReader& reader() { return m_r; }

 private:
  ByteReader m_r;
};

Status read_tensor_info(Parser& p, TensorInfo& t, uint32_t& type_out) {
  MB_ASSIGN(t.name, p.string("tensor name"));
  uint32_t n_dims = 0;
  if (!p.reader().read_le(n_dims)) return bad("truncated tensor info of '" + t.name + "'");
  if (n_dims == 0 || n_dims > k_gguf_max_dims) {
    return bad(fmt::format("tensor '{}' has {} dimensions", t.name, n_dims));
  }
  std::vector<uint64_t> ne(n_dims);
  for (auto& d : ne) {
    if (!p.reader().read_le(d)) return bad("truncated dimensions of '" + t.name + "'");
  }
  if (!p.reader().read_le(type_out) || !p.reader().read_le(t.offset)) {
    return bad("truncated tensor info of '" + t.name + "'");
  }
  GgmlTypeSize ts = ggml_type_size(type_out);
  if (ts.block == 0) {
    return bad(fmt::format("tensor '{}' has unknown ggml type {}", t.name, type_out));
  }
  t.dtype = ts.name;
  if (ne[0] % ts.block != 0) {
    return bad(
        fmt::format("tensor '{}' row of {} elements is not a multiple of the {} block size {}",
                    t.name, ne[0], t.dtype, ts.block));
  }
  uint64_t n = ne[0] / ts.block * ts.bytes;
  for (size_t i = 1; i < ne.size(); ++i) {
    if (!checked_mul(n, ne[i], n)) return bad("tensor '" + t.name + "' size overflows");
  }
  t.nbytes = n;
  t.shape.assign(ne.rbegin(), ne.rend());
  return {};
}

}  // namespace

GgmlTypeSize ggml_type_size(uint32_t type) {
  switch (type) {
    case 0: return {"F32", 1, 4};
    case 1: return {"F16", 1, 2};
    case 2: return {"Q4_0", 32, 18};
    case 3: return {"Q4_1", 32, 20};
    case 6: return {"Q5_0", 32, 22};
    case 7: return {"Q5_1", 32, 24};
    case 8: return {"Q8_0", 32, 34};
    case 9: return {"Q8_1", 32, 36};
    case 10: return {"Q2_K", 256, 84};
    case 11: return {"Q3_K", 256, 110};
    case 12: return {"Q4_K", 256, 144};
    case 13: return {"Q5_K", 256, 176};
    case 14: return {"Q6_K", 256, 210};
    case 15: return {"Q8_K", 256, 292};
    case 16: return {"IQ2_XXS", 256, 66};
    case 17: return {"IQ2_XS", 256, 74};
    case 18: return {"IQ3_XXS", 256, 98};
    case 19: return {"IQ1_S", 256, 50};
    case 20: return {"IQ4_NL", 32, 18};
    case 21: return {"IQ3_S", 256, 110};
    case 22: return {"IQ2_S", 256, 82};
    case 23: return {"IQ4_XS", 256, 136};
    case 24: return {"I8", 1, 1};
    case 25: return {"I16", 1, 2};
    case 26: return {"I32", 1, 4};
    case 27: return {"I64", 1, 8};
    case 28: return {"F64", 1, 8};
    case 29: return {"IQ1_M", 256, 56};
    case 30: return {"BF16", 1, 2};
    case 34: return {"TQ1_0", 256, 54};
    case 35: return {"TQ2_0", 256, 66};
    case 39: return {"MXFP4", 32, 17};
    default: return {"", 0, 0};
  }
}

Result<GgufInfo> parse_gguf(ByteSpan file) {
  Parser p(file);
  ByteReader& r = p.reader();
  GgufInfo info;
  uint32_t magic = 0;
  if (!r.read_le(magic) || magic != 0x46554747u) return bad("missing GGUF magic");
  if (!r.read_le(info.version)) return bad("truncated header");
  if (info.version != 2 && info.version != 3) {
    return bad(fmt::format("unsupported version {} (2 and 3 are supported)", info.version));
  }
  uint64_t n_tensors = 0, n_kv = 0;
  if (!r.read_le(n_tensors) || !r.read_le(n_kv)) return bad("truncated header");
  // A kv is at least key length + type + an 1-byte value; a tensor info at least 8+4+8+4+8.
  if (n_kv > r.remaining() / 13) {
    return bad(fmt::format("metadata count {} cannot fit in a {}-byte file", n_kv, file.size));
  }
  if (n_tensors > r.remaining() / 32) {
    return bad(fmt::format("tensor count {} cannot fit in a {}-byte file", n_tensors, file.size));
  }
  for (uint64_t i = 0; i < n_kv; ++i) {
    MB_ASSIGN(std::string key, p.string("metadata key"));
    uint32_t type = 0;
    if (!r.read_le(type)) return bad("truncated type of metadata '" + key + "'");
    ByteReader peek = r;  // value() checks the bounds; peek only records where it lies
    double number = 0;
    if (read_number(peek, type, number)) info.numbers[key] = number;
    GgufArrayRef arr;
    if (type == t_array && peek.read_le(arr.elem_type) && peek.read_le(arr.count)) {
      arr.offset = peek.pos();
      info.arrays[key] = arr;
    }
    MB_ASSIGN(std::string text, p.value(type, key, 0));
    if (key == "general.alignment") {
      if (type != t_u32) return bad("general.alignment is not a uint32");
      info.alignment = std::stoull(text);
      if (info.alignment == 0 || (info.alignment & (info.alignment - 1)) != 0) {
        return bad("general.alignment " + text + " is not a power of two");
      }
    }
    if (!info.metadata.emplace(key, std::move(text)).second) {
      return bad("duplicate metadata key '" + key + "'");
    }
  }
  std::set<std::string> names;
  for (uint64_t i = 0; i < n_tensors; ++i) {
    TensorInfo t;
    uint32_t type = 0;
    MB_TRY(read_tensor_info(p, t, type));
    if (!names.insert(t.name).second) return bad("duplicate tensor '" + t.name + "'");
    info.tensors.push_back(std::move(t));
  }
  uint64_t pos = r.pos();
  info.data_offset = (pos + info.alignment - 1) / info.alignment * info.alignment;
  if (info.data_offset > file.size) {
    return bad(fmt::format("data section starts at byte {} past the end of the {}-byte file",
                           info.data_offset, file.size));
  }
  const uint64_t data_size = file.size - info.data_offset;
  for (auto& t : info.tensors) {
    if (t.offset % info.alignment != 0) {
      return bad(fmt::format("tensor '{}' offset {} is not aligned to {}", t.name, t.offset,
                             info.alignment));
    }
    if (!range_inside(t.offset, t.nbytes, data_size)) {
      return bad(
          fmt::format("tensor '{}' ({} bytes at data offset {}) runs past the end of the file",
                      t.name, t.nbytes, t.offset));
    }
    t.offset += info.data_offset;
  }
  std::sort(info.tensors.begin(), info.tensors.end(),
            [](const auto& a, const auto& b) { return a.offset < b.offset; });
  for (size_t i = 1; i < info.tensors.size(); ++i) {
    const auto& prev = info.tensors[i - 1];
    if (info.tensors[i].offset < prev.offset + prev.nbytes) {
      return bad("tensors '" + prev.name + "' and '" + info.tensors[i].name + "' overlap");
    }
  }
  return info;
}

namespace {

Result<GgufArrayRef> find_array(const GgufInfo& info, const std::string& key, bool strings) {
  auto it = info.arrays.find(key);
  if (it == info.arrays.end()) return bad("metadata '" + key + "' is missing or not an array");
  const bool is_string = it->second.elem_type == t_string;
  if (is_string != strings || it->second.elem_type == t_array) {
    return bad(fmt::format("metadata array '{}' has element type {}, expected {}", key,
                           it->second.elem_type, strings ? "string" : "a number"));
  }
  return it->second;
}

}  // namespace

Result<std::vector<std::string>> gguf_string_array(ByteSpan file, const GgufInfo& info,
                                                   const std::string& key) {
  MB_ASSIGN(GgufArrayRef a, find_array(info, key, true));
  Parser p(file);
  if (!p.reader().skip(a.offset)) return bad("array '" + key + "' lies outside the file");
  std::vector<std::string> out;
  out.reserve(std::min<uint64_t>(a.count, 1u << 20));  // grows only with real content
  for (uint64_t i = 0; i < a.count; ++i) {
    MB_ASSIGN(std::string s, p.string("array element"));
    out.push_back(std::move(s));
  }
  return out;
}

Result<std::vector<double>> gguf_number_array(ByteSpan file, const GgufInfo& info,
                                              const std::string& key) {
  MB_ASSIGN(GgufArrayRef a, find_array(info, key, false));
  ByteReader r(file);
  if (!r.skip(a.offset)) return bad("array '" + key + "' lies outside the file");
  std::vector<double> out;
  out.reserve(std::min<uint64_t>(a.count, 1u << 20));
  for (uint64_t i = 0; i < a.count; ++i) {
    double v = 0;
    if (!read_number(r, a.elem_type, v)) return bad("truncated array '" + key + "'");
    out.push_back(v);
  }
  return out;
}

}  // namespace mb::runtime
