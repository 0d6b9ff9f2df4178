#include "runtime/model/weights.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "core/file.hpp"
#include "runtime/confined.hpp"
#include "runtime/formats/safetensors.hpp"
#include "runtime/model/model_files.hpp"

namespace mb::infer {

// ---- MappedFile -------------------------------------------------------------------------

Result<MappedFile> MappedFile::open(const std::string& path) {
  MB_ASSIGN(UniqueFd fd, runtime::open_regular(path));
  return map(fd.get(), path);
}

Result<MappedFile> MappedFile::map(int fd, const std::string& what) {
  MB_ASSIGN(uint64_t size, file_size(fd, what));
  MappedFile m;
  m.m_size = size;
  if (size == 0) return m;
  void* p = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  if (p == MAP_FAILED) return errno_error("mmap " + what, errno);
  m.m_data = static_cast<const uint8_t*>(p);
  return m;
}

MappedFile::~MappedFile() { reset(); }
MappedFile::MappedFile(MappedFile&& o) noexcept : m_data(o.m_data), m_size(o.m_size) {
  o.m_data = nullptr;
  o.m_size = 0;
}
MappedFile& MappedFile::operator=(MappedFile&& o) noexcept {
  if (this != &o) {
    reset();
    m_data = o.m_data;
    m_size = o.m_size;
    o.m_data = nullptr;
    o.m_size = 0;
  }
  return *this;
}
void MappedFile::reset() {
  if (m_data != nullptr) ::munmap(const_cast<uint8_t*>(m_data), m_size);
  m_data = nullptr;
  m_size = 0;
}

// ---- dtypes -----------------------------------------------------------------------------

const char* to_string(DType d) {
  switch (d) {
    case DType::f32: return "F32";
    case DType::f16: return "F16";
    case DType::bf16: return "BF16";
    case DType::other: break;
  }
  return "other";
}

int64_t TensorView::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

float f16_to_f32(uint16_t h) {
  uint32_t sign = (h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      int e = -1;
      do {
        ++e;
        mant <<= 1;
      } while ((mant & 0x400u) == 0);
      bits = sign | ((127 - 15 - e) << 23) | ((mant & 0x3ffu) << 13);
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

float bf16_to_f32(uint16_t b) {
  uint32_t bits = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

namespace {

struct DTypeInfo {
  DType dtype;
  uint64_t size;
};

std::optional<DTypeInfo> dtype_info(const std::string& s) {
  if (s == "F32") return DTypeInfo{DType::f32, 4};
  if (s == "F16") return DTypeInfo{DType::f16, 2};
  if (s == "BF16") return DTypeInfo{DType::bf16, 2};
  if (s == "F64" || s == "I64" || s == "U64") return DTypeInfo{DType::other, 8};
  if (s == "I32" || s == "U32") return DTypeInfo{DType::other, 4};
  if (s == "I16" || s == "U16") return DTypeInfo{DType::other, 2};
  if (s == "I8" || s == "U8" || s == "BOOL" || s == "F8_E4M3" || s == "F8_E5M2" || s == "F8_E8M0")
    return DTypeInfo{DType::other, 1};
  return std::nullopt;
}

void convert(DType dtype, const uint8_t* src, int64_t n, float* out) {
  if (dtype == DType::f32) {
    std::memcpy(out, src, static_cast<size_t>(n) * 4);
  } else if (dtype == DType::f16) {
    for (int64_t i = 0; i < n; ++i) {
      uint16_t h;
      std::memcpy(&h, src + 2 * i, 2);
      out[i] = f16_to_f32(h);
    }
  } else {
    for (int64_t i = 0; i < n; ++i) {
      uint16_t h;
      std::memcpy(&h, src + 2 * i, 2);
      out[i] = bf16_to_f32(h);
    }
  }
}

Error bad(const std::string& label, const std::string& what) {
  return make_error(ErrorCategory::integrity, label + ": " + what,
                    "the weights file is corrupt; fetch the model again");
}

}  // namespace

// ---- Weights ----------------------------------------------------------------------------

Status Weights::add_file(MappedFile file, const std::string& label) {
  // The one safetensors reader (formats/safetensors.hpp), with every check of the structure
  // step: header length, JSON, dtype x shape == byte range, ranges tiling the data section.
  auto info = runtime::parse_safetensors(runtime::ByteSpan{file.data(), file.size()});
  if (!info.ok()) return bad(label, info.error().message);
  for (const auto& t : info->tensors) {
    auto di = dtype_info(t.dtype);
    if (!di) return bad(label, "tensor '" + t.name + "' has unknown dtype");
    TensorView v;
    v.name = t.name;
    v.dtype = di->dtype;
    v.dtype_name = t.dtype;
    for (uint64_t d : t.shape) {
      if (d > static_cast<uint64_t>(INT64_MAX))
        return bad(label, "tensor '" + t.name + "' has a dimension past 2^63");
      v.shape.push_back(static_cast<int64_t>(d));
    }
    v.data = file.data() + t.offset;  // inside the file: checked by the reader
    v.nbytes = t.nbytes;
    m_tensors[t.name] = std::move(v);
  }
  m_files.push_back(std::make_unique<MappedFile>(std::move(file)));
  return {};
}

Result<Weights> Weights::open(const ModelFiles& files) {
  Weights w;
  std::vector<std::string> shards;
  if (files.exists("model.safetensors")) {
    shards.emplace_back("model.safetensors");
  } else if (files.exists("model.safetensors.index.json")) {
    MB_ASSIGN(std::string text, files.read("model.safetensors.index.json"));
    auto j = nlohmann::json::parse(text, nullptr, false);
    if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
      return bad("model.safetensors.index.json", "has no weight_map object");
    std::set<std::string> seen;
    for (auto& [tensor, file] : j["weight_map"].items()) {
      if (!file.is_string()) return bad("model.safetensors.index.json", "bad shard name");
      std::string f = file.get<std::string>();
      // A shard name is a plain file name next to the index; never a path.
      if (f.empty() || f.find('/') != std::string::npos || f == "." || f == "..")
        return bad("model.safetensors.index.json", "shard name '" + f + "' is not a file name");
      if (seen.insert(f).second) shards.push_back(f);
    }
  } else {
    return fail(ErrorCategory::integrity,
                files.dir() + ": no model.safetensors or model.safetensors.index.json",
                "inference needs safetensors weights");
  }
  for (const auto& s : shards) {
    MB_ASSIGN(MappedFile f, files.map(s));
    MB_TRY(w.add_file(std::move(f), s));
  }
  return w;
}

const TensorView* Weights::find(const std::string& name) const {
  auto it = m_tensors.find(name);
  return it == m_tensors.end() ? nullptr : &it->second;
}

std::vector<std::string> Weights::names() const {
  std::vector<std::string> out;
  for (const auto& [k, v] : m_tensors) out.push_back(k);
  return out;
}

Result<std::vector<float>> Weights::to_f32(const TensorView& t) const {
  if (t.dtype == DType::other)
    return fail(ErrorCategory::integrity, "tensor '" + t.name + "' has dtype " + t.dtype_name +
                                              "; inference needs F32/F16/BF16");
  std::vector<float> out(static_cast<size_t>(t.numel()));
  convert(t.dtype, t.data, t.numel(), out.data());
  return out;
}

void Weights::row_f32(const TensorView& t, int64_t row, float* out) const {
  const int64_t cols = t.shape.size() >= 2 ? t.numel() / t.shape[0] : t.numel();
  const uint64_t esize = t.dtype == DType::f32 ? 4 : 2;
  convert(t.dtype, t.data + static_cast<uint64_t>(row * cols) * esize, cols, out);
}

}  // namespace mb::infer
