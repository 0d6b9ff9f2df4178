// Row-parallel loops for the decoder's matrix-vector products. One thread by default: a
// health check must not starve the service it guards; benches and tests may raise it.
// Matrix implementations (safetensors, GGUF) split their rows with parallel_rows.
#pragma once

#include <cstdint>
#include <functional>

namespace mb::infer {

void set_infer_threads(int n);  // clamped to 1..64
int infer_threads();

// Calls fn(begin, end) over [0, rows) in contiguous chunks, on up to infer_threads() threads
// when rows x cost_per_row is large enough to pay for starting them; inline otherwise.
void parallel_rows(int64_t rows, int64_t cost_per_row,
                   const std::function<void(int64_t, int64_t)>& fn);

}  // namespace mb::infer
