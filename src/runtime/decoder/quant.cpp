#include "runtime/decoder/quant.hpp"

// The AVX2 paths exist on x86 only; elsewhere (aarch64) the portable loop nest is the one
// (the compiler vectorises it for the target, e.g. NEON).
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define MB_X86 1
#endif

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>

#include "runtime/kernels/parallel.hpp"
#include "runtime/model/weights.hpp"

namespace mb::infer {

namespace {

constexpr int64_t k_qk = 32;    // Q4_0 / Q8_0 block
constexpr int64_t k_qkk = 256;  // K-quant super-block

std::atomic<bool> g_portable_only{false};  // use_portable_quant_kernels (tests)

// All 65536 half values, built once (256 KiB): f16_to_f32 is branchy and out of line, and
// F16 matrices convert every element on every matvec.
const float* half_table() {
  static const std::vector<float> table = [] {
    std::vector<float> t(65536);
    for (uint32_t h = 0; h < 65536; ++h) t[h] = f16_to_f32(static_cast<uint16_t>(h));
    return t;
  }();
  return table.data();
}

float half_at(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return half_table()[h];
}

// Dot product with 8 independent partial sums, so the compiler can vectorise it without
// -ffast-math (a single accumulator is a serial dependency chain).
float dot(const float* a, const float* b, int64_t n) {
  float acc[8] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int j = 0; j < 8; ++j) acc[j] += a[i + j] * b[i + j];
  }
  for (; i < n; ++i) acc[0] += a[i] * b[i];
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

// Q8_0: f16 d, 32 x int8 q; x = q * d.
void deq_q8_0(const uint8_t* b, float* y) {
  const float d = half_at(b);
  const auto* q = reinterpret_cast<const int8_t*>(b + 2);
  for (int i = 0; i < k_qk; ++i) y[i] = static_cast<float>(q[i]) * d;
}

// Q4_0: f16 d, 16 bytes; byte j holds element j (low nibble) and j+16 (high); x = (q-8) * d.
void deq_q4_0(const uint8_t* b, float* y) {
  const float d = half_at(b);
  const uint8_t* q = b + 2;
  for (int j = 0; j < k_qk / 2; ++j) {
    y[j] = static_cast<float>((q[j] & 0x0F) - 8) * d;
    y[j + k_qk / 2] = static_cast<float>((q[j] >> 4) - 8) * d;
  }
}

// Q4_1: f16 d, f16 m, 16 bytes of nibbles as Q4_0; x = q * d + m.
void deq_q4_1(const uint8_t* b, float* y) {
  const float d = half_at(b), m = half_at(b + 2);
  const uint8_t* q = b + 4;
  for (int j = 0; j < k_qk / 2; ++j) {
    y[j] = static_cast<float>(q[j] & 0x0F) * d + m;
    y[j + k_qk / 2] = static_cast<float>(q[j] >> 4) * d + m;
  }
}

// Q5_0 / Q5_1: as Q4_0 / Q4_1 with a fifth bit per element in a 32-bit word qh (bit j for
// element j); Q5_0: f16 d, qh, 16 bytes, x = (q - 16) * d; Q5_1: f16 d, f16 m, qh, 16 bytes,
// x = q * d + m.
template <bool with_min>
void deq_q5(const uint8_t* b, float* y) {
  const float d = half_at(b), m = with_min ? half_at(b + 2) : 0.0f;
  const uint8_t* p = b + (with_min ? 4 : 2);
  uint32_t qh;
  std::memcpy(&qh, p, 4);
  const uint8_t* q = p + 4;
  const int offset = with_min ? 0 : 16;
  for (int j = 0; j < k_qk / 2; ++j) {
    const int lo = (q[j] & 0x0F) | static_cast<int>(((qh >> j) << 4) & 0x10);
    const int hi = (q[j] >> 4) | static_cast<int>((qh >> (j + 12)) & 0x10);
    if (with_min) {
      y[j] = static_cast<float>(lo) * d + m;
      y[j + k_qk / 2] = static_cast<float>(hi) * d + m;
    } else {
      y[j] = static_cast<float>(lo - offset) * d;
      y[j + k_qk / 2] = static_cast<float>(hi - offset) * d;
    }
  }
}

// The 6-bit scale and min of sub-block j (0..7) of a Q4_K block from its 12 packed bytes:
// sub-blocks 0-3 use the low 6 bits of bytes j and j+4; 4-7 take their low 4 bits from
// byte j+4 and their top 2 bits from the high bits of bytes j-4 and j.
void scale_min_k4(int j, const uint8_t* s, uint8_t& sc, uint8_t& m) {
  if (j < 4) {
    sc = s[j] & 63;
    m = s[j + 4] & 63;
  } else {
    sc = static_cast<uint8_t>((s[j + 4] & 0x0F) | ((s[j - 4] >> 6) << 4));
    m = static_cast<uint8_t>((s[j + 4] >> 4) | ((s[j] >> 6) << 4));
  }
}

// Q4_K super-block (144 bytes): f16 d, f16 dmin, 12 bytes scales/mins, 128 bytes nibbles.
// Each 64 elements share 32 bytes: low nibbles are the first 32, high nibbles the next 32;
// x = d*scale * q - dmin*min.
void deq_q4_k(const uint8_t* b, float* y) {
  const float d = half_at(b);
  const float dmin = half_at(b + 2);
  const uint8_t* scales = b + 4;
  const uint8_t* q = b + 16;
  for (int is = 0; is < 8; is += 2, q += 32, y += 64) {
    uint8_t sc = 0, m = 0;
    scale_min_k4(is, scales, sc, m);
    const float d1 = d * sc, m1 = dmin * m;
    scale_min_k4(is + 1, scales, sc, m);
    const float d2 = d * sc, m2 = dmin * m;
    for (int l = 0; l < 32; ++l) y[l] = d1 * static_cast<float>(q[l] & 0x0F) - m1;
    for (int l = 0; l < 32; ++l) y[l + 32] = d2 * static_cast<float>(q[l] >> 4) - m2;
  }
}

// Q6_K super-block (210 bytes): ql[128] low 4 bits, qh[64] high 2 bits, int8 scales[16]
// (one per 16 elements), f16 d. Each half of 128 elements uses 64 ql, 32 qh, 8 scales;
// x = d * scale * (q - 32).
void deq_q6_k(const uint8_t* b, float* y) {
  const uint8_t* ql = b;
  const uint8_t* qh = b + 128;
  const auto* sc = reinterpret_cast<const int8_t*>(b + 192);
  const float d = half_at(b + 208);
  for (int half = 0; half < 2; ++half, ql += 64, qh += 32, sc += 8, y += 128) {
    for (int l = 0; l < 32; ++l) {
      const int is = l / 16;
      const int q1 = ((ql[l] & 0x0F) | (((qh[l] >> 0) & 3) << 4)) - 32;
      const int q2 = ((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4)) - 32;
      const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
      const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
      y[l] = d * static_cast<float>(sc[is]) * static_cast<float>(q1);
      y[l + 32] = d * static_cast<float>(sc[is + 2]) * static_cast<float>(q2);
      y[l + 64] = d * static_cast<float>(sc[is + 4]) * static_cast<float>(q3);
      y[l + 96] = d * static_cast<float>(sc[is + 6]) * static_cast<float>(q4);
    }
  }
}

// Dequantises n elements (whole blocks). Inline, with direct calls, so that the matvec
// wrappers below (flatten) compile the whole loop nest for their instruction set.
inline void dequantize_inline(GgmlType type, const uint8_t* src, float* out, int64_t n) {
  auto blocks = [&](auto fn, int64_t elems, int64_t bytes) {
    for (int64_t i = 0; i < n / elems; ++i) fn(src + i * bytes, out + i * elems);
  };
  switch (type) {
    case GgmlType::f32: std::memcpy(out, src, static_cast<size_t>(n) * 4); return;
    case GgmlType::f16: {
      const float* table = half_table();
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, src + 2 * i, 2);
        out[i] = table[h];
      }
      return;
    }
    case GgmlType::q8_0: return blocks(deq_q8_0, k_qk, 34);
    case GgmlType::q4_0: return blocks(deq_q4_0, k_qk, 18);
    case GgmlType::q4_1: return blocks(deq_q4_1, k_qk, 20);
    case GgmlType::q5_0: return blocks(deq_q5<false>, k_qk, 22);
    case GgmlType::q5_1: return blocks(deq_q5<true>, k_qk, 24);
    case GgmlType::q4_k: return blocks(deq_q4_k, k_qkk, 144);
    case GgmlType::q6_k: return blocks(deq_q6_k, k_qkk, 210);
  }
}

struct MatvecArgs {
  GgmlType type;
  const uint8_t* data;
  int64_t row_bytes, rows, cols, block_elems, block_bytes;
  const int32_t* row_map;  // null: identity
  const float* x;
  const int8_t* xq;  // Q8_0: x quantised (quantize_activation)
  const float* xd;
  float* y;
};

// The activation of a Q8_0 product, quantised once per matvec as llama.cpp does before its
// integer dot products (ggml's quantize_row_q8_0): blocks of 32, d = max|x| / 127,
// q = round(x * 127 / max|x|), ties to even. Unlike ggml, d stays float32 (ggml rounds it to
// f16 because it stores the block; nothing stores this one). A block holding a NaN or an
// infinity gets d = NaN, so the product is not finite, as the float product would be, and the
// decoder's finite-output check still sees a broken activation.
void quantize_activation(const float* x, int64_t n, int8_t* q, float* d) {
  for (int64_t b = 0; b < n / k_qk; ++b) {
    const float* xb = x + b * k_qk;
    float amax = 0.0f;
    bool finite = true;
    for (int i = 0; i < k_qk; ++i) {
      finite = finite && std::isfinite(xb[i]);
      amax = std::max(amax, std::fabs(xb[i]));
    }
    int8_t* qb = q + b * k_qk;
    if (!finite) {
      d[b] = std::numeric_limits<float>::quiet_NaN();
      std::fill(qb, qb + k_qk, int8_t{0});
      continue;
    }
    const float id = amax > 0.0f ? 127.0f / amax : 0.0f;
    d[b] = amax / 127.0f;
    for (int i = 0; i < k_qk; ++i) qb[i] = static_cast<int8_t>(std::nearbyint(xb[i] * id));
  }
}

// d_w * d_x of block b; `half` is half_table(), fetched once per row range: a call per block
// checks the table's initialisation guard, which made GCC keep the accumulators in memory.
inline float block_scale(const uint8_t* blk, const float* half, const float* xd, int64_t b) {
  uint16_t h;
  std::memcpy(&h, blk, 2);
  return half[h] * xd[b];
}

// One Q8_0 row times the quantised activation: per block an exact int32 sum of int8 x int8
// products, scaled once by d_w * d_x (ggml's vec_dot_q8_0_q8_0).
inline float dot_q8_0_q8(const uint8_t* row, const int8_t* xq, const float* xd, int64_t blocks,
                         const float* half) {
  float acc = 0.0f;
  for (int64_t b = 0; b < blocks; ++b) {
    const uint8_t* blk = row + b * 34;
    const auto* q = reinterpret_cast<const int8_t*>(blk + 2);
    const int8_t* xb = xq + b * k_qk;
    int32_t s = 0;
    for (int i = 0; i < k_qk; ++i) s += static_cast<int32_t>(q[i]) * xb[i];
    acc += static_cast<float>(s) * block_scale(blk, half, xd, b);
  }
  return acc;
}

#ifdef MB_X86
// The same with AVX2's u8 x s8 multiply-add, as ggml: maddubs wants one unsigned operand, so
// the weights give their absolute value and their sign to the activation. A weight of -128
// is 128 as unsigned; the activation is within [-127, 127], so negating it never overflows,
// and a pair sums to at most 2 * 128 * 127 = 32512 (no int16 saturation).
__attribute__((target("avx2,fma"))) inline __m256 block_dot_avx2(const uint8_t* blk,
                                                                 const int8_t* xb, float scale,
                                                                 __m256 acc) {
  const __m256i w = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 2));
  const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb));
  const __m256i pairs = _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w));
  const __m256 s = _mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, _mm256_set1_epi16(1)));
  return _mm256_fmadd_ps(_mm256_set1_ps(scale), s, acc);
}

// Two accumulators: one would chain every block's FMA on the previous one.
__attribute__((target("avx2,fma"))) inline float dot_q8_0_q8_avx2(const uint8_t* row,
                                                                  const int8_t* xq, const float* xd,
                                                                  int64_t blocks,
                                                                  const float* half) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  int64_t b = 0;
  for (; b + 2 <= blocks; b += 2) {
    const uint8_t* blk = row + b * 34;
    acc0 = block_dot_avx2(blk, xq + b * k_qk, block_scale(blk, half, xd, b), acc0);
    acc1 =
        block_dot_avx2(blk + 34, xq + (b + 1) * k_qk, block_scale(blk + 34, half, xd, b + 1), acc1);
  }
  if (b < blocks) {
    acc0 =
        block_dot_avx2(row + b * 34, xq + b * k_qk, block_scale(row + b * 34, half, xd, b), acc0);
  }
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, _mm256_add_ps(acc0, acc1));
  return ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) +
         ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]));
}
#endif

// y = W x, 256 elements at a time through a stack buffer (a multiple of every block size;
// a row of a 32-element block type is a multiple of 32): no scratch memory beyond 1 KiB.
// Q8_0, the type most matrices of a Q8_0 file have, takes the integer dot above on the
// activation matvec() quantised.
template <bool Avx2>
inline void matvec_body(const MatvecArgs& a) {
  float buf[k_qkk];
  const float* half = half_table();
  for (int64_t r = 0; r < a.rows; ++r) {
    const uint8_t* src = a.data + (a.row_map ? a.row_map[r] : r) * a.row_bytes;
    if (a.type == GgmlType::q8_0) {
#ifdef MB_X86
      if constexpr (Avx2) {
        a.y[r] = dot_q8_0_q8_avx2(src, a.xq, a.xd, a.cols / k_qk, half);
        continue;
      }
#endif
      a.y[r] = dot_q8_0_q8(src, a.xq, a.xd, a.cols / k_qk, half);
      continue;
    }
    float acc = 0.0f;
    for (int64_t off = 0; off < a.cols; off += k_qkk) {
      const int64_t len = std::min<int64_t>(k_qkk, a.cols - off);
      dequantize_inline(a.type, src + off / a.block_elems * a.block_bytes, buf, len);
      acc += dot(buf, a.x + off, len);
    }
    a.y[r] = acc;
  }
}

// The same loop nest compiled twice; AVX2+FMA is chosen at run time as in kernels.cpp.
#ifdef MB_X86
__attribute__((target("avx2,fma"), flatten)) void matvec_avx2(const MatvecArgs& a) {
  matvec_body<true>(a);
}
#endif
__attribute__((flatten)) void matvec_portable(const MatvecArgs& a) { matvec_body<false>(a); }

}  // namespace

QuantBlock quant_block(uint32_t type) {
  switch (static_cast<GgmlType>(type)) {
    case GgmlType::f32: return {"F32", 1, 4};
    case GgmlType::f16: return {"F16", 1, 2};
    case GgmlType::q8_0: return {"Q8_0", k_qk, 34};
    case GgmlType::q4_0: return {"Q4_0", k_qk, 18};
    case GgmlType::q4_1: return {"Q4_1", k_qk, 20};
    case GgmlType::q5_0: return {"Q5_0", k_qk, 22};
    case GgmlType::q5_1: return {"Q5_1", k_qk, 24};
    case GgmlType::q4_k: return {"Q4_K", k_qkk, 144};
    case GgmlType::q6_k: return {"Q6_K", k_qkk, 210};
  }
  return {};
}

void dequantize(GgmlType type, const uint8_t* src, float* out, int64_t n) {
  dequantize_inline(type, src, out, n);
}

std::vector<int32_t> llama_rope_unpermute(int64_t rows, int64_t n_heads) {
  if (n_heads <= 0 || rows % n_heads != 0 || (rows / n_heads) % 2 != 0) return {};
  const int64_t dim = rows / n_heads, half = dim / 2;
  std::vector<int32_t> map(static_cast<size_t>(rows));
  for (int64_t h = 0; h < n_heads; ++h) {
    for (int64_t j = 0; j < 2; ++j) {
      for (int64_t i = 0; i < half; ++i) {
        map[static_cast<size_t>(h * dim + j * half + i)] =
            static_cast<int32_t>(h * dim + 2 * i + j);
      }
    }
  }
  return map;
}

// ---- QuantMatrix ------------------------------------------------------------------------

QuantMatrix::QuantMatrix(GgmlType type, const uint8_t* data, int64_t rows, int64_t cols,
                         int64_t row_bytes, std::shared_ptr<const void> owner,
                         std::vector<int32_t> row_map)
    : Matrix(rows, cols),
      m_type(type),
      m_data(data),
      m_row_bytes(row_bytes),
      m_owner(std::move(owner)),
      m_row_map(std::move(row_map)) {}

Result<std::unique_ptr<QuantMatrix>> QuantMatrix::create(uint32_t type, const uint8_t* data,
                                                         uint64_t nbytes, int64_t rows,
                                                         int64_t cols,
                                                         std::shared_ptr<const void> owner,
                                                         std::vector<int32_t> row_map) {
  const QuantBlock qb = quant_block(type);
  auto bad = [](const std::string& what) {
    return fail(ErrorCategory::integrity, "gguf: " + what,
                "the model file is corrupt; fetch it again");
  };
  if (qb.elems == 0) return bad("unsupported tensor type " + std::to_string(type));
  if (rows <= 0 || cols <= 0 || cols % qb.elems != 0) {
    return bad("matrix [" + std::to_string(rows) + ", " + std::to_string(cols) +
               "] does not fit the " + qb.name + " block of " + std::to_string(qb.elems));
  }
  const uint64_t row_bytes =
      static_cast<uint64_t>(cols / qb.elems) * static_cast<uint64_t>(qb.bytes);
  uint64_t total = 0;
  if (__builtin_mul_overflow(row_bytes, static_cast<uint64_t>(rows), &total) || total != nbytes) {
    return bad("matrix data is " + std::to_string(nbytes) + " bytes, not " + std::to_string(rows) +
               " rows of " + std::to_string(row_bytes));
  }
  if (!row_map.empty()) {
    if (static_cast<int64_t>(row_map.size()) != rows) return bad("row map does not match the rows");
    for (int32_t r : row_map) {
      if (r < 0 || r >= rows) return bad("row map entry out of range");
    }
  }
  return std::unique_ptr<QuantMatrix>(new QuantMatrix(static_cast<GgmlType>(type), data, rows, cols,
                                                      static_cast<int64_t>(row_bytes),
                                                      std::move(owner), std::move(row_map)));
}

const uint8_t* QuantMatrix::stored_row(int64_t r) const {
  const int64_t s = m_row_map.empty() ? r : m_row_map[static_cast<size_t>(r)];
  return m_data + s * m_row_bytes;
}

void QuantMatrix::row_f32(int64_t r, float* out) const {
  dequantize(m_type, stored_row(r), out, cols());
}

void QuantMatrix::matvec(const float* x, float* y) const {
#ifdef MB_X86
  static const bool cpu_avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  const bool avx2 = cpu_avx2 && !g_portable_only.load(std::memory_order_relaxed);
#else
  constexpr bool avx2 = false;
#endif
  const QuantBlock qb = quant_block(static_cast<uint32_t>(m_type));
  // Q8_0: the activation is quantised once here, before the rows are split, and read by
  // every thread. The buffers grow to the widest matrix and stay (no allocation per token).
  thread_local std::vector<int8_t> xq;
  thread_local std::vector<float> xd;
  if (m_type == GgmlType::q8_0) {
    xq.resize(static_cast<size_t>(cols()));
    xd.resize(static_cast<size_t>(cols() / k_qk));
    quantize_activation(x, cols(), xq.data(), xd.data());
  }
  // Pointers, not the names: inside the lambda a thread_local names the worker's own copy.
  const int8_t* x_q = xq.data();
  const float* x_d = xd.data();
  // Rows split across the decoder's threads (parallel.hpp); each chunk is the same loop on a
  // row range, so the result does not depend on the thread count.
  parallel_rows(rows(), cols(), [&](int64_t begin, int64_t end) {
    const MatvecArgs a{m_type,      m_row_map.empty() ? m_data + begin * m_row_bytes : m_data,
                       m_row_bytes, end - begin,
                       cols(),      qb.elems,
                       qb.bytes,    m_row_map.empty() ? nullptr : m_row_map.data() + begin,
                       x,           x_q,
                       x_d,         y + begin};
#ifdef MB_X86
    if (avx2) {
      matvec_avx2(a);
      return;
    }
#endif
    (void)avx2;
    matvec_portable(a);
  });
}

void quantize_q8_activation(const float* x, int64_t n, int8_t* q, float* d) {
  quantize_activation(x, n, q, d);
}

void use_portable_quant_kernels(bool on) { g_portable_only.store(on); }

}  // namespace mb::infer
