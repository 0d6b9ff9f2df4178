// An ONNX model as the interpreter runs it: the main graph's nodes (in file order, which the
// ONNX spec requires to be topological), its initializers decoded to tensors, its inputs
// and outputs. Read with a bounded protobuf walk like formats/onnx.cpp; external data is
// fetched through a callback so the loader never opens files itself.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "runtime/formats/byte_reader.hpp"
#include "runtime/onnx/tensor.hpp"

namespace mb::onnx {

struct Attribute {
  std::string name;
  enum class Kind : uint8_t { none, f, i, s, t, floats, ints, other } kind = Kind::none;
  float f = 0;
  int64_t i = 0;
  std::string s;
  Tensor t;
  std::vector<float> floats;
  std::vector<int64_t> ints;
};

struct Node {
  std::string op_type, domain, name;
  std::vector<std::string> inputs, outputs;  // "" for an omitted optional input
  std::vector<Attribute> attributes;
  const Attribute* attr(const char* key) const;
};

struct Graph {
  int64_t opset = 0;  // of the default ("" / "ai.onnx") domain
  std::vector<Node> nodes;
  std::map<std::string, Tensor> initializers;
  std::vector<std::string> inputs;  // graph inputs that are not initializers
  std::vector<std::string> outputs;
};

// Bytes [offset, offset + length) of an external data file (relative to the model's
// folder; length -1: to the end of the file), or an error.
using ExternalReader = std::function<Result<std::string>(const std::string& location,
                                                         uint64_t offset, int64_t length)>;

// Fails (integrity) on malformed wire data or a tensor whose data does not match its dims;
// (usage) on a tensor type the interpreter does not hold (strings, complex).
Result<Graph> load_graph(runtime::ByteSpan file, const ExternalReader& external);

}  // namespace mb::onnx
