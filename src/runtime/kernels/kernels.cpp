#include "runtime/kernels/kernels.hpp"

#include <sys/mman.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define MB_X86 1
#endif

namespace mb::infer {

Arena::Arena(size_t floats) {
  constexpr size_t k_huge = 2u << 20;
  const size_t bytes = (floats * sizeof(float) + k_huge - 1) / k_huge * k_huge;
  // Over-allocate by one huge page to align the start, so every 2 MiB extent can be huge.
  void* p =
      ::mmap(nullptr, bytes + k_huge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return;  // take() then returns nullptr and callers use the heap
  auto addr = reinterpret_cast<uintptr_t>(p);
  const uintptr_t aligned = (addr + k_huge - 1) / k_huge * k_huge;
  if (aligned > addr) ::munmap(p, aligned - addr);
  const size_t tail = (addr + bytes + k_huge) - (aligned + bytes);
  if (tail > 0) ::munmap(reinterpret_cast<void*>(aligned + bytes), tail);
#ifdef MADV_HUGEPAGE
  ::madvise(reinterpret_cast<void*>(aligned), bytes, MADV_HUGEPAGE);
#endif
  m_base = reinterpret_cast<float*>(aligned);
  m_bytes = bytes;
}
Arena::~Arena() {
  if (m_base != nullptr) ::munmap(m_base, m_bytes);
}
Arena::Arena(Arena&& o) noexcept : m_base(o.m_base), m_bytes(o.m_bytes), m_used(o.m_used) {
  o.m_base = nullptr;
  o.m_bytes = 0;
  o.m_used = 0;
}
Arena& Arena::operator=(Arena&& o) noexcept {
  if (this != &o) {
    if (m_base != nullptr) ::munmap(m_base, m_bytes);
    m_base = o.m_base;
    m_bytes = o.m_bytes;
    m_used = o.m_used;
    o.m_base = nullptr;
    o.m_bytes = 0;
    o.m_used = 0;
  }
  return *this;
}
float* Arena::take(size_t floats) {
  // Keep every matrix 64-byte aligned (cache lines; aligned vector loads).
  const size_t rounded = (floats + 15) / 16 * 16;
  if (m_base == nullptr || (m_used + rounded) * sizeof(float) > m_bytes) return nullptr;
  float* p = m_base + m_used;
  m_used += rounded;
  return p;
}

PackedLinear pack_linear(const float* w, int n, int k, const float* bias) {
  PackedLinear p = pack_linear_rows(n, k, [&](int c, float* out) {
    std::copy(w + static_cast<size_t>(c) * k, w + static_cast<size_t>(c + 1) * k, out);
  });
  if (bias != nullptr) std::copy(bias, bias + n, p.bias.begin());
  return p;
}

namespace {

// Writes a rows x 16 tile (only `cols` of them valid) plus bias into y.
inline void store_tile(const float* tile, int mr, int cols, const float* bias, float* y, int ldy) {
  for (int r = 0; r < mr; ++r)
    for (int c = 0; c < cols; ++c)
      y[static_cast<size_t>(r) * ldy + c] = tile[r * k_panel + c] + bias[c];
}

template <int MR>
void tile_portable(const float* x, int ldx, int k, const float* panel, float* tile) {
  float acc[MR][k_panel] = {};
  for (int i = 0; i < k; ++i) {
    const float* b = panel + static_cast<size_t>(i) * k_panel;
    for (int r = 0; r < MR; ++r) {
      const float a = x[static_cast<size_t>(r) * ldx + i];
      for (int c = 0; c < k_panel; ++c) acc[r][c] += a * b[c];
    }
  }
  std::memcpy(tile, acc, sizeof(acc));
}

#ifdef MB_X86
template <int MR>
__attribute__((target("avx2,fma"))) void tile_avx2(const float* x, int ldx, int k,
                                                   const float* panel, float* tile) {
  __m256 acc0[MR], acc1[MR];
  for (int r = 0; r < MR; ++r) acc0[r] = acc1[r] = _mm256_setzero_ps();
  for (int i = 0; i < k; ++i) {
    const __m256 b0 = _mm256_loadu_ps(panel + static_cast<size_t>(i) * k_panel);
    const __m256 b1 = _mm256_loadu_ps(panel + static_cast<size_t>(i) * k_panel + 8);
    for (int r = 0; r < MR; ++r) {
      const __m256 a = _mm256_broadcast_ss(x + static_cast<size_t>(r) * ldx + i);
      acc0[r] = _mm256_fmadd_ps(a, b0, acc0[r]);
      acc1[r] = _mm256_fmadd_ps(a, b1, acc1[r]);
    }
  }
  for (int r = 0; r < MR; ++r) {
    _mm256_storeu_ps(tile + r * k_panel, acc0[r]);
    _mm256_storeu_ps(tile + r * k_panel + 8, acc1[r]);
  }
}
#endif

using TileFn = void (*)(const float*, int, int, const float*, float*);

struct Kernel {
  TileFn tiles[7];
  const char* name;
};

Kernel make_portable() {
  return {{nullptr, tile_portable<1>, tile_portable<2>, tile_portable<3>, tile_portable<4>,
           tile_portable<5>, tile_portable<6>},
          "portable"};
}

Kernel select_kernel() {
#ifdef MB_X86
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    return {{nullptr, tile_avx2<1>, tile_avx2<2>, tile_avx2<3>, tile_avx2<4>, tile_avx2<5>,
             tile_avx2<6>},
            "avx2+fma"};
#endif
  return make_portable();
}

const Kernel& kernel() {
  static const Kernel k = select_kernel();
  return k;
}

constexpr int k_mr = 6;

}  // namespace

const char* kernel_name() { return kernel().name; }

void linear(const float* x, int rows, const PackedLinear& l, float* y) {
  const Kernel& kern = kernel();
  const int panels = (l.n + k_panel - 1) / k_panel;
  float tile[k_mr * k_panel];
  // Panel-outer order: one panel (k x 16 floats) stays in L1/L2 while all rows pass over it.
  for (int p = 0; p < panels; ++p) {
    const float* panel = l.panels + static_cast<size_t>(p) * l.k * k_panel;
    const int c0 = p * k_panel;
    const int cols = std::min(k_panel, l.n - c0);
    for (int r0 = 0; r0 < rows; r0 += k_mr) {
      const int mr = std::min(k_mr, rows - r0);
      kern.tiles[mr](x + static_cast<size_t>(r0) * l.k, l.k, l.k, panel, tile);
      store_tile(tile, mr, cols, l.bias.data() + c0, y + static_cast<size_t>(r0) * l.n + c0, l.n);
    }
  }
}

void layer_norm(float* x, int rows, int dim, const float* gamma, const float* beta, float eps) {
  for (int r = 0; r < rows; ++r) {
    float* v = x + static_cast<size_t>(r) * dim;
    double mean = 0;
    for (int i = 0; i < dim; ++i) mean += v[i];
    mean /= dim;
    double var = 0;
    for (int i = 0; i < dim; ++i) var += (v[i] - mean) * (v[i] - mean);
    var /= dim;
    const float inv = static_cast<float>(1.0 / std::sqrt(var + eps));
    const float m = static_cast<float>(mean);
    for (int i = 0; i < dim; ++i) v[i] = (v[i] - m) * inv * gamma[i] + beta[i];
  }
}

float exp_approx(float x) {
  // Cephes expf: x = n ln2 + r, |r| <= ln2/2, exp(r) by a degree-6 polynomial, 2^n via bits.
  x = std::min(88.3762626647949f, std::max(-87.3365447504f, x));
  const float magic = 12582912.0f;  // 1.5 * 2^23: adding it rounds to nearest integer
  float n = (x * 1.44269504088896341f + magic) - magic;
  float r = x - n * 0.693359375f;
  r = r + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float e = p * r * r + r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, 4);
  return e * scale;
}

float erf_approx(float x) {
  // Abramowitz & Stegun 7.1.26, |error| <= 1.5e-7.
  const float ax = std::fabs(x);
  const float t = 1.0f / (1.0f + 0.3275911f * ax);
  float p = 1.061405429f;
  p = p * t - 1.453152027f;
  p = p * t + 1.421413741f;
  p = p * t - 0.284496736f;
  p = p * t + 0.254829592f;
  const float y = 1.0f - p * t * exp_approx(-ax * ax);
  return x < 0 ? -y : y;
}

void gelu_erf(float* x, size_t n) {
  for (size_t i = 0; i < n; ++i)
    x[i] = 0.5f * x[i] * (1.0f + erf_approx(x[i] * 0.70710678118654752f));
}

void gelu_tanh(float* x, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    const float v = x[i];
    const float u = 0.7978845608028654f * (v + 0.044715f * v * v * v);
    // tanh(u) = 1 - 2 / (exp(2u) + 1)
    const float th = 1.0f - 2.0f / (exp_approx(2.0f * u) + 1.0f);
    x[i] = 0.5f * v * (1.0f + th);
  }
}

void relu(float* x, size_t n) {
  for (size_t i = 0; i < n; ++i) x[i] = std::max(0.0f, x[i]);
}

void softmax(float* x, int n) {
  float m = x[0];
  for (int i = 1; i < n; ++i) m = std::max(m, x[i]);
  float sum = 0;
  for (int i = 0; i < n; ++i) {
    x[i] = exp_approx(x[i] - m);
    sum += x[i];
  }
  const float inv = 1.0f / sum;
  for (int i = 0; i < n; ++i) x[i] *= inv;
}

}  // namespace mb::infer
