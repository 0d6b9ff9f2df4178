// Single-threaded float kernels of the encoder. The matrix product is the only hot spot:
// weights are packed once at load time into panels of 16 output columns ([K][16] each,
// contiguous), and a 6x16 register-tiled micro-kernel streams them. An AVX2+FMA version is
// chosen at run time (__builtin_cpu_supports); the portable version is plain C++ that the
// compiler vectorises for the baseline ISA.
#pragma once

#include <cstddef>
#include <vector>

namespace mb::infer {

inline constexpr int k_panel = 16;

// One zero-filled anonymous mapping for all packed weights of a model, backed by transparent
// huge pages where the kernel allows: first-touch page faults of ~100 MB in 4 KiB pages cost
// more than the whole forward pass (notably in VMs). Bump allocation, freed as a whole.
class Arena {
 public:
  Arena() = default;
  explicit Arena(size_t floats);
  ~Arena();
  Arena(Arena&& o) noexcept;
  Arena& operator=(Arena&& o) noexcept;
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;
  // nullptr when the arena is exhausted or was never reserved (callers fall back to the heap).
  float* take(size_t floats);

 private:
  float* m_base = nullptr;
  size_t m_bytes = 0;
  size_t m_used = 0;  // floats
};

// Floats one packed [n, k] matrix occupies (panels rounded up to 16 columns).
inline size_t packed_floats(int n, int k) {
  return static_cast<size_t>((n + k_panel - 1) / k_panel) * static_cast<size_t>(k) * k_panel;
}

// y = x W^T + b for a PyTorch nn.Linear weight W of shape [n, k].
struct PackedLinear {
  PackedLinear() = default;
  PackedLinear(PackedLinear&&) noexcept = default;
  PackedLinear& operator=(PackedLinear&&) noexcept = default;
  PackedLinear(const PackedLinear&) = delete;  // `panels` may point into `own`
  PackedLinear& operator=(const PackedLinear&) = delete;
  int n = 0;
  int k = 0;
  const float* panels = nullptr;  // ceil(n/16) panels of k x 16 floats, zero padded
  std::vector<float> own;         // backing store when no arena was given
  std::vector<float> bias;        // n floats (zeros when the layer has no bias)
};

PackedLinear pack_linear(const float* w, int n, int k, const float* bias);
// Packs without a full F32 copy of W: `row(c, out)` writes the k floats of weight row c.
template <class RowFn>
PackedLinear pack_linear_rows(int n, int k, RowFn row, Arena* arena = nullptr);
template <class RowFn>
PackedLinear pack_linear_rows(int n, int k, RowFn row, Arena* arena) {
  PackedLinear p;
  p.n = n;
  p.k = k;
  float* store = arena != nullptr ? arena->take(packed_floats(n, k)) : nullptr;
  if (store == nullptr) {
    p.own.assign(packed_floats(n, k), 0.0f);
    store = p.own.data();
  }
  p.panels = store;
  std::vector<float> buf(static_cast<size_t>(k));
  for (int c = 0; c < n; ++c) {
    row(c, buf.data());
    float* dst = store + static_cast<size_t>(c / k_panel) * k * k_panel + c % k_panel;
    for (int i = 0; i < k; ++i) dst[static_cast<size_t>(i) * k_panel] = buf[static_cast<size_t>(i)];
  }
  p.bias.assign(static_cast<size_t>(n), 0.0f);
  return p;
}

// x: [rows, k] row-major, y: [rows, n] row-major.
void linear(const float* x, int rows, const PackedLinear& l, float* y);

// In place, per row of `dim` values.
void layer_norm(float* x, int rows, int dim, const float* gamma, const float* beta, float eps);
void gelu_erf(float* x, size_t n);   // x * 0.5 * (1 + erf(x / sqrt(2))), as torch "gelu"
void gelu_tanh(float* x, size_t n);  // the tanh approximation ("gelu_new")
void relu(float* x, size_t n);
void softmax(float* x, int n);

// exp and erf accurate to a few ulp / 1.5e-7 absolute, written so loops vectorise.
float exp_approx(float x);
float erf_approx(float x);

// Which matmul kernel runs on this CPU ("avx2+fma" or "portable"), for reports and benches.
const char* kernel_name();

}  // namespace mb::infer
