// Byte builders for the format reader tests: tiny, valid safetensors / GGUF / zip / protobuf
// files that each test then damages in one precise way.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "runtime/formats/byte_reader.hpp"

namespace mb::test {

inline runtime::ByteSpan span(const std::string& s) {
  return runtime::ByteSpan{reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

template <class T>
void put(std::string& out, T v) {
  char b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));
  out.append(b, sizeof(T));
}

// safetensors: header JSON text + data bytes.
inline std::string safetensors(const std::string& header_json, const std::string& data) {
  std::string out;
  put<uint64_t>(out, header_json.size());
  return out + header_json + data;
}

// GGUF writer.
struct Gguf {
  std::string body;  // kvs and tensor infos
  uint64_t n_kv = 0, n_tensors = 0;
  uint32_t version = 3;
  void str(const std::string& s) {
    put<uint64_t>(body, s.size());
    body += s;
  }
  void kv_u32(const std::string& k, uint32_t v) {
    str(k);
    put<uint32_t>(body, 4);
    put<uint32_t>(body, v);
    ++n_kv;
  }
  void kv_str(const std::string& k, const std::string& v) {
    str(k);
    put<uint32_t>(body, 8);
    str(v);
    ++n_kv;
  }
  void tensor(const std::string& name, std::vector<uint64_t> ne, uint32_t type, uint64_t offset) {
    str(name);
    put<uint32_t>(body, static_cast<uint32_t>(ne.size()));
    for (auto d : ne) put<uint64_t>(body, d);
    put<uint32_t>(body, type);
    put<uint64_t>(body, offset);
    ++n_tensors;
  }
  // Header + body, padded to `align`, then `data`.
  std::string build(const std::string& data, uint64_t align = 32) const {
    std::string out = "GGUF";
    put<uint32_t>(out, version);
    put<uint64_t>(out, n_tensors);
    put<uint64_t>(out, n_kv);
    out += body;
    while (out.size() % align) out += '\0';
    return out + data;
  }
};

// Protobuf wire writer.
inline void varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out += static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  out += static_cast<char>(v);
}
inline std::string pb_varint(uint32_t field, uint64_t v) {
  std::string out;
  varint(out, uint64_t{field} << 3);
  varint(out, v);
  return out;
}
inline std::string pb_bytes(uint32_t field, const std::string& payload) {
  std::string out;
  varint(out, (uint64_t{field} << 3) | 2);
  varint(out, payload.size());
  return out + payload;
}

// Zip writer (stored entries only, like torch.save).
struct ZipWriter {
  std::string out, central;
  uint16_t count = 0;
  void add(const std::string& name, const std::string& data) {
    uint32_t off = static_cast<uint32_t>(out.size());
    put<uint32_t>(out, 0x04034b50);
    put<uint16_t>(out, 20);
    put<uint16_t>(out, 0);
    put<uint16_t>(out, 0);  // stored
    put<uint32_t>(out, 0);  // time/date
    put<uint32_t>(out, 0);  // crc (not checked structurally)
    put<uint32_t>(out, static_cast<uint32_t>(data.size()));
    put<uint32_t>(out, static_cast<uint32_t>(data.size()));
    put<uint16_t>(out, static_cast<uint16_t>(name.size()));
    put<uint16_t>(out, 0);
    out += name + data;
    put<uint32_t>(central, 0x02014b50);
    put<uint16_t>(central, 20);
    put<uint16_t>(central, 20);
    put<uint16_t>(central, 0);
    put<uint16_t>(central, 0);
    put<uint32_t>(central, 0);
    put<uint32_t>(central, 0);
    put<uint32_t>(central, static_cast<uint32_t>(data.size()));
    put<uint32_t>(central, static_cast<uint32_t>(data.size()));
    put<uint16_t>(central, static_cast<uint16_t>(name.size()));
    put<uint16_t>(central, 0);
    put<uint16_t>(central, 0);
    put<uint16_t>(central, 0);
    put<uint16_t>(central, 0);
    put<uint32_t>(central, 0);
    put<uint32_t>(central, off);
    central += name;
    ++count;
  }
  std::string finish() const {
    std::string z = out + central;
    put<uint32_t>(z, 0x06054b50);
    put<uint16_t>(z, 0);
    put<uint16_t>(z, 0);
    put<uint16_t>(z, count);
    put<uint16_t>(z, count);
    put<uint32_t>(z, static_cast<uint32_t>(central.size()));
    put<uint32_t>(z, static_cast<uint32_t>(out.size()));
    put<uint16_t>(z, 0);
    return z;
  }
};

}  // namespace mb::test
