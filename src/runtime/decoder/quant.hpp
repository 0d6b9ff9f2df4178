// Dequantisation of the ggml tensor types a GGUF LLM uses (F32, F16, Q8_0, Q4_0, Q4_K, Q6_K:
// everything a Q4_K_M file contains; plus Q4_1, Q5_0, Q5_1, which llama.cpp substitutes for
// K-quants in rows that are not a multiple of 256, e.g. Qwen2.5-0.5B's 896), following ggml's
// reference dequantize_row_* (block layouts in quant.cpp), and `QuantMatrix`, a Matrix over the
// memory-mapped tensor data that dequantises one block at a time: a quantised model is never
// expanded to F32 as a whole. A Q8_0 matrix multiplies as llama.cpp's does: the activation is
// quantised to Q8_0 too and the blocks meet in integer dot products.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "runtime/decoder/decoder_weights.hpp"

namespace mb::infer {

// ggml type ids (ggml.h enum ggml_type) of the supported types.
enum class GgmlType : uint32_t {
  f32 = 0,
  f16 = 1,
  q4_0 = 2,
  q4_1 = 3,
  q5_0 = 6,
  q5_1 = 7,
  q8_0 = 8,
  q4_k = 12,
  q6_k = 14
};

struct QuantBlock {
  const char* name = "";  // "Q4_K"
  int64_t elems = 0;      // elements per block (0: unsupported type)
  int64_t bytes = 0;      // bytes per block
};
// Block geometry of a ggml type id; elems == 0 when dequantisation does not support it.
QuantBlock quant_block(uint32_t type);

// out[n] = the n elements stored at src (n is a multiple of quant_block(type).elems).
void dequantize(GgmlType type, const uint8_t* src, float* out, int64_t n);

// llama.cpp's converter (convert_hf_to_gguf.py, arch llama) permutes the rows of Q and K
// within each head from HF's rotate_half order (first half, second half) to interleaved pairs:
// GGUF row h*D + 2*i + j holds HF row h*D + j*D/2 + i. The returned map gives, for each HF
// row, the GGUF row to read (the inverse permutation). Empty when rows % n_heads != 0 or the
// head size is odd.
std::vector<int32_t> llama_rope_unpermute(int64_t rows, int64_t n_heads);

// The activation side of a Q8_0 product (QuantMatrix::matvec does it once per call): n floats
// (a multiple of 32) to int8 blocks of 32 with one float scale each, d[b] = max|x| / 127 and
// q = round(x / d), ties to even; d[b] is NaN for a block holding a NaN or infinity.
void quantize_q8_activation(const float* x, int64_t n, int8_t* q, float* d);

// Tests: run the portable kernels on a CPU that has AVX2, to compare the two.
void use_portable_quant_kernels(bool on);

class QuantMatrix final : public Matrix {
 public:
  // `data` holds rows x cols elements of `type` (rows of cols / block blocks) inside the
  // mapping that `owner` keeps alive; the caller checked the byte range. `row_map`, when not
  // empty, has `rows` entries < rows: row r of this matrix is stored row row_map[r].
  static Result<std::unique_ptr<QuantMatrix>> create(uint32_t type, const uint8_t* data,
                                                     uint64_t nbytes, int64_t rows, int64_t cols,
                                                     std::shared_ptr<const void> owner,
                                                     std::vector<int32_t> row_map = {});

  std::string type_name() const override { return quant_block(static_cast<uint32_t>(m_type)).name; }
  void row_f32(int64_t r, float* out) const override;
  void matvec(const float* x, float* y) const override;

 private:
  QuantMatrix(GgmlType type, const uint8_t* data, int64_t rows, int64_t cols, int64_t row_bytes,
              std::shared_ptr<const void> owner, std::vector<int32_t> row_map);
  const uint8_t* stored_row(int64_t r) const;

  GgmlType m_type;
  const uint8_t* m_data;
  int64_t m_row_bytes;
  std::shared_ptr<const void> m_owner;
  std::vector<int32_t> m_row_map;
};

}  // namespace mb::infer
