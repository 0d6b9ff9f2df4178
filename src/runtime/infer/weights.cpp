#include "runtime/infer/weights.hpp"

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
#include "runtime/infer/model_files.hpp"

namespace mb::infer {

namespace {
constexpr uint64_t k_max_header = 100ull << 20;  // safetensors caps its header at 100 MB
}

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
  if (s == "I8" || s == "U8" || s == "BOOL" || s == "F8_E4M3" || s == "F8_E5M2")
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
  const uint64_t size = file.size();
  if (size < 8) return bad(label, "shorter than the 8-byte safetensors header length");
  uint64_t hlen = 0;
  for (int i = 7; i >= 0; --i) hlen = (hlen << 8) | file.data()[i];
  if (hlen > k_max_header || hlen > size - 8)
    return bad(label, "header length " + std::to_string(hlen) + " runs past the end of the file");
  nlohmann::json header = nlohmann::json::parse(file.data() + 8, file.data() + 8 + hlen, nullptr,
                                                /*allow_exceptions=*/false);
  if (!header.is_object()) return bad(label, "header is not a JSON object");
  const uint8_t* base = file.data() + 8 + hlen;
  const uint64_t data_size = size - 8 - hlen;
  for (auto& [name, info] : header.items()) {
    if (name == "__metadata__") continue;
    if (!info.is_object() || !info.contains("dtype") || !info["dtype"].is_string() ||
        !info.contains("shape") || !info["shape"].is_array() || !info.contains("data_offsets") ||
        !info["data_offsets"].is_array() || info["data_offsets"].size() != 2)
      return bad(label, "tensor '" + name + "' has a malformed entry");
    auto di = dtype_info(info["dtype"].get<std::string>());
    if (!di) return bad(label, "tensor '" + name + "' has unknown dtype");
    TensorView t;
    t.name = name;
    t.dtype = di->dtype;
    t.dtype_name = info["dtype"].get<std::string>();
    uint64_t count = 1;
    for (auto& d : info["shape"]) {
      if (!d.is_number_unsigned()) return bad(label, "tensor '" + name + "' has a bad shape");
      uint64_t v = d.get<uint64_t>();
      if (v != 0 && count > (uint64_t{1} << 62) / v)
        return bad(label, "tensor '" + name + "' shape overflows");
      count *= v;
      t.shape.push_back(static_cast<int64_t>(v));
    }
    auto& off = info["data_offsets"];
    if (!off[0].is_number_unsigned() || !off[1].is_number_unsigned())
      return bad(label, "tensor '" + name + "' has bad data_offsets");
    uint64_t b = off[0].get<uint64_t>(), e = off[1].get<uint64_t>();
    if (b > e || e > data_size)
      return bad(label, "tensor '" + name + "' byte range lies outside the file");
    if (count > (e - b) / di->size || count * di->size != e - b)
      return bad(label, "tensor '" + name + "' shape x dtype does not match its byte range");
    t.data = base + b;
    t.nbytes = e - b;
    m_tensors[name] = std::move(t);
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
