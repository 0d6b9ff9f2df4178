// Runs an ONNX graph of the BERT family (what torch.onnx.export and optimum write at opsets
// 11-17 for BERT, RoBERTa, XLM-R, DistilBERT, MPNet: embeddings, attention, GELU, LayerNorm,
// pooler and classifier heads) on one sequence, in float32, single-threaded. Supported ops:
// see k_supported_ops / docs/inference.md. A graph using any other op is refused before
// anything runs (category usage: reported "unsupported", never a made-up number).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "runtime/onnx/graph.hpp"
#include "runtime/onnx/tensor.hpp"

namespace mb::onnx {

// The ops the interpreter implements, sorted.
const std::vector<std::string>& supported_ops();

// Usage error naming the first op of `g` that is not supported (with its domain), if any.
Status check_supported(const Graph& g);

// Runs `g` with the named inputs; returns the graph outputs by name. Errors: usage for an
// unsupported op or attribute value, integrity for shapes that do not fit (a broken graph).
Result<std::map<std::string, Tensor>> run_graph(const Graph& g,
                                                std::map<std::string, Tensor> inputs);

}  // namespace mb::onnx
