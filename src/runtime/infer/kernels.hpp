// Single-threaded float kernels of the encoder. The matrix product is the only hot spot:
// weights are packed once at load time into panels of 16 output columns ([K][16] each,
// contiguous), and a 6x16 register-tiled micro-kernel streams them. An AVX2+FMA version is
// chosen at run time (__builtin_cpu_supports); the portable version is plain C++ that the
// compiler vectorises for the baseline ISA.
#pragma once

#include <cstddef>
#include <vector>

namespace mb::infer {

// y = x W^T + b for a PyTorch nn.Linear weight W of shape [n, k].
struct PackedLinear {
  int n = 0;
  int k = 0;
  std::vector<float> panels;  // ceil(n/16) panels of k x 16 floats, zero padded
  std::vector<float> bias;    // n floats (zeros when the layer has no bias)
};

inline constexpr int k_panel = 16;

PackedLinear pack_linear(const float* w, int n, int k, const float* bias);
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
