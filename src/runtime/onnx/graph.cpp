#include "runtime/onnx/graph.hpp"

#include <fmt/format.h>

#include <cstring>

namespace mb::onnx {

namespace {

using runtime::ByteReader;
using runtime::ByteSpan;

Failure bad(const std::string& what) {
  return fail(ErrorCategory::integrity, "onnx: " + what,
              "the file is truncated or corrupt; fetch it again");
}

// One protobuf field: a varint or fixed value, or the payload of a length-delimited one.
struct Field {
  uint32_t number = 0;
  uint8_t wire = 0;
  uint64_t value = 0;  // varint, or the raw bits of fixed32/fixed64
  ByteSpan bytes;
  std::string_view text() const { return {reinterpret_cast<const char*>(bytes.data), bytes.size}; }
};

bool varint(ByteReader& r, uint64_t& out) {
  out = 0;
  for (int k = 0; k < 10; ++k) {
    uint8_t b = 0;
    if (!r.read_le(b)) return false;
    out |= uint64_t{b & 0x7fu} << (7 * k);
    if (!(b & 0x80)) return true;
  }
  return false;
}

// Fields of one message in order; every length is checked against what is left.
class Wire {
 public:
  explicit Wire(ByteSpan s) : m_r(s) {}
  Result<bool> next(Field& f) {
    if (m_r.remaining() == 0) return false;
    uint64_t key = 0;
    if (!varint(m_r, key) || (key >> 3) == 0) return bad("malformed field key");
    f.number = static_cast<uint32_t>(key >> 3);
    f.wire = key & 7;
    f.value = 0;
    switch (f.wire) {
      case 0:
        if (!varint(m_r, f.value)) return bad("malformed varint");
        return true;
      case 1:
        if (!m_r.read_le(f.value)) return bad("truncated fixed64");
        return true;
      case 5: {
        uint32_t v = 0;
        if (!m_r.read_le(v)) return bad("truncated fixed32");
        f.value = v;
        return true;
      }
      case 2: {
        uint64_t len = 0;
        if (!varint(m_r, len) || len > m_r.remaining()) return bad("field length past its message");
        f.bytes = ByteSpan{m_r.here(), len};
        (void)m_r.skip(len);
        return true;
      }
      default: return bad(fmt::format("unsupported wire type {}", f.wire));
    }
  }

 private:
  ByteReader m_r;
};

// A repeated scalar field, packed (one length-delimited field) or not (one field per value).
template <class T, class Convert>
Status repeated(const Field& f, std::vector<T>& out, Convert convert, int fixed_bytes) {
  if (f.wire != 2) {
    out.push_back(convert(f.value));
    return {};
  }
  ByteReader r(f.bytes);
  while (r.remaining() > 0) {
    uint64_t v = 0;
    if (fixed_bytes == 4) {
      uint32_t x = 0;
      if (!r.read_le(x)) return bad("truncated packed field");
      v = x;
    } else if (fixed_bytes == 8) {
      if (!r.read_le(v)) return bad("truncated packed field");
    } else if (!varint(r, v)) {
      return bad("malformed packed varint");
    }
    out.push_back(convert(v));
  }
  return {};
}

float bits_to_float(uint64_t v) {
  const auto b = static_cast<uint32_t>(v);
  float x;
  std::memcpy(&x, &b, 4);
  return x;
}

float half_to_float(uint16_t h) {
  const uint32_t sign = (h & 0x8000u) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff;
  uint32_t bits;
  if (exp == 0) {
    if (man == 0) {
      bits = sign;
    } else {  // subnormal: renormalise
      int e = -1;
      uint32_t m = man;
      do {
        ++e;
        m <<= 1;
      } while (!(m & 0x400));
      bits = sign | ((112 - e) << 23) | ((m & 0x3ff) << 13);
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (man << 13);
  } else {
    bits = sign | ((exp + 112) << 23) | (man << 13);
  }
  float x;
  std::memcpy(&x, &bits, 4);
  return x;
}

// ONNX TensorProto.DataType -> bytes per element of raw_data; 0 for types not held.
int element_bytes(int64_t type) {
  switch (type) {
    case 1: return 4;   // FLOAT
    case 2: return 1;   // UINT8
    case 3: return 1;   // INT8
    case 6: return 4;   // INT32
    case 7: return 8;   // INT64
    case 9: return 1;   // BOOL
    case 10: return 2;  // FLOAT16
    case 11: return 8;  // DOUBLE
    case 16: return 2;  // BFLOAT16
    default: return 0;
  }
}

bool is_float_type(int64_t type) { return type == 1 || type == 10 || type == 11 || type == 16; }

// Decodes `n` little-endian elements of `type` into t.f or t.i.
void decode_raw(std::string_view raw, int64_t type, size_t n, Tensor& t) {
  const auto* p = reinterpret_cast<const uint8_t*>(raw.data());
  if (is_float_type(type)) {
    t.f.resize(n);
    for (size_t k = 0; k < n; ++k) {
      if (type == 1) {
        std::memcpy(&t.f[k], p + 4 * k, 4);
      } else if (type == 11) {
        double d;
        std::memcpy(&d, p + 8 * k, 8);
        t.f[k] = static_cast<float>(d);
      } else {
        uint16_t h;
        std::memcpy(&h, p + 2 * k, 2);
        if (type == 10) {
          t.f[k] = half_to_float(h);
        } else {
          const uint32_t bits = uint32_t{h} << 16;
          std::memcpy(&t.f[k], &bits, 4);
        }
      }
    }
    return;
  }
  t.type = Tensor::Type::i64;
  t.i.resize(n);
  for (size_t k = 0; k < n; ++k) {
    switch (type) {
      case 2: t.i[k] = p[k]; break;
      case 3: t.i[k] = p[k] < 128 ? int64_t{p[k]} : int64_t{p[k]} - 256; break;  // INT8
      case 9: t.i[k] = p[k] != 0; break;
      case 6: {
        int32_t v;
        std::memcpy(&v, p + 4 * k, 4);
        t.i[k] = v;
        break;
      }
      default: std::memcpy(&t.i[k], p + 8 * k, 8);
    }
  }
}

struct TensorFields {
  std::string name, location, raw;
  std::vector<int64_t> dims, ints;
  std::vector<float> floats;
  std::vector<double> doubles;
  int64_t type = 0;
  uint64_t offset = 0;
  int64_t length = -1;
  bool external = false;
};

Status read_external_entry(ByteSpan bytes, TensorFields& tf) {
  Wire w(bytes);
  Field f;
  std::string key, value;
  for (;;) {
    MB_ASSIGN(bool more, w.next(f));
    if (!more) break;
    if (f.number == 1 && f.wire == 2) key = f.text();
    if (f.number == 2 && f.wire == 2) value = f.text();
  }
  if (key == "location") {
    tf.location = value;
  } else if (key == "offset" || key == "length") {
    uint64_t v = 0;
    for (char c : value) {
      if (c < '0' || c > '9' || v > (1ull << 50))
        return bad("external data " + key + " is not a number");
      v = v * 10 + static_cast<uint64_t>(c - '0');
    }
    if (key == "offset")
      tf.offset = v;
    else
      tf.length = static_cast<int64_t>(v);
  }
  return {};
}

Result<TensorFields> tensor_fields(ByteSpan bytes) {
  TensorFields tf;
  Wire w(bytes);
  Field f;
  auto as_i64 = [](uint64_t v) { return static_cast<int64_t>(v); };
  for (;;) {
    MB_ASSIGN(bool more, w.next(f));
    if (!more) break;
    switch (f.number) {
      case 1: MB_TRY(repeated(f, tf.dims, as_i64, 0)); break;
      case 2: tf.type = static_cast<int64_t>(f.value); break;
      case 4: MB_TRY(repeated(f, tf.floats, bits_to_float, 4)); break;
      case 5:
        MB_TRY(repeated(
            f, tf.ints, [](uint64_t v) { return int64_t{static_cast<int32_t>(v)}; }, 0));
        break;
      case 7: MB_TRY(repeated(f, tf.ints, as_i64, 0)); break;
      case 8: tf.name = f.text(); break;
      case 9: tf.raw = f.text(); break;
      case 10:
        MB_TRY(repeated(
            f, tf.doubles,
            [](uint64_t v) {
              double d;
              std::memcpy(&d, &v, 8);
              return d;
            },
            8));
        break;
      case 13: MB_TRY(read_external_entry(f.bytes, tf)); break;
      case 14: tf.external = f.value == 1; break;
      default: break;
    }
  }
  return tf;
}

Result<Tensor> decode_tensor(ByteSpan bytes, const ExternalReader& external) {
  MB_ASSIGN(TensorFields tf, tensor_fields(bytes));
  Tensor t;
  t.shape = tf.dims;
  const int64_t n = element_count(t.shape);
  if (n < 0) return bad("tensor '" + tf.name + "' has invalid dims " + shape_text(t.shape));
  const int eb = element_bytes(tf.type);
  if (eb == 0)
    return fail(ErrorCategory::usage,
                fmt::format("onnx: tensor '{}' has data type {}, which inference does not hold",
                            tf.name, tf.type));
  if (tf.external) {
    if (tf.location.empty())
      return bad("tensor '" + tf.name + "' has external data without a location");
    MB_ASSIGN(tf.raw, external(tf.location, tf.offset, tf.length));
  }
  const auto want = static_cast<uint64_t>(n) * static_cast<uint64_t>(eb);
  if (tf.external || !tf.raw.empty()) {
    if (tf.raw.size() != want)
      return bad(fmt::format("tensor '{}' holds {} bytes, its dims {} need {}", tf.name,
                             tf.raw.size(), shape_text(t.shape), want));
    decode_raw(tf.raw, tf.type, static_cast<size_t>(n), t);
    return t;
  }
  // Typed fields: float_data, int32/int64_data (bool, int8, uint8 in int32_data), double_data.
  if (is_float_type(tf.type)) {
    if (tf.type == 11) {
      for (double d : tf.doubles) tf.floats.push_back(static_cast<float>(d));
    } else if (tf.type != 1) {  // float16 / bfloat16 in int32_data, as bit patterns
      std::vector<float> v;
      for (int64_t bitsv : tf.ints) {
        std::string two(2, '\0');
        const auto h = static_cast<uint16_t>(bitsv);
        std::memcpy(two.data(), &h, 2);
        Tensor one;
        decode_raw(two, tf.type, 1, one);
        v.push_back(one.f[0]);
      }
      tf.floats = std::move(v);
    }
    if (tf.floats.size() != static_cast<size_t>(n))
      return bad(fmt::format("tensor '{}' holds {} values, its dims {} need {}", tf.name,
                             tf.floats.size(), shape_text(t.shape), n));
    t.f = std::move(tf.floats);
    return t;
  }
  if (tf.ints.size() != static_cast<size_t>(n))
    return bad(fmt::format("tensor '{}' holds {} values, its dims {} need {}", tf.name,
                           tf.ints.size(), shape_text(t.shape), n));
  t.type = Tensor::Type::i64;
  t.i = std::move(tf.ints);
  if (tf.type == 9)
    for (auto& v : t.i) v = v != 0;
  return t;
}

Result<std::string> tensor_name(ByteSpan bytes) {
  Wire w(bytes);
  Field f;
  for (;;) {
    MB_ASSIGN(bool more, w.next(f));
    if (!more) return std::string();
    if (f.number == 8 && f.wire == 2) return std::string(f.text());
  }
}

Result<Attribute> read_attribute(ByteSpan bytes, const ExternalReader& external) {
  Attribute a;
  Wire w(bytes);
  Field f;
  int64_t type = 0;
  bool has_t = false;
  ByteSpan t_bytes;
  for (;;) {
    MB_ASSIGN(bool more, w.next(f));
    if (!more) break;
    switch (f.number) {
      case 1: a.name = f.text(); break;
      case 2: a.f = bits_to_float(f.value); break;
      case 3: a.i = static_cast<int64_t>(f.value); break;
      case 4: a.s = f.text(); break;
      case 5:
        has_t = true;
        t_bytes = f.bytes;
        break;
      case 7: MB_TRY(repeated(f, a.floats, bits_to_float, 4)); break;
      case 8:
        MB_TRY(repeated(
            f, a.ints, [](uint64_t v) { return static_cast<int64_t>(v); }, 0));
        break;
      case 20: type = static_cast<int64_t>(f.value); break;
      default: break;
    }
  }
  using K = Attribute::Kind;
  switch (type) {  // AttributeProto.AttributeType
    case 1: a.kind = K::f; break;
    case 2: a.kind = K::i; break;
    case 3: a.kind = K::s; break;
    case 4: a.kind = K::t; break;
    case 6: a.kind = K::floats; break;
    case 7: a.kind = K::ints; break;
    default: a.kind = K::other; break;
  }
  if (a.kind == K::t && has_t) {
    MB_ASSIGN(a.t, decode_tensor(t_bytes, external));
  }
  return a;
}

Result<Node> read_node(ByteSpan bytes, const ExternalReader& external) {
  Node n;
  Wire w(bytes);
  Field f;
  for (;;) {
    MB_ASSIGN(bool more, w.next(f));
    if (!more) break;
    switch (f.number) {
      case 1: n.inputs.emplace_back(f.text()); break;
      case 2: n.outputs.emplace_back(f.text()); break;
      case 3: n.name = f.text(); break;
      case 4: n.op_type = f.text(); break;
      case 5: {
        MB_ASSIGN(Attribute a, read_attribute(f.bytes, external));
        n.attributes.push_back(std::move(a));
        break;
      }
      case 7: n.domain = f.text(); break;
      default: break;
    }
  }
  return n;
}

Result<std::string> value_info_name(ByteSpan bytes) {
  Wire w(bytes);
  Field f;
  for (;;) {
    MB_ASSIGN(bool more, w.next(f));
    if (!more) return std::string();
    if (f.number == 1 && f.wire == 2) return std::string(f.text());
  }
}

Status read_graph(ByteSpan bytes, const ExternalReader& external, Graph& g) {
  Wire w(bytes);
  Field f;
  std::vector<std::string> declared_inputs;
  for (;;) {
    MB_ASSIGN(bool more, w.next(f));
    if (!more) break;
    if (f.wire != 2) continue;
    if (f.number == 1) {
      MB_ASSIGN(Node n, read_node(f.bytes, external));
      g.nodes.push_back(std::move(n));
    } else if (f.number == 5) {
      MB_ASSIGN(std::string name, tensor_name(f.bytes));
      MB_ASSIGN(Tensor t, decode_tensor(f.bytes, external));
      g.initializers[name] = std::move(t);
    } else if (f.number == 11) {
      MB_ASSIGN(std::string name, value_info_name(f.bytes));
      declared_inputs.push_back(std::move(name));
    } else if (f.number == 12) {
      MB_ASSIGN(std::string name, value_info_name(f.bytes));
      g.outputs.push_back(std::move(name));
    }
  }
  // IR < 4 lists the initializers among the inputs too.
  for (auto& name : declared_inputs)
    if (!g.initializers.count(name)) g.inputs.push_back(std::move(name));
  return {};
}

}  // namespace

const Attribute* Node::attr(const char* key) const {
  for (const auto& a : attributes)
    if (a.name == key) return &a;
  return nullptr;
}

int64_t element_count(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0 || (d > 0 && n > (int64_t{1} << 40) / d)) return -1;
    n *= d;
  }
  return n;
}

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t k = 0; k < shape.size(); ++k) s += (k ? ", " : "") + std::to_string(shape[k]);
  return s + "]";
}

Result<Graph> load_graph(ByteSpan file, const ExternalReader& external) {
  Graph g;
  Wire w(file);
  Field f;
  bool has_graph = false;
  for (;;) {
    MB_ASSIGN(bool more, w.next(f));
    if (!more) break;
    if (f.number == 7 && f.wire == 2) {
      MB_TRY(read_graph(f.bytes, external, g));
      has_graph = true;
    } else if (f.number == 8 && f.wire == 2) {  // opset_import {domain = 1, version = 2}
      Wire o(f.bytes);
      Field of;
      std::string domain;
      int64_t version = 0;
      for (;;) {
        MB_ASSIGN(bool more_o, o.next(of));
        if (!more_o) break;
        if (of.number == 1 && of.wire == 2) domain = of.text();
        if (of.number == 2 && of.wire == 0) version = static_cast<int64_t>(of.value);
      }
      if (domain.empty() || domain == "ai.onnx") g.opset = version;
    }
  }
  if (!has_graph) return bad("no graph");
  return g;
}

}  // namespace mb::onnx
