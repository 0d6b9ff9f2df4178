#include "runtime/formats/safetensors.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <nlohmann/json.hpp>

namespace mb::runtime {

namespace {

Failure bad_safetensors(const std::string& what) {
  return fail(ErrorCategory::integrity, "safetensors: " + what,
              "the file is truncated or corrupt; fetch it again");
}

Result<TensorInfo> parse_entry(const std::string& name, const nlohmann::json& j,
                               uint64_t data_offset, uint64_t data_size) {
  if (!j.is_object()) return bad_safetensors("entry '" + name + "' is not an object");
  auto dt = j.find("dtype");
  auto sh = j.find("shape");
  auto off = j.find("data_offsets");
  if (dt == j.end() || !dt->is_string()) return bad_safetensors("tensor '" + name + "' has no dtype");
  if (sh == j.end() || !sh->is_array()) return bad_safetensors("tensor '" + name + "' has no shape");
  if (off == j.end() || !off->is_array() || off->size() != 2 || !(*off)[0].is_number_unsigned() ||
      !(*off)[1].is_number_unsigned()) {
    return bad_safetensors("tensor '" + name + "' has no valid data_offsets [begin, end]");
  }
  TensorInfo t;
  t.name = name;
  t.dtype = dt->get<std::string>();
  uint64_t elem = safetensors_dtype_size(t.dtype);
  if (elem == 0) return bad_safetensors("tensor '" + name + "' has unknown dtype '" + t.dtype + "'");
  uint64_t count = 1;
  for (const auto& d : *sh) {
    if (!d.is_number_unsigned()) return bad_safetensors("tensor '" + name + "' has a non-integer dimension");
    uint64_t v = d.get<uint64_t>();
    t.shape.push_back(v);
    if (!checked_mul(count, v, count)) return bad_safetensors("tensor '" + name + "' shape overflows");
  }
  uint64_t begin = (*off)[0].get<uint64_t>();
  uint64_t end = (*off)[1].get<uint64_t>();
  if (begin > end) return bad_safetensors("tensor '" + name + "' has data_offsets begin > end");
  if (!checked_mul(count, elem, t.nbytes)) return bad_safetensors("tensor '" + name + "' size overflows");
  if (end - begin != t.nbytes) {
    return bad_safetensors(fmt::format("tensor '{}' {} {} needs {} bytes but data_offsets span {}", name,
                           t.dtype, shape_string(t.shape), t.nbytes, end - begin));
  }
  if (end > data_size) {
    return bad_safetensors(
        fmt::format("tensor '{}' ends at byte {} of a data section of {} bytes: outside the file",
                    name, end, data_size));
  }
  t.offset = data_offset + begin;
  return t;
}

}  // namespace

uint64_t safetensors_dtype_size(const std::string& d) {
  if (d == "F64" || d == "I64" || d == "U64") return 8;
  if (d == "F32" || d == "I32" || d == "U32") return 4;
  if (d == "F16" || d == "BF16" || d == "I16" || d == "U16") return 2;
  if (d == "I8" || d == "U8" || d == "BOOL" || d == "F8_E4M3" || d == "F8_E5M2" || d == "F8_E8M0") {
    return 1;
  }
  return 0;
}

Result<SafetensorsInfo> parse_safetensors(ByteSpan file) {
  ByteReader r(file);
  SafetensorsInfo info;
  if (!r.read_le(info.header_size)) {
    return bad_safetensors(fmt::format("file has {} bytes, shorter than the 8-byte header length", file.size));
  }
  if (info.header_size > k_safetensors_max_header) {
    return bad_safetensors(fmt::format("header length {} exceeds the {}-byte cap", info.header_size,
                           k_safetensors_max_header));
  }
  if (info.header_size > r.remaining()) {
    return bad_safetensors(fmt::format("header length {} runs past the end of the {}-byte file",
                           info.header_size, file.size));
  }
  info.data_offset = 8 + info.header_size;
  const uint64_t data_size = file.size - info.data_offset;
  std::string_view header;
  (void)r.read_bytes(info.header_size, header);
  if (header.empty() || header.front() != '{') return bad_safetensors("header does not start with '{'");

  nlohmann::json j;
  try {
    j = nlohmann::json::parse(header);
  } catch (const nlohmann::json::exception& e) {
    return bad_safetensors(std::string("header is not valid JSON: ") + e.what());
  }
  if (!j.is_object()) return bad_safetensors("header is not a JSON object");
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.key() == "__metadata__") {
      if (!it->is_object()) return bad_safetensors("__metadata__ is not an object");
      for (auto m = it->begin(); m != it->end(); ++m) {
        if (!m->is_string()) return bad_safetensors("__metadata__ value '" + m.key() + "' is not a string");
        info.metadata[m.key()] = m->get<std::string>();
      }
      continue;
    }
    MB_ASSIGN(TensorInfo t, parse_entry(it.key(), *it, info.data_offset, data_size));
    info.tensors.push_back(std::move(t));
  }

  std::sort(info.tensors.begin(), info.tensors.end(), [](const auto& a, const auto& b) {
    return a.offset != b.offset ? a.offset < b.offset : a.nbytes < b.nbytes;
  });
  uint64_t expected = info.data_offset;
  for (const auto& t : info.tensors) {
    if (t.offset < expected) {
      return bad_safetensors(fmt::format(
          "tensor '{}' overlaps the previous tensor (starts at data byte {}, previous ends at {})",
          t.name, t.offset - info.data_offset, expected - info.data_offset));
    }
    if (t.offset > expected) {
      return bad_safetensors(fmt::format("gap of {} bytes before tensor '{}'", t.offset - expected, t.name));
    }
    expected = t.offset + t.nbytes;
  }
  if (expected != file.size) {
    return bad_safetensors(fmt::format("{} bytes after the last tensor are not described by the header",
                           file.size - expected));
  }
  return info;
}

}  // namespace mb::runtime
