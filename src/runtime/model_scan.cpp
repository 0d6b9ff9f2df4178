#include "runtime/model_scan.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cstring>

#include "core/file.hpp"
#include "core/paths.hpp"
#include "runtime/formats/gguf.hpp"
#include "runtime/formats/json_fields.hpp"
#include "runtime/formats/onnx.hpp"
#include "runtime/formats/safetensors.hpp"
#include "runtime/formats/zip.hpp"
#include "runtime/model/weights.hpp"

namespace mb::runtime {

namespace {

constexpr uint64_t k_max_json = 512ull << 20;

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

std::string base_name(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string parent_dir(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? "" : path.substr(0, slash);
}

bool is_root_level(const std::string& path) { return path.find('/') == std::string::npos; }

enum class Kind { safetensors, pytorch, gguf, onnx, json_file, none };

Kind kind_of(const std::string& path, ByteSpan head) {
  if (ends_with(path, ".safetensors")) return Kind::safetensors;
  if (ends_with(path, ".gguf")) return Kind::gguf;
  if (ends_with(path, ".onnx")) return Kind::onnx;
  if (ends_with(path, ".json")) return Kind::json_file;
  if (ends_with(path, ".pt") || ends_with(path, ".pth")) return Kind::pytorch;
  if (ends_with(path, ".bin")) {
    // Only PyTorch checkpoints are read as such; other .bin files (ONNX external data,
    // old GGML) are covered by the integrity check alone.
    bool zip = head.size >= 4 && std::memcmp(head.data, "PK\x03\x04", 4) == 0;
    if (zip || base_name(path).rfind("pytorch_model", 0) == 0) return Kind::pytorch;
  }
  return Kind::none;
}

Status scan_json(ByteSpan bytes, const std::string& rel, ModelScan& scan) {
  if (bytes.size > k_max_json) {
    return fail(ErrorCategory::integrity,
                "json: larger than " + std::to_string(k_max_json) + " bytes");
  }
  // nlohmann parses iteratively, but what later copies, compares or walks a document
  // recurses per level: a 50,000-level tokenizer.json would overflow the stack.
  const std::string_view text(reinterpret_cast<const char*>(bytes.data), bytes.size);
  if (infer::json_depth(text) > infer::k_max_json_depth) {
    return fail(ErrorCategory::integrity,
                "json: nested deeper than " + std::to_string(infer::k_max_json_depth) + " levels",
                "no model file nests this deep; the file is malformed or hostile");
  }
  try {
    scan.json[rel] = nlohmann::json::parse(bytes.data, bytes.data + bytes.size);
  } catch (const nlohmann::json::exception& e) {
    return fail(ErrorCategory::integrity, "json: not valid JSON: " + std::string(e.what()),
                "the file is corrupt; fetch it again");
  }
  return {};
}

Result<WeightFile> scan_weights(Kind kind, const infer::ModelFiles& files, const std::string& rel,
                                ByteSpan bytes) {
  WeightFile w;
  w.path = rel;
  if (kind == Kind::safetensors) {
    MB_ASSIGN(SafetensorsInfo st, parse_safetensors(bytes));
    w.format = "safetensors";
    w.tensors = std::move(st.tensors);
  } else if (kind == Kind::gguf) {
    MB_ASSIGN(GgufInfo g, parse_gguf(bytes));
    w.format = "gguf";
    w.tensors = std::move(g.tensors);
    w.gguf_metadata = std::move(g.metadata);
  } else if (kind == Kind::onnx) {
    const std::string base = parent_dir(rel);
    ExternalSize ext = [&](const std::string& p) -> Result<uint64_t> {
      const std::string ext_rel = base.empty() ? p : base + "/" + p;
      if (!files.exists(ext_rel)) {
        return fail(ErrorCategory::integrity, "onnx: external data file '" + p + "' is missing",
                    "add it to the manifest's include patterns");
      }
      return files.size(ext_rel);
    };
    MB_ASSIGN(OnnxInfo o, parse_onnx(bytes, ext));
    w.format = "onnx";
    w.tensors = std::move(o.initializers);
  } else {
    if (bytes.size < 4 || std::memcmp(bytes.data, "PK\x03\x04", 4) != 0) {
      return fail(ErrorCategory::integrity,
                  "pytorch: not a zip archive (a legacy pickle checkpoint cannot be checked "
                  "without unpickling)",
                  "use the model's safetensors weights instead");
    }
    MB_ASSIGN(ZipInfo z, parse_zip(bytes));
    MB_ASSIGN(w.tensor_bytes, pytorch_storage_bytes(z));
    w.format = "pytorch";
    return w;
  }
  for (const auto& t : w.tensors) w.tensor_bytes += t.nbytes;
  return w;
}

}  // namespace

std::vector<const WeightFile*> ModelScan::primary() const {
  std::vector<const WeightFile*> out;
  for (const char* format : {"safetensors", "pytorch"}) {
    for (const auto& w : weights) {
      if (w.format == format && is_root_level(w.path)) out.push_back(&w);
    }
    if (!out.empty()) return out;
  }
  for (const char* format : {"gguf", "onnx"}) {
    const WeightFile* best = nullptr;
    for (const auto& w : weights) {
      if (w.format == format && (!best || w.tensor_bytes > best->tensor_bytes)) best = &w;
    }
    if (best) return {best};
  }
  return out;
}

const nlohmann::json* ModelScan::find_json(const std::string& path) const {
  auto it = json.find(path);
  return it == json.end() ? nullptr : &it->second;
}

Result<ModelScan> scan_model(const std::string& dir, const LockedModel& model) {
  return scan_model(infer::ModelFiles(dir), model);
}

Result<ModelScan> scan_model(const infer::ModelFiles& files, const LockedModel& model) {
  ModelScan scan;
  for (const auto& f : model.files) {
    auto in_file = [&](Error e) {
      e.message = f.path + ": " + e.message;
      return e;
    };
    auto mapped = files.map(f.path);
    if (!mapped.ok()) return mapped.take_error();  // names the file already
    ByteSpan bytes{mapped->data(), mapped->size()};
    Kind kind = kind_of(f.path, bytes);
    if (kind == Kind::none) {
      scan.unchecked.push_back(f.path);
      continue;
    }
    scan.files_checked++;
    if (kind == Kind::json_file) {
      Status s = scan_json(bytes, f.path, scan);
      if (!s.ok()) return in_file(s.take_error());
      continue;
    }
    auto w = scan_weights(kind, files, f.path, bytes);
    if (!w.ok()) return in_file(w.take_error());
    scan.weights.push_back(std::move(*w));
  }
  return scan;
}

namespace {

// Where the floating-point values of one storage unit (an element, or a quantised block)
// lie: a NaN or Inf in a block's F16 scale makes the whole block NaN or Inf.
enum class Float : uint8_t { f32, f16, bf16 };
struct FloatField {
  uint32_t offset;
  Float kind;
};
struct UnitLayout {
  uint32_t bytes = 0;  // 0: a type with no float values we know how to find
  std::vector<FloatField> fields;
};

// Block layouts of ggml's quantised types (ggml-common.h): the F16 d/dmin/m scales (Q8_K's
// d is an F32). Other types (IQ1_M, MXFP4, integers) are not scanned.
UnitLayout unit_layout(const std::string& dtype) {
  using F = Float;
  if (dtype == "F32") return {4, {{0, F::f32}}};
  if (dtype == "F16") return {2, {{0, F::f16}}};
  if (dtype == "BF16") return {2, {{0, F::bf16}}};
  if (dtype == "Q4_0" || dtype == "IQ4_NL") return {18, {{0, F::f16}}};
  if (dtype == "Q4_1") return {20, {{0, F::f16}, {2, F::f16}}};
  if (dtype == "Q5_0") return {22, {{0, F::f16}}};
  if (dtype == "Q5_1") return {24, {{0, F::f16}, {2, F::f16}}};
  if (dtype == "Q8_0") return {34, {{0, F::f16}}};
  if (dtype == "Q8_1") return {36, {{0, F::f16}, {2, F::f16}}};
  if (dtype == "Q2_K") return {84, {{80, F::f16}, {82, F::f16}}};
  if (dtype == "Q3_K") return {110, {{108, F::f16}}};
  if (dtype == "Q4_K") return {144, {{0, F::f16}, {2, F::f16}}};
  if (dtype == "Q5_K") return {176, {{0, F::f16}, {2, F::f16}}};
  if (dtype == "Q6_K") return {210, {{208, F::f16}}};
  if (dtype == "Q8_K") return {292, {{0, F::f32}}};
  if (dtype == "IQ4_XS") return {136, {{0, F::f16}}};
  return {};
}

bool non_finite(const uint8_t* p, Float kind) {
  if (kind == Float::f32) {
    uint32_t v;
    std::memcpy(&v, p, 4);
    return (v & 0x7f800000u) == 0x7f800000u;
  }
  uint16_t v;
  std::memcpy(&v, p, 2);
  const uint16_t mask = kind == Float::f16 ? 0x7c00 : 0x7f80;
  return (v & mask) == mask;
}

// Index of the first unit in [begin, end) holding a non-finite value, or -1.
int64_t first_non_finite(const uint8_t* p, const UnitLayout& u, uint64_t begin, uint64_t end) {
  for (uint64_t i = begin; i < end; ++i)
    for (const auto& f : u.fields)
      if (non_finite(p + i * u.bytes + f.offset, f.kind)) return static_cast<int64_t>(i);
  return -1;
}

std::string where(const UnitLayout& u, int64_t unit) {
  return (u.fields.size() == 1 && u.bytes <= 4 ? "element " : "the scale of block ") +
         std::to_string(unit);
}

}  // namespace

Status check_finite(const std::string& dir, const ModelScan& scan, FiniteScan mode) {
  return check_finite(infer::ModelFiles(dir), scan, mode);
}

Status check_finite(const infer::ModelFiles& files, const ModelScan& scan, FiniteScan mode) {
  constexpr uint64_t k_sample = 256;  // units at each end of a tensor in the sampled scan
  for (const WeightFile* w : scan.primary()) {
    if (w->format != "safetensors" && w->format != "gguf") continue;
    MB_ASSIGN(infer::MappedFile file, files.map(w->path));
    for (const auto& t : w->tensors) {
      const UnitLayout u = unit_layout(t.dtype);
      if (u.bytes == 0) continue;
      const uint64_t n = t.nbytes / u.bytes;
      const uint8_t* p = file.data() + t.offset;  // inside the file: checked by the reader
      int64_t bad = -1;
      if (mode == FiniteScan::full || n <= 2 * k_sample) {
        bad = first_non_finite(p, u, 0, n);
      } else {
        bad = first_non_finite(p, u, 0, k_sample);
        if (bad < 0) bad = first_non_finite(p, u, n - k_sample, n);
      }
      if (bad >= 0) {
        return fail(ErrorCategory::integrity,
                    w->path + ": tensor '" + t.name + "' holds NaN or Inf at " + where(u, bad),
                    "the weights are corrupt or were saved from a diverged model");
      }
    }
  }
  return {};
}

}  // namespace mb::runtime
